"""The ASGI application: the native API, the vendor dialects and the shared machinery of
the web layer, assembled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from . import __version__
from .api import (
    entities,
    erasure,
    events,
    holds,
    ingest,
    integrity,
    organization,
    retention,
    stream,
    tokens,
    webhooks,
)
from .config import Settings
from .dialects import Dialect, load_dialects
from .store import Store, open_store
from .ui import install_ui
from .web import exposition, health
from .web.commits import CommitHub
from .web.docs import install_docs
from .web.exposition import Scrape, metrics_placement, process_stopped, store_probes
from .web.limits import BodyLimits, RequestLimitsMiddleware
from .web.methods import HttpMethodsMiddleware
from .web.openapi import BEARER, BEARER_SCHEMES, install_openapi
from .web.problems import install_problem_handlers
from .web.security import SecureApp, install_cors
from .web.services import Services
from .worker import CheckpointWorker, RetentionWorker, build_worker

log = logging.getLogger("worktrail")


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
        # wakes live feeds on every process's commits (web/commits.py)
        poll = float(max(1, settings.live_poll_seconds))
        _app.state.commit_hub = CommitHub(store.heads, asyncio.get_running_loop(), poll)
        checkpoints = CheckpointWorker(store, app.state.services.notary, settings)
        signing = asyncio.create_task(checkpoints.run()) if checkpoints.enabled else None
        if signing is not None:  # issues checkpoints as they fall due (worker/checkpoints.py)
            signing.add_done_callback(_report_stopped)
            _app.state.workers["checkpoint_worker"] = signing
        expiry = RetentionWorker(store, settings)  # each organization's retention policy
        expiring = asyncio.create_task(expiry.run()) if expiry.enabled else None
        if expiring is not None:
            expiring.add_done_callback(_report_stopped)
            _app.state.workers["retention_worker"] = expiring
        try:
            if not settings.webhook_worker:
                yield
                return
            worker = build_worker(store, settings)  # webhooks delivered by this process too
            running = asyncio.create_task(worker.run())
            running.add_done_callback(_report_stopped)
            _app.state.workers["webhook_worker"] = running
            try:
                yield
            finally:
                worker.stop()
                await asyncio.wait([running])  # one that failed was logged
        finally:
            checkpoints.stop()
            expiry.stop()
            stopping = [task for task in (signing, expiring) if task is not None]
            if stopping:
                await asyncio.wait(stopping)
            _app.state.commit_hub.fanout.close()
            await to_thread.run_sync(_app.state.commit_hub.stop)
            process_stopped()

    app = SecureApp(
        title="worktrail",
        version=__version__,
        description="Event history and audit trail for work-management data.",
        lifespan=lifespan,
        # served by install_docs from packaged assets, not from a CDN
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = Services.create(settings, store)
    app.state.workers = {}  # the background workers' tasks by name, for /readyz
    app.state.scrape = Scrape(store_probes(store))
    app.include_router(health.router)
    if metrics_placement(settings.metrics).on_main_port:
        app.include_router(exposition.router)
    install_problem_handlers(app)
    install_docs(app)
    app.include_router(stream.router)  # before /events/{id}
    app.include_router(events.router)
    app.include_router(ingest.router)
    app.include_router(erasure.router)
    app.include_router(entities.router)
    app.include_router(organization.router)
    app.include_router(retention.router)
    app.include_router(tokens.router)
    app.include_router(webhooks.router)
    app.include_router(holds.router)
    app.include_router(integrity.router)
    app.state.error_renderers = []
    dialects = load_dialects()
    for dialect in dialects:
        app.include_router(dialect.router)
        app.state.error_renderers.extend((p, dialect.render_error) for p in dialect.prefixes)
    _document(app, dialects)
    install_ui(app)  # the web UI (/, /login, /tasks/12, …): HTML pages, not in the schema

    # outermost last: size limits, then HEAD and OPTIONS (the request context is outside
    # them all: SecureApp)
    app.add_middleware(HttpMethodsMiddleware)
    app.add_middleware(RequestLimitsMiddleware, limits=BodyLimits.from_settings(settings))
    install_cors(app, settings)
    return app


def _report_stopped(task: asyncio.Task[None]) -> None:
    """Log why a background worker stopped, if it failed (/readyz reports it stopped)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("a background worker stopped", exc_info=task.exception())


def _document(app: FastAPI, dialects: list[Dialect]) -> None:
    """The OpenAPI document: each dialect's errors and security under its prefixes."""
    owners = [(prefix, dialect) for dialect in dialects for prefix in dialect.prefixes]

    def security_of(path: str) -> list[dict[str, list[str]]]:
        found = [(p, d) for p, d in owners if path.startswith(p)]
        return max(found, key=lambda pair: len(pair[0]))[1].security_of(path) if found else BEARER

    schemes = dict(BEARER_SCHEMES)
    for dialect in dialects:
        schemes.update(dialect.schemes)
    install_openapi(app, [(p, d.errors) for p, d in owners], schemes, security_of)


def create_app_from_environment() -> FastAPI:
    """The application as configured by WORKTRAIL_* variables (uvicorn worker processes)."""
    import gc

    from .config import load_settings

    app = create_app(load_settings())
    gc.collect()  # as `worktrail serve` does: startup's objects out of full collections
    gc.freeze()
    return app
