"""Asana dialect: Asana's events API (`GET /api/1.0/events` with sync tokens).

Clients written for Asana's event stream, the official SDKs included, follow worktrail's
history unchanged once their base URL is `http://HOST:PORT/api/1.0` and their access token
is a worktrail API token: routes.py reads their requests, sync.py mints and follows the
sync tokens, render.py shapes the events, fields.py applies `opt_fields`, errors.py the
error envelope.
"""

from __future__ import annotations

from ...web.openapi import ErrorShape
from .. import Dialect
from .errors import ERROR_SCHEMA, PREFIX, render_error
from .routes import router

DIALECT = Dialect(
    "asana", router, (PREFIX,), render_error, ErrorShape("application/json", ERROR_SCHEMA)
)
