"""Worksection dialect: the `get_events` action of Worksection's admin and OAuth APIs.

Clients written for Worksection (its documented HTTP API, its Postman collection, its
official SDKs) read worktrail's history unchanged once their account URL points here:
params.py reads their parameters, auth.py their signatures and tokens, routes.py answers
the action through the query core, render.py shapes the events, errors.py the errors.
"""

from __future__ import annotations

from .. import Dialect
from .errors import OAUTH_PATH, render_error
from .routes import router

DIALECT = Dialect("worksection", router, ("/api/admin/", OAUTH_PATH), render_error)
