"""Huddle's error document and the renderer for everything under /tasks/.

Huddle answers errors with `{"statusCode": 403, "errorMessages": ["..."], "errorCode":
"WorkspaceMembershipRequired"}` as `application/vnd.huddle.error+json`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from ...errors import WorktrailError
from .. import kit

PREFIX = "/tasks/"
ERROR_TYPE = "application/vnd.huddle.error+json"
TOO_MANY = (
    "We've received too many requests from this user with this client in the current time "
    "window. Try again later."
)


class HuddleError(kit.VendorError):
    """An error in Huddle's terms: HTTP status, error code, message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, message, headers)
        self.code = code


def validation(message: str) -> HuddleError:
    return HuddleError(400, "Validation", message)


def not_found(message: str = "The requested workspace could not be found") -> HuddleError:
    return HuddleError(404, "ObjectNotFound", message)


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


def translate(exc: WorktrailError) -> HuddleError:
    """Any worktrail error raised under the dialect's prefix, as a Huddle error."""
    if isinstance(exc, HuddleError):
        return exc
    if exc.status == 401:
        return HuddleError(
            401,
            "Unauthorized",
            "The access token is missing, malformed or no longer valid",
            {"WWW-Authenticate": 'Bearer realm="worktrail", error="invalid_token"'},
        )
    if exc.status >= 500:
        return HuddleError(exc.status, "InternalServerError", "An unexpected error occurred")
    return HuddleError(exc.status, _BY_STATUS.get(exc.status, "BadRequest"), exc.detail)


def render_error(request: Request, exc: WorktrailError) -> Response:
    error = translate(exc)
    body: dict[str, Any] = {
        "statusCode": error.status,
        "errorMessages": [error.message],
        "errorCode": error.code,
    }
    return kit.json_response(body, error.status, media_type=ERROR_TYPE, headers=error.headers)
