"""Huddle's error document and the renderer for everything under /tasks/.

Huddle answers errors with `{"statusCode": 403, "errorMessages": ["..."], "errorCode":
"WorkspaceMembershipRequired"}` as `application/vnd.huddle.error+json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.responses import Response

from ...errors import StoreError, WorktrailError
from .. import kit

PREFIX = "/tasks/"
ERROR_TYPE = "application/vnd.huddle.error+json"
error_response = kit.JsonResponder(ERROR_TYPE)
ERROR_SCHEMA = {
    "type": "object",
    "required": ["statusCode", "errorMessages", "errorCode"],
    "properties": {
        "statusCode": {"type": "integer"},
        "errorMessages": {"type": "array", "items": {"type": "string"}},
        "errorCode": {"type": "string"},
    },
}
TOO_MANY = (
    "We've received too many requests from this user with this client in the current time "
    "window. Try again later."
)


@dataclass(eq=False)
class HuddleError(kit.VendorError):
    """An error in Huddle's terms: HTTP status, message, error code."""

    code: str = "BadRequest"


def validation(message: str) -> HuddleError:
    return HuddleError(400, message, "Validation")


def not_found(message: str = "The requested workspace could not be found") -> HuddleError:
    return HuddleError(404, message, "ObjectNotFound")


_BY_STATUS = {
    400: "Validation",
    401: "Unauthorized",
    403: "Forbidden",
    404: "ObjectNotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    422: "Validation",
    429: "TooManyRequests",
}
_UNAVAILABLE = {503: "ServiceUnavailable", 507: "InsufficientStorage"}
UNAUTHORIZED = "The access token is missing, malformed or no longer valid"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="worktrail", error="invalid_token"'}


def translate(exc: WorktrailError) -> HuddleError:
    """A worktrail error raised under the dialect's prefix, in Huddle's terms."""
    if exc.status == 401:
        return HuddleError(401, UNAUTHORIZED, "Unauthorized", headers=CHALLENGE)
    if isinstance(exc, StoreError):  # its message is written for clients: retry, or not
        return HuddleError(exc.status, exc.detail, _UNAVAILABLE.get(exc.status, "Unavailable"))
    if exc.status >= 500:
        return HuddleError(exc.status, "An unexpected error occurred", "InternalServerError")
    return HuddleError(exc.status, exc.detail, _BY_STATUS.get(exc.status, "BadRequest"))


def render_error(request: Request, exc: WorktrailError) -> Response:
    error = exc if isinstance(exc, HuddleError) else translate(exc)
    body: dict[str, Any] = {
        "statusCode": error.status,
        "errorMessages": [error.message],
        "errorCode": error.code,
    }
    return error_response(body, error.status, error.headers)
