"""The fan-out of a process's live feeds: one task writes each commit to every feed at the
head, instead of a thousand feeds each waking to read and send it.

A feed that has caught up with its organization's head joins (`Fanout.join`). When the
head moves (web/commits.py), the feeds that follow the same query with the same visibility
from the same position form a group: its page is read once, each message rendered once,
framed once, and written to every connection of the group without waiting for any
(web/sinks.py). A client that holds more than BACKLOG unsent bytes is let go: its feed
leaves the fan-out and catches up by itself from its own position at the client's pace,
then joins again (web/feed.py), so a slow client never holds up the others nor misses an
event. Feeds whose page read fails are let go the same way, to retry by themselves.

Once a second the fan-out also sends the heartbeats that are due, and every
`live_poll_seconds` asks for the heads again, in case a commit notice was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import time
import weakref
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from .. import metrics
from ..context import ReadSession, current_session
from ..errors import StoreError
from ..model import Event, EventQuery
from ..query import EventPage, Reader
from .sinks import Chunk, Sink

if TYPE_CHECKING:
    from .commits import CommitHub

log = logging.getLogger("worktrail.web")

HEARTBEAT_SECONDS = 15.0
TICK_SECONDS = 1.0
HEARTBEAT = Chunk(b": heartbeat\n\n")


class Group:
    """What the feeds that may share their bytes have in common (a rendering and the query
    as their reader may run it), hashed once: the fan-out looks every feed's group up on
    every commit, and hashing the query each time cost a tenth of a round at 1,000 feeds.
    Feeds of one request path get equal groups; `Group.of` hands them the same object, so
    most lookups end at an identity check."""

    __slots__ = ("__weakref__", "_hash", "query", "rendering")
    _interned: ClassVar[weakref.WeakValueDictionary[tuple[str, EventQuery], Group]] = (
        weakref.WeakValueDictionary()
    )

    def __init__(self, rendering: str, query: EventQuery) -> None:
        self.rendering = rendering
        self.query = query
        self._hash = hash((rendering, query))

    @classmethod
    def of(cls, rendering: str, query: EventQuery) -> Group:
        key = (rendering, query)
        group = cls._interned.get(key)
        if group is None:
            group = cls._interned[key] = cls(rendering, query)
        return group

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, Group)
            and self._hash == other._hash
            and (self.rendering, self.query) == (other.rendering, other.query)
        )


@dataclass(eq=False)
class Follower:
    """A live feed: what it reads, as whom, where it is, and its connection."""

    org_id: int
    query: EventQuery  # ascending, its position aside
    reader: Reader
    sink: Sink
    message: Callable[[Event], bytes]
    position: int
    # the feeds of the same `group` and position get the same bytes (None: not shared)
    group: Group | None = None
    session: ReadSession | None = field(default_factory=current_session.get)
    quiet_since: float = field(default_factory=time.monotonic)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    ticket: int = 0  # which time it joined (0: not in the fan-out)

    def page_key(self, position: int, seen: int) -> Hashable:
        """What the shared page reads of `position` are known by (web/commits.py)."""
        query = self.group.query if self.group else self.reader.authorized(self.query)
        return ("page", query, position, seen)


class Fanout:
    """The feeds of one process that are at their organization's head."""

    def __init__(self, hub: CommitHub, poll_seconds: float) -> None:
        self._hub = hub
        self._poll = poll_seconds
        self._joined: dict[int, dict[Follower, int]] = {}  # organization -> feed -> ticket
        self._tickets = itertools.count(1)
        self._ticking: asyncio.Task[None] | None = None

    def join(self, feed: Follower) -> bool:
        """Take `feed` into the fan-out if it is at the head (else False: it reads on);
        until `feed.released` is set."""
        if feed.group is None or feed.position < self._hub.head(feed.org_id):
            return False
        feed.released.clear()
        feed.ticket = next(self._tickets)
        self._joined.setdefault(feed.org_id, {})[feed] = feed.ticket
        if self._ticking is None:  # outside the request that starts it (its read session)
            self._ticking = asyncio.create_task(self._tick(), context=contextvars.Context())
        return True

    def leave(self, feed: Follower) -> None:
        """Take `feed` out (its client left, or it has to catch up), waking its own loop."""
        joined = self._joined.get(feed.org_id)
        if joined is not None and joined.pop(feed, None) is not None and not joined:
            del self._joined[feed.org_id]
        feed.ticket = 0
        feed.released.set()

    def close(self) -> None:
        if self._ticking is not None:
            self._ticking.cancel()

    async def send(self, org_id: int, head: int) -> None:
        """Bring every joined feed of `org_id` up to `head`: a read per group of feeds."""
        groups: dict[Hashable, list[tuple[Follower, int]]] = {}
        for feed, ticket in self._joined.get(org_id, {}).items():
            groups.setdefault((feed.group, feed.position), []).append((feed, ticket))
        if groups:
            await asyncio.gather(*(self._send_group(members, head) for members in groups.values()))

    async def _send_group(self, members: list[tuple[Follower, int]], head: int) -> None:
        first = members[0][0]
        position = first.position
        seen = max(head, first.reader.committed_head())
        try:
            while True:
                with _reading_as(first.session):
                    read = self._hub.shared_page(
                        first.reader,
                        replace(first.query, after_seq=position),
                        seen,
                        first.page_key(position, seen),
                    )
                page = await asyncio.shield(read)  # a feed that leaves does not cancel it
                if page.events:
                    chunk = Chunk(self._messages(first, page))
                    position = page.events[-1].seq
                    now = time.monotonic()
                    members = [m for m in members if self._offer(m, chunk, position, now)]
                if not page.has_more or not members:
                    break
        except Exception as exc:
            if not isinstance(exc, StoreError):  # a store error was logged by the store
                log.exception("a live feed's fan-out failed")
            for feed, ticket in members:  # each retries by itself
                if feed.ticket == ticket:
                    self.leave(feed)
            return
        for feed, ticket in members:
            if feed.ticket == ticket:
                # what the query does not select up to `head` is behind it, not owed
                feed.position = max(position, head)

    def _messages(self, first: Follower, page: EventPage[Event]) -> bytes:
        group = first.group
        return b"".join(
            self._hub.message((group, event.seq), partial(first.message, event))
            for event in page.events
        )

    def _offer(self, member: tuple[Follower, int], chunk: Chunk, position: int, now: float) -> bool:
        """Write `chunk` to a member still in the fan-out since the round began; let go of
        one its client is too far behind to take it."""
        feed, ticket = member
        if feed.ticket != ticket:
            return False  # it left meanwhile (and may have joined again since)
        if not feed.sink.offer(chunk):
            metrics.LIVE_FEED_BEHIND.inc()
            self.leave(feed)  # behind: it reads on from its position by itself
            return False
        feed.position = position
        feed.quiet_since = now
        return True

    async def _tick(self) -> None:
        """Heartbeats that are due, and a look at the heads every poll."""
        looked = time.monotonic()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            for joined in list(self._joined.values()):
                for feed, ticket in list(joined.items()):
                    if now - feed.quiet_since > HEARTBEAT_SECONDS:
                        self._offer((feed, ticket), HEARTBEAT, feed.position, now)
            if now - looked >= self._poll:
                looked = now
                for org_id in list(self._joined):
                    self._hub.notify_here(org_id)


@contextlib.contextmanager
def _reading_as(session: ReadSession | None) -> Iterator[None]:
    """Reads started here go where the feed's request would send them (read replicas),
    from a new choice of server: each page holds its own position."""
    token = current_session.set(session)
    try:
        if session is not None:
            session.served_by = None
        yield
    finally:
        current_session.reset(token)
