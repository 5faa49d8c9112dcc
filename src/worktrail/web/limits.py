"""Request size limits, enforced while a request streams in and before anything parses it.

- A body declared (Content-Length) over its route family's limit is refused before a byte
  of it is read; a body sent without a length (chunked) is counted as it is read and
  refused the moment it passes the limit. Either way the answer is a 413 in the API's own
  error shape, and the connection is closed rather than drained.
- Query strings longer than MAX_QUERY bytes get a 414; header sections larger than
  MAX_HEADERS bytes a 431.

Limits per route family: sidecar ingest (`POST /api/v1/changes`) takes the largest bodies
(`Settings.max_ingest_bytes`), the other native routes `Settings.max_body_bytes`, the vendor
dialects DIALECT_BODY (their requests carry parameters, not documents).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..errors import PayloadTooLarge, UriTooLong, WorktrailError
from .problems import render_error

MAX_QUERY = 8 * 1024
MAX_HEADERS = 16 * 1024
DIALECT_BODY = 64 * 1024
INGEST_PATH = "/api/v1/changes"
NATIVE_PREFIX = "/api/v1/"
# the vendor dialect mounted under /api/v1 (Kantata) counts as a dialect
DIALECT_PREFIXES = ("/api/v1/subscribed_events",)


class HeadersTooLarge(WorktrailError):
    status = 431
    title = "Request header fields too large"


@dataclass(frozen=True)
class BodyLimits:
    """The largest body, in bytes, of each route family."""

    ingest: int
    native: int
    dialect: int = DIALECT_BODY

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(ingest=settings.max_ingest_bytes, native=settings.max_body_bytes)

    def for_path(self, path: str) -> int:
        if path == INGEST_PATH:
            return self.ingest
        if path.startswith(NATIVE_PREFIX) and not path.startswith(DIALECT_PREFIXES):
            return self.native
        return self.dialect


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {limit:,} bytes, the limit of this route",
        headers={"Connection": "close"},
        limit=limit,
    )


class RequestLimitsMiddleware:
    """Refuses requests over the size limits (see the module's docstring)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        refused = _refusal(scope, limit)
        if refused is not None:
            await render_error(Request(scope), refused)(scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit), send)


def _refusal(scope: Scope, limit: int) -> WorktrailError | None:
    """Why the request is refused before its body is read, if it is."""
    if len(scope.get("query_string", b"")) > MAX_QUERY:
        return UriTooLong(f"the query string is longer than {MAX_QUERY:,} bytes", limit=MAX_QUERY)
    headers = scope.get("headers", ())
    if sum(len(name) + len(value) + 4 for name, value in headers) > MAX_HEADERS:
        return HeadersTooLarge(
            f"the request's headers are larger than {MAX_HEADERS:,} bytes", limit=MAX_HEADERS
        )
    for name, value in headers:
        if name == b"content-length":
            declared = value.strip()
            if declared.isdigit() and int(declared) > limit:
                return too_large(limit)
    return None


def _counting(receive: Receive, limit: int) -> Receive:
    """`receive`, raising PayloadTooLarge once the body read so far passes `limit`."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
        return message

    return counted
