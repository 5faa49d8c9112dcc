"""GET /api/v1/events/stream: the live feed as Server-Sent Events.

Starts at the head (only events committed from now on) unless a cursor is given, either as
`?cursor=` (from /api/v1/events?order=oldest with the same filters) or, on reconnect, as the
`Last-Event-ID` header the browser sends by itself. Each SSE message's id is a cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import orjson
from anyio import to_thread
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from ..query import decode_position, encode_position, run_query
from .deps import PrincipalDep, ServicesDep
from .events import build_query
from .render import event_json

router = APIRouter(prefix="/api/v1", tags=["events"])

POLL_SECONDS = 1.0  # fallback for commits made by other processes
HEARTBEAT_SECONDS = 15.0


class CommitSignal:
    """Wakes live feeds when this process commits events (other processes: by polling)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()

    def notify(self, _org_id: int) -> None:
        # called from writer threads
        self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self.event.set()
        self.event = asyncio.Event()


async def wait_for_commit(request: Request, timeout: float) -> None:
    state = request.app.state
    signal: CommitSignal | None = getattr(state, "commit_signal", None)
    if signal is None:
        signal = state.commit_signal = CommitSignal(asyncio.get_running_loop())
        state.services.store.add_commit_listener(signal.notify)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(signal.event.wait(), timeout)


@router.get(
    "/events/stream",
    summary="Live feed (Server-Sent Events)",
    description="Same filters as /api/v1/events. Resumes from `cursor` or `Last-Event-ID`.",
)
def stream_events(
    request: Request, services: ServicesDep, principal: PrincipalDep
) -> StreamingResponse:
    params = request.query_params
    query = build_query(request, services, principal)
    query = replace(query, ascending=True, limit=min(query.limit, 500), after_seq=None)
    resume = request.headers.get("last-event-id") or params.get("cursor")
    if resume:
        position = decode_position(services.cursors, query, resume)
    else:
        position = services.store.head_seq(principal.org_id)

    async def messages() -> AsyncIterator[bytes]:
        nonlocal position
        yield b": connected\n\n"
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            page = await to_thread.run_sync(
                run_query, services.store, replace(query, after_seq=position)
            )
            for event in page.events:
                position = event.seq
                cursor = encode_position(services.cursors, query, position)
                body = orjson.dumps(event_json(event))
                yield b"id: " + cursor.encode() + b"\nevent: event\ndata: " + body + b"\n\n"
            if page.events:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                quiet_since = time.monotonic()
                yield b": heartbeat\n\n"
            if not page.has_more:
                await wait_for_commit(request, POLL_SECONDS)

    return StreamingResponse(
        messages(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
