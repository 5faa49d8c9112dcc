"""HEAD and OPTIONS on every route, as HTTP has them.

- HEAD is answered as GET would be, headers and all, without the body.
- OPTIONS answers 204 with `Allow` listing the methods of the path (CORS preflight
  requests are the CORS middleware's when it is configured; this one sits inside it).
- A path that exists with another method answers 405 with `Allow`, in the API's own
  error shape (Starlette raises it; web/problems.py renders it with the header).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import NotFound
from .problems import render_error
from .routes import allowed_methods


class HttpMethodsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method") if scope["type"] == "http" else None
        if method == "OPTIONS":
            await _options(scope, receive, send)
        elif method == "HEAD":
            as_get = {**scope, "method": "GET"}
            try:
                await self.app(as_get, receive, _without_body(send))
            except* _Answered:
                pass  # a streamed body stops at its first piece: HEAD wants none of it
            finally:
                if "route" in as_get:  # for the access log and the metrics (middleware.py)
                    scope["route"] = as_get["route"]
        else:
            await self.app(scope, receive, send)


async def _options(scope: Scope, receive: Receive, send: Send) -> None:
    methods = allowed_methods(scope)
    if not methods:
        response = render_error(Request(scope), NotFound("Not Found"))
    else:
        response = Response(status_code=204, headers={"Allow": ", ".join(sorted(methods))})
    await response(scope, receive, send)


class _Answered(Exception):
    """The HEAD response is complete; whatever the GET would still send is not wanted."""


def _without_body(send: Send) -> Send:
    answered = False

    async def send_headers_only(message: Message) -> None:
        nonlocal answered
        if message["type"] != "http.response.body":
            await send(message)
            return
        if answered:
            raise _Answered
        answered = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if message.get("more_body", False):
            raise _Answered

    return send_headers_only
