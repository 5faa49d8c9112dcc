"""Worksection's error envelope and the renderer for everything under its paths.

Worksection answers client errors with HTTP 200 and
`{"status":"error","status_code":N,"message":...,"message_details":...}`; the OAuth endpoint
answers a bad token with HTTP 401, and a rate-limited request gets HTTP 429. Anything else
raised under the dialect's paths (unknown route, validation, internal error) gets the same
envelope, keeping its HTTP status when it is not the client's input that was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response

from ...errors import WorktrailError
from .. import kit

OAUTH_PATH = "/api/oauth2"
json_response = kit.JsonResponder("application/json; charset=utf-8")
ERROR_SCHEMA = {
    "type": "object",
    "required": ["status", "status_code", "message"],
    "properties": {
        "status": {"const": "error"},
        "status_code": {"type": "integer"},
        "message": {"type": "string"},
        "message_details": {"type": "string"},
        "errorDescription": {"type": "string"},
    },
}

# Worksection's status codes (official material) and worktrail's choice for unknown actions.
INVALID_ACTION = 1
INVALID_HASH = 2
INVALID_PROJECT = 4
FIELD_REQUIRED = 10
URL_UNANSWERED = 11
TOO_MANY = 429


@dataclass(eq=False)
class WorksectionError(kit.VendorError):
    """An error in Worksection's own terms: the HTTP status (200 for a client's mistake),
    the message, Worksection's status code and the details."""

    code: int = INVALID_ACTION
    details: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.detail = self.message if self.details is None else f"{self.message}: {self.details}"


def client_error(code: int, message: str, details: str | None = None) -> WorksectionError:
    """A mistake in the request, answered with HTTP 200 as Worksection does."""
    return WorksectionError(200, message, code, details)


def invalid_action(details: str | None = None) -> WorksectionError:
    return client_error(INVALID_ACTION, "Action is invalid", details)


def invalid_hash(details: str) -> WorksectionError:
    return client_error(INVALID_HASH, "Action hash is missed or invalid", details)


def invalid_project() -> WorksectionError:
    return client_error(INVALID_PROJECT, "Project is invalid")


def field_required(field: str) -> WorksectionError:
    return client_error(FIELD_REQUIRED, "Field is required", field)


def webhook_not_found() -> WorksectionError:
    return client_error(FIELD_REQUIRED, "WebHook not found")


def url_unanswered(url: str) -> WorksectionError:
    """add_webhook's URL did not answer as Worksection requires (or may not be used)."""
    return client_error(
        URL_UNANSWERED, "Url should respond 200 HTTP_CODE and JSON {status:OK}", url
    )


def too_many_requests(retry_after: float) -> WorksectionError:
    wait = {"Retry-After": str(int(retry_after))}
    return WorksectionError(429, "Too many requests", TOO_MANY, headers=wait)


def unauthorized(detail: str) -> WorksectionError:
    """The OAuth endpoint's 401; `errorDescription` is what Worksection's SDKs read first."""
    challenge = {"WWW-Authenticate": 'Bearer realm="worksection"'}
    return WorksectionError(401, detail, 401, headers=challenge)


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
    return json_response(body, error.status, error.headers)


def translate(request: Request, exc: WorktrailError) -> WorksectionError:
    """A worktrail error raised under the dialect's paths, in Worksection's terms."""
    if exc.status == 401:
        if request.url.path.startswith(OAUTH_PATH):
            return unauthorized(exc.detail)
        return invalid_hash(exc.detail)
    if exc.status in (404, 405, 406, 413, 414, 431):
        # No such route or method, or a request too large to read: not a mistake in an
        # action's parameters, which Worksection answers with 200, but in the request itself.
        return WorksectionError(exc.status, "Action is invalid", INVALID_ACTION, exc.detail)
    if exc.status == 429:
        return WorksectionError(429, "Too many requests", TOO_MANY)
    if exc.status >= 500:
        return WorksectionError(exc.status, exc.title, exc.status, exc.detail)
    return invalid_action(exc.detail)


def render_error(request: Request, exc: WorktrailError) -> Response:
    error = exc if isinstance(exc, WorksectionError) else translate(request, exc)
    return envelope(error)
