"""Yandex Tracker dialect: the entity event history (`…/events/_relative`) and the issue
changelog at Tracker's own paths.

Clients written for Tracker's API, the official Python client `yandex_tracker_client`
included, read worktrail's history unchanged once their base URL points at worktrail, their
OAuth token is a worktrail API token and their organization id is the worktrail
organization's: access.py reads their auth and ids, relative.py places the window of events,
changelog.py builds the changelog, render.py and fields.py speak Tracker's shapes and words,
errors.py its error envelope, routes.py and lookups.py serve its paths.
"""

from __future__ import annotations

from ...web.openapi import ErrorShape
from .. import Dialect
from . import lookups, routes  # noqa: F401 (importing them registers their paths)
from .errors import ERROR_SCHEMA, PREFIXES, render_error
from .paths import router

# Tracker's own auth: `Authorization: OAuth <token>` and the organization in X-Org-ID
SCHEMES = {
    "trackerOAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "OAuth <worktrail API token> (or Bearer <token>)",
    },
    "trackerOrg": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Org-ID",
        "description": "the worktrail organization id (or X-Cloud-Org-ID)",
    },
}
DIALECT = Dialect(
    "tracker",
    router,
    PREFIXES,
    render_error,
    ErrorShape("application/json", ERROR_SCHEMA),
    security={prefix: [{"trackerOAuth": [], "trackerOrg": []}] for prefix in PREFIXES},
    schemes=SCHEMES,
)
