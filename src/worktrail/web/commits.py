"""Live feeds wake when their organization's history moves on, in this process or any other.

One `CommitHub` per server process hears every commit: this process's own at once
(Store.add_commit_listener) and every process's through the store's one watcher
(Store.watch_commits: LISTEN/NOTIFY on PostgreSQL, `PRAGMA data_version` on SQLite). On a
notice it reads, in one statement, the heads of the organizations its feeds follow, and
wakes only the feeds of those whose head moved; the feeds that then ask for the same page
(the same filters, visibility and position) share one read of it. A thousand feeds of one
organization cost two small queries per commit, not a thousand.

A notice is a hint: feeds still look by themselves every `live_poll_seconds`, so a lost
notice (a database restart) makes a feed slower, never wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from anyio import to_thread
from fastapi import Request

from ..errors import WorktrailError
from ..model import Event, EventQuery
from ..query import EventPage, Reader
from .fanout import Fanout
from .services import services_of

log = logging.getLogger("worktrail.web")

Listener = Callable[[int], None]
MESSAGES = 4096  # rendered messages kept for the feeds that send the same


class CommitHub:
    """Heads of the organizations live feeds follow, kept current by commit notices."""

    def __init__(
        self,
        heads: Callable[[list[int]], dict[int, int]],
        loop: asyncio.AbstractEventLoop,
        poll_seconds: float,
    ) -> None:
        self._read_heads = heads
        self._loop = loop
        self._started = threading.Lock()
        self._heads: dict[int, int] = {}  # organization -> last seq seen
        self._moved: dict[int, asyncio.Event] = {}  # set (and replaced) when a head moves
        self._stale: set[int] = set()
        self._refreshing: asyncio.Task[None] | None = None
        self._reads: dict[Hashable, asyncio.Future[EventPage[Event]]] = {}
        self._messages: OrderedDict[Hashable, bytes] = OrderedDict()
        self.stop: Callable[[], None] = lambda: None
        self.fanout = Fanout(self, poll_seconds)  # the feeds at the head (web/fanout.py)

    def start(self, subscribe: Callable[[Listener], Callable[[], None] | None]) -> None:
        """Listen through `subscribe` (each of the store's ways to hear commits), once;
        from any thread."""
        with self._started:
            if self.listening:
                return
            self.listening = True
            stop = subscribe(self.notify)
            self.stop = stop if stop is not None else self.stop

    listening = False

    def head(self, org_id: int) -> int:
        return self._heads.get(org_id, 0)

    def follow(self, org_id: int, head: int) -> None:
        """Keep `org_id`'s head from now on, starting from `head` (read by the caller); in
        the hub's event loop."""
        if head > self._heads.get(org_id, -1):
            self._heads[org_id] = head
        self._moved.setdefault(org_id, asyncio.Event())

    async def wait(self, org_id: int, position: int, timeout: float) -> None:
        """Until `org_id`'s head is past `position`, or `timeout` seconds."""
        if self._heads.get(org_id, 0) > position:
            return
        moved = self._moved.setdefault(org_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # no task per wait, unlike wait_for
                await moved.wait()

    async def page(
        self, reader: Reader, query: EventQuery, seen: int, key: Hashable
    ) -> EventPage[Event]:
        """`reader.page(query)`, read once for all the feeds that ask the same at once:
        `key` names the query as the reader may run it (its filters, visibility and
        position, and `seen`: the history the server that reads it must hold), e.g. every
        feed of an organization's whole history woken by one commit."""
        # a feed that leaves does not cancel the rest
        return await asyncio.shield(self.shared_page(reader, query, seen, key))

    def shared_page(
        self, reader: Reader, query: EventQuery, seen: int, key: Hashable
    ) -> asyncio.Future[EventPage[Event]]:
        """`page`'s read, begun now (in the caller's context: its reads go where the
        caller's request would send them) unless one of `key` is under way."""
        shared = self._reads.get(key)
        if shared is None:
            shared = asyncio.ensure_future(to_thread.run_sync(reader.page, query, seen))
            self._reads[key] = shared
            shared.add_done_callback(lambda _done: self._reads.pop(key, None))
        return shared

    def message(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        """The message `key` names, built once for every feed that sends it (the most
        recent MESSAGES kept)."""
        message = self._messages.get(key)
        if message is None:
            message = self._messages[key] = build()
            if len(self._messages) > MESSAGES:
                self._messages.popitem(last=False)
        return message

    def notify(self, org_id: int) -> None:
        """A commit of `org_id` (0: of some organization); called from any thread."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._mark, org_id)

    def notify_here(self, org_id: int) -> None:
        """`notify`, in the hub's event loop."""
        self._mark(org_id)

    def _mark(self, org_id: int) -> None:
        if org_id == 0:
            self._stale.update(self._heads)
        elif org_id in self._heads:
            self._stale.add(org_id)
        if self._stale and self._refreshing is None:
            self._refreshing = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        """Read the stale heads (notices that arrive meanwhile are read in the next round)
        and wake the feeds of those that moved."""
        try:
            while self._stale:
                orgs, self._stale = sorted(self._stale), set()
                try:
                    heads = await to_thread.run_sync(self._read_heads, orgs)
                except WorktrailError:
                    return  # the database is away: feeds poll, and say so themselves
                sending = []
                for org_id, head in heads.items():
                    if head > self._heads.get(org_id, 0):
                        self._heads[org_id] = head
                        moved = self._moved.pop(org_id, None)
                        self._moved[org_id] = asyncio.Event()
                        if moved is not None:
                            moved.set()
                        sending.append(self.fanout.send(org_id, head))
                await asyncio.gather(*sending)
        except Exception:
            log.exception("reading the heads of live feeds failed")
        finally:
            self._refreshing = None


def commit_hub(request: Request) -> CommitHub:
    """This process's hub (made with the app, web/app.py), listening from the first live
    feed on; from any thread."""
    hub: CommitHub = request.app.state.commit_hub
    if not hub.listening:
        store = services_of(request).store

        def subscribe(listener: Listener) -> Callable[[], None] | None:
            store.add_commit_listener(listener)  # this process: at once, with its org
            return store.watch_commits(listener)  # every process

        hub.start(subscribe)
    return hub
