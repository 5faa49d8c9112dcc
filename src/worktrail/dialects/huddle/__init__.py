"""Huddle dialect: the tasks audit trail (`GET /tasks/workspace/{id}/audits`).

Clients written for Huddle's task audit trail read worktrail's history unchanged once their
API base URL is `http://HOST:PORT` and their bearer token is a worktrail API token:
routes.py serves the endpoint, render.py shapes changes (JSON and CSV), errors.py the error
document.
"""

from __future__ import annotations

from ...web.openapi import ErrorShape
from .. import Dialect
from .errors import ERROR_SCHEMA, ERROR_TYPE, PREFIX, render_error
from .routes import router

DIALECT = Dialect("huddle", router, (PREFIX,), render_error, ErrorShape(ERROR_TYPE, ERROR_SCHEMA))
