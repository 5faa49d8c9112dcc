"""Kantata's error envelope and the renderer for everything under /api/v1/subscribed_events.

Kantata answers errors with `{"errors": [{"type": ..., "message": ...}]}`: type `oauth` for
authentication (401, always "Invalid OAuth 2 Request"), `validation` with the `field` it
concerns (422), and `system` for everything else (400, 403, 404, 429, 5xx).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.responses import Response

from ...errors import StoreError, WorktrailError
from .. import kit

PREFIX = "/api/v1/subscribed_events"
json_response = kit.JsonResponder("application/json; charset=utf-8")
INVALID_OAUTH = "Invalid OAuth 2 Request"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {
                    "type": {"enum": ["oauth", "validation", "system"]},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            },
        }
    },
}


@dataclass(eq=False)
class KantataError(kit.VendorError):
    """An error in Kantata's terms: HTTP status, message, error type, optional field."""

    kind: str = "system"
    field: str | None = None


def bad_request(message: str) -> KantataError:
    return KantataError(400, message)


def invalid(field: str, message: str) -> KantataError:
    return KantataError(422, message, "validation", field)


def forbidden() -> KantataError:
    return KantataError(403, "Only Account Administrators can access Subscribed Events.")


def too_many_requests(retry_after: float) -> KantataError:
    return KantataError(
        429,
        "Too many requests; retry after a short delay.",
        headers={"Retry-After": str(int(retry_after))},
    )


def translate(exc: WorktrailError) -> KantataError:
    """A worktrail error raised under the dialect's prefix, in Kantata's terms."""
    if exc.status == 401:
        challenge = {"WWW-Authenticate": 'Bearer realm="worktrail"'}
        return KantataError(401, INVALID_OAUTH, "oauth", headers=challenge)
    if exc.status == 404 and exc.detail == "Not Found":
        return KantataError(404, "Page not found")
    if exc.status == 422:
        field = exc.extra.get("field")
        return KantataError(422, exc.detail, "validation", str(field) if field else None)
    if exc.status >= 500 and not isinstance(exc, StoreError):
        return KantataError(exc.status, "An unexpected error occurred; it has been logged.")
    return KantataError(exc.status, exc.detail)


def render_error(request: Request, exc: WorktrailError) -> Response:
    error = exc if isinstance(exc, KantataError) else translate(exc)
    entry: dict[str, Any] = {"type": error.kind, "message": error.message}
    if error.field is not None:
        entry["field"] = error.field
    return json_response({"errors": [entry]}, error.status, error.headers)
