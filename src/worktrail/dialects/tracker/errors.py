"""Tracker's error envelope and the renderer for everything under /v2/ and /v3/.

Tracker answers errors with `{"errors": {...}, "errorMessages": [...], "statusCode": N}`:
`errors` maps a field or parameter to what is wrong with it, `errorMessages` holds the
messages that belong to no field. Its official client reads both and logs `statusCode`.
Anything raised under the dialect's prefixes (parameters, authentication, unknown routes,
internal errors) gets this envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from starlette.responses import Response

from ...errors import StoreError, WorktrailError
from .. import kit

PREFIXES = ("/v2/", "/v3/")
json_response = kit.JsonResponder("application/json; charset=utf-8")
ERROR_SCHEMA = {
    "type": "object",
    "required": ["errors", "errorMessages", "statusCode"],
    "properties": {
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
        "errorMessages": {"type": "array", "items": {"type": "string"}},
        "statusCode": {"type": "integer"},
    },
}


@dataclass(eq=False)
class TrackerError(kit.VendorError):
    """An error in Tracker's terms: status, message, per-parameter errors, extra headers."""

    errors: dict[str, str] = field(default_factory=dict)


def bad_parameter(name: str, message: str) -> TrackerError:
    return TrackerError(400, f"{name}: {message}", {name: message})


def not_found(message: str) -> TrackerError:
    return TrackerError(404, message)


def unauthorized(message: str) -> TrackerError:
    return TrackerError(401, message, headers={"WWW-Authenticate": 'OAuth realm="worktrail"'})


def forbidden(message: str) -> TrackerError:
    return TrackerError(403, message)


def too_many_requests(retry_after: float) -> TrackerError:
    wait = str(max(1, int(retry_after)))
    return TrackerError(429, "Too many requests", headers={"Retry-After": wait})


def translate(exc: WorktrailError) -> TrackerError:
    """A worktrail error raised under the dialect's prefixes, in Tracker's terms."""
    if exc.status == 401:
        return unauthorized(exc.detail)
    if exc.status == 404 and exc.detail == "Not Found":
        return not_found("Resource not found")
    if isinstance(exc, StoreError):  # its message is written for clients: retry, or not
        return TrackerError(exc.status, exc.detail)
    if exc.status >= 500:
        return TrackerError(exc.status, "Internal server error")
    return TrackerError(exc.status, exc.detail)


def render_error(request: Request, exc: WorktrailError) -> Response:
    error = exc if isinstance(exc, TrackerError) else translate(exc)
    body = {"errors": error.errors, "errorMessages": [error.message], "statusCode": error.status}
    return json_response(body, error.status, error.headers)
