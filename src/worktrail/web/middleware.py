"""Request context captured once per request and carried in contextvars (worktrail.context):
the write path reads it into each event's `context`."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..context import RequestInfo, current_request


class RequestContextMiddleware:
    """Captures request id, client address and user agent once per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        client = scope.get("client")
        info = RequestInfo(
            request_id=request_id[:100],
            source="api",
            client_ip=client[0] if client else None,
            user_agent=headers.get("user-agent", "")[:300] or None,
            correlation_id=(headers.get("x-correlation-id") or "")[:100] or None,
        )
        token = current_request.set(info)

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id[:100].encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request.reset(token)
