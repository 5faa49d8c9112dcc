"""Live feeds as Server-Sent Events: the events a query selects from a position on, as
they commit. The native stream (api/stream.py) and the UI's live timeline share this loop;
each renders an event its own way.

Every message's id is a cursor, so a reconnecting EventSource resumes (its Last-Event-ID)
where it left off. The feed wakes when its organization's head moves, on a commit of any
process (web/commits.py), and looks by itself every `live_poll_seconds` in case a notice
was lost. While the database is away it stays open and resumes by itself, where a
reconnecting browser would meet a 503, after which its EventSource gives up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import replace
from functools import partial

from fastapi import Request
from starlette.responses import StreamingResponse

from .. import metrics
from ..context import unpin_reads
from ..errors import RETRY_AFTER_SECONDS, StoreError
from ..model import Event, EventQuery
from ..query import CursorCodec, EventPage, Reader, encode_position
from .commits import CommitHub, commit_hub
from .services import services_of

HEARTBEAT_SECONDS = 15.0
DISCONNECT_CHECK_SECONDS = 1.0

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
    shared: str | None = None,
) -> StreamingResponse:
    """The feed of `query` (ascending) after `position`, each event rendered by `render`.
    `shared` names a rendering that depends on nothing but the event: the feeds of the
    same query and visibility then build each message once between them."""

    hub = commit_hub(request)
    poll = float(max(1, services_of(request).settings.live_poll_seconds))
    # the query as this reader may run it, but for its position: what feeds share
    authorized = replace(reader.authorized(query), after_seq=None)
    same = (shared, authorized) if shared else None

    def message(event: Event) -> bytes:
        cursor = encode_position(cursors, query, event.seq)
        return b"id: " + cursor.encode() + b"\nevent: event\n" + _data(render(event))

    async def messages() -> AsyncIterator[bytes]:
        nonlocal position
        hub.follow(reader.org_id, position)
        yield b": connected\n\n"
        quiet_since = time.monotonic()
        look_again = 0.0
        while True:
            # a client that left is noticed here at most once a second (and by a send)
            if time.monotonic() >= look_again:
                if await request.is_disconnected():
                    return
                look_again = time.monotonic() + DISCONNECT_CHECK_SECONDS
            # every event up to the head seen now is in the page's snapshot; with read
            # replicas the page is read where that head, and this process's newest commit
            # of the organization, are visible: not on a replica yet to replay them
            head = hub.head(reader.org_id)
            seen = max(head, reader.committed_head())
            unpin_reads()  # each page holds its own position
            page = await _next_page(
                hub, reader, replace(query, after_seq=position), seen, (authorized, position, seen)
            )
            events = page.events if page is not None else []
            for event in events:
                position = event.seq
                if same is None:
                    yield message(event)
                else:
                    yield hub.message((same, event.seq), partial(message, event))
            if events:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                quiet_since = time.monotonic()
                yield b": heartbeat\n\n"
            if page is None:
                await asyncio.sleep(RETRY_AFTER_SECONDS)
            elif not page.has_more:
                # what the query does not select up to `head` is behind it, not owed
                position = max(position, head)
                await hub.wait(reader.org_id, position, poll)

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


async def _next_page(
    hub: CommitHub, reader: Reader, query: EventQuery, seen: int, key: Hashable
) -> EventPage[Event] | None:
    """The feed's next page, or None while the database is away (the store has logged
    why)."""
    try:
        return await hub.page(reader, query, seen, key)
    except StoreError:
        return None
