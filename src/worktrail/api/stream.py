"""GET /api/v1/events/stream: the live feed as Server-Sent Events.

Starts at the head (only events committed from now on) unless a cursor is given, either as
`?cursor=` (from /api/v1/events?order=oldest with the same filters) or, on reconnect, as the
`Last-Event-ID` header the browser sends by itself. Each SSE message's id is a cursor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import orjson
from anyio import to_thread
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from .. import metrics
from ..errors import RETRY_AFTER_SECONDS, StoreError
from ..model import Event, EventQuery
from ..query import EventPage, Reader, decode_position, encode_position
from ..web.commits import wait_for_commit
from ..web.deps import ReaderDep, ServicesDep
from ..web.openapi import content, header, parameters
from ..web.render import event_json
from .events import authorized_query, parse_history_request
from .schemas import HISTORY_FILTERS, SCOPE

router = APIRouter(prefix="/api/v1", tags=["events"])

POLL_SECONDS = 1.0  # fallback for commits made by other processes
HEARTBEAT_SECONDS = 15.0


@router.get(
    "/events/stream",
    summary="Live feed (Server-Sent Events)",
    description="Same filters as /api/v1/events. Resumes from `cursor` or `Last-Event-ID`.",
    openapi_extra=parameters(
        SCOPE,
        *HISTORY_FILTERS,
        header("Last-Event-ID", {"type": "string"}, "resume after this message (its id)"),
    ),
    responses={
        200: {
            "description": "the events committed from now (or the cursor) on, as they commit",
            "content": content("text/event-stream", schema={"type": "string"}),
        }
    },
)
def stream_events(request: Request, services: ServicesDep, reader: ReaderDep) -> StreamingResponse:
    asked = parse_history_request(request, services, reader.org_id)
    query = authorized_query(services, reader, replace(asked, cursor=None))
    query = replace(query, ascending=True, limit=min(query.limit, 500))
    resume = request.headers.get("last-event-id") or asked.cursor
    position = decode_position(services.cursors, query, resume) if resume else reader.head()

    async def messages() -> AsyncIterator[bytes]:
        nonlocal position
        yield b": connected\n\n"
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            page = await _next_page(reader, replace(query, after_seq=position))
            events = page.events if page is not None else []
            for event in events:
                position = event.seq
                cursor = encode_position(services.cursors, query, position)
                body = orjson.dumps(event_json(event))
                yield b"id: " + cursor.encode() + b"\nevent: event\ndata: " + body + b"\n\n"
            if events:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                quiet_since = time.monotonic()
                yield b": heartbeat\n\n"
            if page is None:
                await asyncio.sleep(RETRY_AFTER_SECONDS)
            elif not page.has_more:
                await wait_for_commit(request, POLL_SECONDS)

    return StreamingResponse(
        _counted(messages()),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _counted(messages: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The feed's messages, its client counted as connected while they go out (metrics)."""
    metrics.LIVE_FEED_CLIENTS.inc()
    try:
        async for message in messages:
            yield message
    finally:
        metrics.LIVE_FEED_CLIENTS.dec()


async def _next_page(reader: Reader, query: EventQuery) -> EventPage[Event] | None:
    """The feed's next page, or None while the database is away (the store has logged
    why): the feed stays open and resumes by itself, where a reconnecting browser would
    meet a 503, after which its EventSource gives up."""
    try:
        return await to_thread.run_sync(reader.page, query)
    except StoreError:
        return None
