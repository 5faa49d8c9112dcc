"""Worksection's error envelope and the renderer for everything under its paths.

Worksection answers client errors with HTTP 200 and
`{"status":"error","status_code":N,"message":...,"message_details":...}`; the OAuth endpoint
answers a bad token with HTTP 401, and a rate-limited request gets HTTP 429. Anything else
raised under the dialect's paths (unknown route, validation, internal error) gets the same
envelope, keeping its HTTP status when it is not the client's input that was wrong.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from ...errors import WorktrailError
from .. import kit

OAUTH_PATH = "/api/oauth2"
JSON_TYPE = "application/json; charset=utf-8"

# Worksection's status codes (official material) and worktrail's choice for unknown actions.
INVALID_ACTION = 1
INVALID_HASH = 2
INVALID_PROJECT = 4
FIELD_REQUIRED = 10


class WorksectionError(kit.VendorError):
    """An error in Worksection's own terms: its status code, message and details."""

    def __init__(
        self,
        code: int,
        message: str,
        details: str | None = None,
        *,
        http_status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(http_status, message, headers)
        self.detail = message if details is None else f"{message}: {details}"
        self.code = code
        self.details = details


def invalid_action(details: str | None = None) -> WorksectionError:
    return WorksectionError(INVALID_ACTION, "Action is invalid", details)


def invalid_hash(details: str) -> WorksectionError:
    return WorksectionError(INVALID_HASH, "Action hash is missed or invalid", details)


def invalid_project() -> WorksectionError:
    return WorksectionError(INVALID_PROJECT, "Project is invalid")


def field_required(field: str) -> WorksectionError:
    return WorksectionError(FIELD_REQUIRED, "Field is required", field)


def too_many_requests(retry_after: float) -> WorksectionError:
    return WorksectionError(
        429, "Too many requests", http_status=429, headers={"Retry-After": str(int(retry_after))}
    )


def unauthorized(detail: str) -> WorksectionError:
    """The OAuth endpoint's 401; `errorDescription` is what Worksection's SDKs read first."""
    return WorksectionError(
        401, detail, http_status=401, headers={"WWW-Authenticate": 'Bearer realm="worksection"'}
    )


def envelope(error: WorksectionError) -> Response:
    body: dict[str, object] = {
        "status": "error",
        "status_code": error.code,
        "message": error.message,
    }
    if error.details is not None:
        body["message_details"] = error.details
    if error.status == 401:
        body["errorDescription"] = error.message
    return kit.json_response(body, error.status, media_type=JSON_TYPE, headers=error.headers)


def translate(request: Request, exc: WorktrailError) -> WorksectionError:
    """Any worktrail error raised under the dialect's paths, as a Worksection error."""
    if isinstance(exc, WorksectionError):
        return exc
    if exc.status == 401:
        if request.url.path.startswith(OAUTH_PATH):
            return unauthorized(exc.detail)
        return invalid_hash(exc.detail)
    if exc.status in (404, 405):
        # No such route or method: not the vendor's endpoint at all, so not a 200.
        error = invalid_action(exc.detail)
        error.status = exc.status
        return error
    if exc.status == 429:
        return WorksectionError(429, "Too many requests", http_status=429)
    if exc.status >= 500:
        return WorksectionError(exc.status, exc.title, exc.detail, http_status=exc.status)
    return invalid_action(exc.detail)


def render_error(request: Request, exc: WorktrailError) -> Response:
    return envelope(translate(request, exc))
