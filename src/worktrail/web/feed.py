"""Live feeds as Server-Sent Events: the events a query selects from a position on, as
they commit. The native stream (api/stream.py) and the UI's live timeline share this loop;
each renders an event its own way.

Every message's id is a cursor, so a reconnecting EventSource resumes (its Last-Event-ID)
where it left off. The feed wakes at once on this process's commits (web/commits.py) and
polls for other processes'. While the database is away it stays open and resumes by itself,
where a reconnecting browser would meet a 503, after which its EventSource gives up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from anyio import to_thread
from fastapi import Request
from starlette.responses import StreamingResponse

from .. import metrics
from ..context import unpin_reads
from ..errors import RETRY_AFTER_SECONDS, StoreError
from ..model import Event, EventQuery
from ..query import CursorCodec, EventPage, Reader, encode_position
from .commits import wait_for_commit

POLL_SECONDS = 1.0  # fallback for commits made by other processes
HEARTBEAT_SECONDS = 15.0

# An event as the data of one message (it may hold line breaks: each line becomes a
# `data:` line, and EventSource joins them again).
RenderEvent = Callable[[Event], bytes]


def event_feed(
    request: Request,
    reader: Reader,
    query: EventQuery,
    position: int,
    cursors: CursorCodec,
    render: RenderEvent,
) -> StreamingResponse:
    """The feed of `query` (ascending) after `position`, each event rendered by `render`."""

    async def messages() -> AsyncIterator[bytes]:
        nonlocal position
        yield b": connected\n\n"
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            # read where this process's newest commit, which may have woken the feed,
            # is visible: not on a replica that has yet to replay it
            seen = reader.committed_head()
            unpin_reads()  # each page holds its own position
            page = await _next_page(reader, replace(query, after_seq=position), seen)
            events = page.events if page is not None else []
            for event in events:
                position = event.seq
                cursor = encode_position(cursors, query, position)
                yield b"id: " + cursor.encode() + b"\nevent: event\n" + _data(render(event))
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


def _data(body: bytes) -> bytes:
    return b"".join(b"data: " + line + b"\n" for line in body.split(b"\n")) + b"\n"


async def _next_page(reader: Reader, query: EventQuery, seen: int) -> EventPage[Event] | None:
    """The feed's next page, or None while the database is away (the store has logged
    why)."""
    try:
        return await to_thread.run_sync(reader.page, query, seen)
    except StoreError:
        return None
