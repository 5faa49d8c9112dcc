"""Kantata's error envelope and the renderer for everything under /api/v1/subscribed_events.

Kantata answers errors with `{"errors": [{"type": ..., "message": ...}]}`: type `oauth` for
authentication (401, always "Invalid OAuth 2 Request"), `validation` with the `field` it
concerns (422), and `system` for everything else (400, 403, 404, 429, 5xx).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from ...errors import WorktrailError
from .. import kit

PREFIX = "/api/v1/subscribed_events"
JSON_TYPE = "application/json; charset=utf-8"
INVALID_OAUTH = "Invalid OAuth 2 Request"


class KantataError(kit.VendorError):
    """An error in Kantata's terms: HTTP status, error type, message, optional field."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers)
        self.kind = kind
        self.field = field


def bad_request(message: str) -> KantataError:
    return KantataError(400, "system", message)


def invalid(field: str, message: str) -> KantataError:
    return KantataError(422, "validation", message, field)


def forbidden() -> KantataError:
    return KantataError(403, "system", "Only Account Administrators can access Subscribed Events.")


def too_many_requests(retry_after: float) -> KantataError:
    return KantataError(
        429,
        "system",
        "Too many requests; retry after a short delay.",
        headers={"Retry-After": str(int(retry_after))},
    )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return kit.json_response(body, status, media_type=JSON_TYPE, headers=headers)


def translate(exc: WorktrailError) -> KantataError:
    """Any worktrail error raised under the dialect's prefix, as a Kantata error."""
    if isinstance(exc, KantataError):
        return exc
    if exc.status == 401:
        return KantataError(
            401, "oauth", INVALID_OAUTH, headers={"WWW-Authenticate": 'Bearer realm="worktrail"'}
        )
    if exc.status == 404 and exc.detail == "Not Found":
        return KantataError(404, "system", "Page not found")
    if exc.status == 422:
        field = exc.extra.get("field")
        return KantataError(422, "validation", exc.detail, str(field) if field else None)
    if exc.status >= 500 and exc.status != 503:
        return KantataError(
            exc.status, "system", "An unexpected error occurred; it has been logged."
        )
    return KantataError(exc.status, "system", exc.detail)


def render_error(request: Request, exc: WorktrailError) -> Response:
    error = translate(exc)
    entry: dict[str, Any] = {"type": error.kind, "message": error.message}
    if error.field is not None:
        entry["field"] = error.field
    return json_response({"errors": [entry]}, error.status, error.headers)
