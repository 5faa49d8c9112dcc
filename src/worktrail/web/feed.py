"""Live feeds as Server-Sent Events: the events a query selects from a position on, as
they commit. The native stream (api/stream.py) and the UI's live timeline share this loop;
each renders an event its own way.

Every message's id is a cursor, so a reconnecting EventSource resumes (its Last-Event-ID)
where it left off. A feed first catches up from its position by itself, then, if its
messages are shared (the native stream's), joins its process's fan-out (web/fanout.py),
which writes every commit to all the feeds at the head at once; a feed of its own
rendering (the UI's) wakes when its organization's head moves, on a commit of any process
(web/commits.py). Either way it looks again every `live_poll_seconds` in case a notice was
lost. While the database is away it stays open and resumes by itself, where a reconnecting
browser would meet a 503, after which its EventSource gives up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import anyio
from fastapi import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .. import metrics
from ..context import unpin_reads
from ..errors import RETRY_AFTER_SECONDS, StoreError
from ..model import Event, EventQuery
from ..query import CursorCodec, EventPage, Reader, encode_position
from .commits import CommitHub, commit_hub
from .fanout import HEARTBEAT, HEARTBEAT_SECONDS, Follower, Group
from .services import services_of
from .sinks import Chunk, Sink, open_sink, until_disconnected

CONNECTED = b": connected\n\n"

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
) -> Response:
    """The feed of `query` (ascending) after `position`, each event rendered by `render`.
    `shared` names a rendering that depends on nothing but the event: the feeds of the
    same query and visibility then build each message once between them, and get it
    from the fan-out once they are at the head."""

    hub = commit_hub(request)
    poll = float(max(1, services_of(request).settings.live_poll_seconds))
    query = replace(query, after_seq=None)
    # the query as this reader may run it, but for its position: what feeds share
    group = Group.of(shared, reader.authorized(query)) if shared else None

    def message(event: Event) -> bytes:
        cursor = encode_position(cursors, query, event.seq)
        return b"id: " + cursor.encode() + b"\nevent: event\n" + _data(render(event))

    async def run(sink: Sink) -> None:
        feed = Follower(reader.org_id, query, reader, sink, message, position, group)
        await _follow(feed, hub, poll)

    return FeedResponse(run)


class FeedResponse(Response):
    """A live feed's response: its start and first piece through the ASGI stack (and its
    middlewares), the rest through the connection's sink (web/sinks.py), until the client
    leaves."""

    media_type = "text/event-stream"

    def __init__(self, run: Callable[[Sink], Awaitable[None]]) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        # a HEAD request ends here (web/methods.py)
        await send({"type": "http.response.body", "body": CONNECTED, "more_body": True})
        sink = open_sink(scope, send)
        metrics.LIVE_FEED_CLIENTS.inc()
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_stop_when_disconnected, receive, tasks.cancel_scope)
                tasks.start_soon(sink.pump)
                await self._run(sink)
        except BaseExceptionGroup as failed:  # the feed's own error, not its group's
            if len(failed.exceptions) == 1:
                raise failed.exceptions[0] from None
            raise
        finally:
            metrics.LIVE_FEED_CLIENTS.dec()


async def _stop_when_disconnected(receive: Receive, scope: anyio.CancelScope) -> None:
    await until_disconnected(receive)
    scope.cancel()


async def _follow(feed: Follower, hub: CommitHub, poll: float) -> None:
    """Send `feed` its events from its position on, until cancelled (the client left):
    by itself while it catches up, then from the fan-out while it keeps up."""
    hub.follow(feed.org_id, feed.position)
    try:
        while True:
            await feed.sink.drain()  # a slow client is sent no more than it takes
            # every event up to the head seen now is in the page's snapshot; with read
            # replicas the page is read where that head, and this process's newest commit
            # of the organization, are visible: not on a replica yet to replay them
            head = hub.head(feed.org_id)
            seen = max(head, feed.reader.committed_head())
            unpin_reads()  # each page holds its own position
            page = await _next_page(hub, feed, seen)
            events = page.events if page is not None else []
            if events:
                feed.position = events[-1].seq
                feed.sink.offer(Chunk(b"".join(_message(hub, feed, e) for e in events)))
                feed.quiet_since = time.monotonic()
            elif time.monotonic() - feed.quiet_since > HEARTBEAT_SECONDS:
                feed.quiet_since = time.monotonic()
                feed.sink.offer(HEARTBEAT)
            if page is None:
                await asyncio.sleep(RETRY_AFTER_SECONDS)
            elif not page.has_more:
                # what the query does not select up to `head` is behind it, not owed
                feed.position = max(feed.position, head)
                if hub.fanout.join(feed):
                    await feed.released.wait()  # behind again, or its read failed
                else:
                    await hub.wait(feed.org_id, feed.position, poll)
    finally:
        hub.fanout.leave(feed)


def _message(hub: CommitHub, feed: Follower, event: Event) -> bytes:
    if feed.group is None:
        return feed.message(event)
    return hub.message((feed.group, event.seq), lambda: feed.message(event))


def _data(body: bytes) -> bytes:
    return b"".join(b"data: " + line + b"\n" for line in body.split(b"\n")) + b"\n"


async def _next_page(hub: CommitHub, feed: Follower, seen: int) -> EventPage[Event] | None:
    """The feed's next page, or None while the database is away (the store has logged
    why)."""
    query = replace(feed.query, after_seq=feed.position)
    try:
        return await hub.page(feed.reader, query, seen, feed.page_key(feed.position, seen))
    except StoreError:
        return None
