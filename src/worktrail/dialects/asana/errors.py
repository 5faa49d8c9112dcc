"""Asana's error envelope and the renderer for everything under /api/1.0.

Asana answers errors with `{"errors": [{"message": ..., "help": ...}]}` (and a `phrase` on
500s, a few words to quote when reporting the failure). The sync protocol's 412 carries a
fresh token next to the errors. Anything raised under the dialect's prefix (validation,
unknown route, authentication, internal error) gets the same envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.responses import Response

from ...context import current_request
from ...errors import StoreError, WorktrailError
from .. import kit

PREFIX = "/api/1.0"
json_response = kit.JsonResponder("application/json; charset=UTF-8")
ERROR_SCHEMA = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "message": {"type": "string"},
                    "help": {"type": "string"},
                    "phrase": {"type": "string"},
                },
            },
        },
        "sync": {"type": "string", "description": "on 412: the token to sync from now on"},
    },
}

# Asana's own wording, byte for byte: clients and their logs recognise it.
SYNC_INVALID = (
    "Sync token invalid or too old. If you are attempting to keep resources in sync, you must "
    "fetch the full dataset for this query now and use the new sync token for the next sync."
)
RATE_LIMITED = (
    "You've made too many requests and hit a rate limit. "
    "Please retry after the given amount of time."
)
ERRORS_HELP = (
    "For more information on API status codes and how to handle them, "
    "read the docs on errors: https://developers.asana.com/docs/errors"
)


@dataclass(eq=False)
class AsanaError(kit.VendorError):
    """An error in Asana's terms: HTTP status, message, optional help and extra body keys."""

    help: str | None = ERRORS_HELP
    body: dict[str, Any] = field(default_factory=dict)


def bad_request(message: str, help_text: str | None = ERRORS_HELP) -> AsanaError:
    return AsanaError(400, message, help_text)


def unknown_object(name: str, gid: str) -> AsanaError:
    return AsanaError(404, f"{name}: Unknown object: {gid}")


def forbidden(gid: str) -> AsanaError:
    return AsanaError(
        403,
        f"resource: You do not have access to the requested resource: {gid}",
        "The token's user is not a member of the workspace this resource lies in.",
    )


def too_many_requests(retry_after: float) -> AsanaError:
    return AsanaError(429, RATE_LIMITED, None, headers={"Retry-After": str(int(retry_after))})


def sync_required(token: str, why: str | None = None) -> AsanaError:
    """The 412 of the sync protocol: no token, or one that cannot be continued, and a new one
    (`why`, as the error's help: a token whose events retention removed)."""
    return AsanaError(412, SYNC_INVALID, why, {"sync": token})


def translate(exc: WorktrailError) -> AsanaError:
    """A worktrail error raised under the dialect's prefix, in Asana's terms."""
    if exc.status == 401:
        return AsanaError(
            401,
            "Not Authorized",
            f"{exc.detail}. Asana clients send the worktrail API token as their access token.",
            headers={"WWW-Authenticate": 'Bearer realm="worktrail"'},
        )
    if exc.status == 404 and exc.detail == "Not Found":
        return AsanaError(404, "No matching route for request")
    if exc.status == 429:
        return AsanaError(429, RATE_LIMITED, None)
    if isinstance(exc, StoreError):  # its message is written for clients: retry, or not
        return AsanaError(exc.status, exc.detail)
    if exc.status >= 500:
        error = AsanaError(exc.status, "Server Error")
        if exc.status == 500:
            # Asana's `phrase` identifies the failure in its logs; worktrail's request id does.
            error.body["phrase"] = current_request.get().request_id or "unknown request"
        return error
    return AsanaError(exc.status, exc.detail)


def render_error(request: Request, exc: WorktrailError) -> Response:
    error = exc if isinstance(exc, AsanaError) else translate(exc)
    entry: dict[str, Any] = {"message": error.message}
    if error.help:
        entry["help"] = error.help
    phrase = error.body.get("phrase")
    if phrase:
        entry["phrase"] = phrase
    body: dict[str, Any] = {"errors": [entry]}
    body.update((k, v) for k, v in error.body.items() if k != "phrase")
    pretty = "opt_pretty" in request.query_params and request.query_params.get(
        "opt_pretty", ""
    ).lower() not in ("false", "0", "no")
    return json_response(body, error.status, error.headers, pretty=pretty)
