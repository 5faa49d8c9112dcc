"""Kantata OX dialect: Subscribed Events (`GET /api/v1/subscribed_events`).

Clients written for Kantata's Subscribed Events API read worktrail's history unchanged once
their base URL is `http://HOST:PORT/api/v1` and their bearer token is a worktrail API token
of an organization admin or owner: routes.py serves the endpoints, params.py reads Kantata's
parameters, mapping.py names worktrail's entities and actions in Kantata's terms, render.py
shapes events and side-loaded subjects, errors.py the error envelope.
"""

from __future__ import annotations

from ...web.openapi import ErrorShape
from .. import Dialect
from .errors import ERROR_SCHEMA, PREFIX, render_error
from .routes import router

DIALECT = Dialect(
    "kantata", router, (PREFIX,), render_error, ErrorShape("application/json", ERROR_SCHEMA)
)
