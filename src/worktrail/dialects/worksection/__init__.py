"""Worksection dialect: the `get_events` action of Worksection's admin and OAuth APIs,
and its webhooks (the admin actions in webhooks.py, deliveries in hooks_style.py).

Clients written for Worksection (its documented HTTP API, its Postman collection, its
official SDKs) read worktrail's history unchanged once their account URL points here:
params.py reads their parameters, auth.py their signatures and tokens, routes.py answers
the action through the query core, render.py shapes the events, errors.py the errors.
"""

from __future__ import annotations

from ...web.openapi import NO_AUTH, ErrorShape
from .. import Dialect
from .errors import ERROR_SCHEMA, OAUTH_PATH, render_error
from .hooks_style import WorksectionStyle
from .routes import router

DIALECT = Dialect(
    "worksection",
    router,
    ("/api/admin/", OAUTH_PATH),
    render_error,
    ErrorShape("application/json", ERROR_SCHEMA),
    # the admin API is signed with the organization's admin API key (`hash`), not a token
    security={"/api/admin/": NO_AUTH},
    webhooks=WorksectionStyle(),
)
