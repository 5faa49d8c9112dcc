"""The ASGI application factory."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..config import Settings
from ..context import RequestInfo, current_request
from ..dialects import load_dialects
from ..query import CursorCodec
from ..ratelimit import RateLimiter
from ..store import Store, open_store
from ..write import Writer
from . import entities, events, ingest, org_settings, stream
from .deps import Services
from .problems import install_problem_handlers

log = logging.getLogger("worktrail")


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


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """Build the application. The store is opened (and migrated by the caller) once."""
    store = store or open_store(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync endpoints run in this pool (anyio's default has 40 threads). Python runs one
        # thread at a time; threads beyond what the database overlaps only contend (see
        # SQLiteStore.server_threads).
        threads = settings.threads if settings.threads > 0 else store.server_threads
        to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    app = FastAPI(
        title="worktrail",
        version=__version__,
        description="Event history and audit trail for work-management data.",
        lifespan=lifespan,
    )
    app.state.services = Services(
        settings=settings,
        store=store,
        writer=Writer(store),
        cursors=CursorCodec(store.server_secret()),
        rate_limiter=RateLimiter(settings.rate_limit_per_minute),
    )
    install_problem_handlers(app)
    app.include_router(stream.router)  # before /events/{id}
    app.include_router(events.router)
    app.include_router(ingest.router)
    app.include_router(entities.router)
    app.include_router(org_settings.router)
    app.state.error_renderers = []
    for dialect in load_dialects():
        app.include_router(dialect.router)
        app.state.error_renderers.extend((p, dialect.render_error) for p in dialect.prefixes)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(RequestContextMiddleware)
    return app


def create_app_from_environment() -> FastAPI:
    """The application as configured by WORKTRAIL_* variables (uvicorn worker processes)."""
    import gc

    from ..config import load_settings

    app = create_app(load_settings())
    gc.collect()  # as `worktrail serve` does: startup's objects out of full collections
    gc.freeze()
    return app
