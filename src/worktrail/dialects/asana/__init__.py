"""Asana dialect: Asana's events API (`GET /api/1.0/events` with sync tokens) and its
webhooks (`/api/1.0/webhooks`).

Clients written for Asana's event stream and webhooks, the official SDKs included, work
with worktrail unchanged once their base URL is `http://HOST:PORT/api/1.0` and their
access token is a worktrail API token: routes.py reads their event requests, sync.py mints
and follows the sync tokens, render.py shapes the events, fields.py applies `opt_fields`,
errors.py the error envelope; webhooks.py serves the webhook routes, handshake.py makes
the handshake, hook_filters.py applies Asana's filters and hook_style.py delivers.
"""

from __future__ import annotations

from fastapi import APIRouter

from ...web.openapi import ErrorShape
from .. import Dialect
from .errors import ERROR_SCHEMA, PREFIX, render_error
from .hook_style import AsanaStyle
from .routes import router as events_router
from .webhooks import router as webhooks_router

router = APIRouter()
router.include_router(events_router)
router.include_router(webhooks_router)

DIALECT = Dialect(
    "asana",
    router,
    (PREFIX,),
    render_error,
    ErrorShape("application/json", ERROR_SCHEMA),
    webhooks=AsanaStyle(),
)
