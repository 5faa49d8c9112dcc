"""Headers every response carries, and cross-origin access (CORS), off unless configured.

Every response (errors, the dialects' and unexpected 500s included: `SecureApp` adds them
outside everything else) gets:

- `X-Content-Type-Options: nosniff`: browsers take the declared media type, so JSON or
  CSV that holds user text is never run as a script or a page.
- `Referrer-Policy: no-referrer`: links followed from anything served here do not carry
  its URL, whose query may name projects or carry cursors.
- `X-Frame-Options: DENY`: no page of the service may be framed (clickjacking).
- `Cache-Control: no-store`, unless the route chose its own (the event stream's
  `no-cache`): what the service answers is private history, read with credentials, and
  no shared or browser cache should keep it.
- `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'` on everything but
  HTML: a JSON answer opened in a browser loads nothing. The HTML pages (the OpenAPI docs
  at /docs and /redoc, web/docs.py) load their scripts and styles from this server, one
  of them inline, and keep the browser's default. The web UI's pages (worktrail.ui) set
  `UI_CSP` themselves: scripts, styles, images and fonts from this server only, no inline
  script or style, forms posted only here.

A header a route set itself is left as it is.

CORS (`install_cors`) is Starlette's CORSMiddleware for the origins the `cors_origins`
setting names; without any, no cross-origin request is answered as such.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from .middleware import RequestContextMiddleware
from .sinks import ServerSendMiddleware

ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)
CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

# What browsers may send and read across origins when CORS is on.
CORS_METHODS = ("GET", "POST", "PATCH", "DELETE", "OPTIONS")
CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "Prefer",
    "Last-Event-ID",
    "X-Request-ID",
    "X-Correlation-ID",
    "X-Org-ID",
    "X-Cloud-Org-ID",
)
CORS_RESPONSE_HEADERS = ("X-Request-ID", "Retry-After", "Preference-Applied")
CORS_MAX_AGE = 600  # seconds a browser may reuse a preflight answer


class SecureApp(FastAPI):
    """The application, its every response carrying the security headers and its request
    id, every request logged and counted (middleware.py): outside Starlette's
    ServerErrorMiddleware, so the 500s it answers are no exception. Outermost, the
    server's own `send` is kept for the live feeds' connections (sinks.py)."""

    def build_middleware_stack(self) -> ASGIApp:
        inner = SecurityHeadersMiddleware(super().build_middleware_stack())
        return ServerSendMiddleware(RequestContextMiddleware(inner))


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` (raw ASGI pairs) with the security headers it lacks added."""
    present = {name.lower() for name, _ in headers}
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    wanted = ALWAYS if content_type.startswith(b"text/html") else (*ALWAYS, CSP)
    return headers + [(name, value) for name, value in wanted if name not in present]


def cors_origins(setting: str) -> list[str]:
    """The origins the `cors_origins` setting names (comma-separated; empty: none)."""
    return [o.strip().rstrip("/") for o in setting.split(",") if o.strip()]


def install_cors(app: FastAPI, settings: Settings) -> None:
    """Answer cross-origin requests of the origins `cors_origins` names, if any. Call it
    after every other middleware, so that preflight requests are answered first."""
    origins = cors_origins(settings.cors_origins)
    if not origins:
        return
    # Tokens travel in the Authorization header, which a page sends explicitly, so
    # credentials (cookies) stay disallowed.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=CORS_METHODS,
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_RESPONSE_HEADERS,
        allow_credentials=False,
        max_age=CORS_MAX_AGE,
    )
