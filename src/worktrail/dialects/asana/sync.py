"""Asana sync tokens and the paging that follows them.

A sync token is an opaque, signed position in one organization's history for one
subscribed resource: `(org, resource gid, position, issue time)`. A position is an event
seq — every matching event up to it has been delivered — plus, when a worktrail event
renders as several Asana events (Asana events carry one change each) and a page ended
inside it, how many of that event's Asana events were already delivered. Pages are read
in seq order, which is commit order, and never past the head read before the page: so a
client that follows the tokens sees every event exactly once, in order, even while
writers commit concurrently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ...model import Event, EventQuery
from ...query import CursorCodec, InvalidCursor, Reader

PURPOSE = "asana-sync"

AsanaEvent = dict[str, Any]
Renderer = Callable[[list[Event]], list[list[AsanaEvent]]]


@dataclass(frozen=True)
class SyncPosition:
    seq: int
    # 0: every matching event up to `seq` is delivered. n > 0: every matching event before
    # `seq` is, and so are the first n Asana events that event `seq` renders as.
    part: int = 0


@dataclass(frozen=True)
class SyncPage:
    events: list[AsanaEvent]
    position: SyncPosition
    has_more: bool


class SyncTokens:
    """Mints and reads sync tokens; `read` answers None for any token that cannot continue."""

    def __init__(self, secret: str, ttl_hours: int) -> None:
        self._codec = CursorCodec(secret, PURPOSE)
        self.ttl_seconds = ttl_hours * 3600

    def mint(
        self, org_id: int, resource: int, position: SyncPosition, issued_at: int | None = None
    ) -> str:
        return self._codec.encode(
            {
                "o": org_id,
                "r": resource,
                "p": position.seq,
                "k": position.part,
                "t": int(time.time()) if issued_at is None else issued_at,
            }
        )

    def issued_at(self, token: str) -> int | None:
        """When a token (one `read` accepted) was minted, in microseconds."""
        issued = self._codec.decode(token).get("t")
        return issued * 1_000_000 if isinstance(issued, int) else None

    def read(self, token: str, org_id: int, resource: int) -> SyncPosition | None:
        """The position a token carries, if it was minted here for this org and resource
        within the last ttl; None for a tampered, foreign, stale or malformed token."""
        try:
            payload = self._codec.decode(token)
        except InvalidCursor:
            return None
        seq, part, issued = payload.get("p"), payload.get("k"), payload.get("t")
        if payload.get("o") != org_id or payload.get("r") != resource:
            return None
        if not all(isinstance(v, int) and v >= 0 for v in (seq, part, issued)):
            return None
        assert isinstance(seq, int) and isinstance(part, int) and isinstance(issued, int)
        if time.time() - issued > self.ttl_seconds:
            return None
        return SyncPosition(seq, part)


def read_page(
    reader: Reader, query: EventQuery, start: SyncPosition, limit: int, render: Renderer
) -> SyncPage | None:
    """The Asana events after `start` (at most `limit`), oldest first, and the position after
    them. None when `start` lies beyond the organization's head (not this history's token).

    `query` names the subscription (org, scope with descendants).
    """
    head = reader.head(start.seq)  # a replica behind the token does not answer
    if start.seq > head:
        return None
    base = replace(query, ascending=True, until_seq=head, limit=limit + 1)
    rendered: list[tuple[Event, list[AsanaEvent]]] = []
    position = start.seq - 1 if start.part else start.seq
    available = -start.part
    exhausted = False
    while available <= limit:
        page = reader.page(replace(base, after_seq=position))
        for event, items in zip(page.events, render(page.events), strict=True):
            rendered.append((event, items))
            available += len(items)
        if not page.has_more or page.position is None:
            exhausted = True
            break
        position = page.position
    return _cut(rendered, start, limit, exhausted, head)


def _cut(
    rendered: list[tuple[Event, list[AsanaEvent]]],
    start: SyncPosition,
    limit: int,
    exhausted: bool,
    head: int,
) -> SyncPage:
    """The first `limit` Asana events not yet delivered, and the position after them."""
    out: list[AsanaEvent] = []
    last: tuple[int, int, int] | None = None  # seq, Asana events delivered of it, its total
    left_over = False
    for index, (event, items) in enumerate(rendered):
        # The part already delivered applies to the event it was counted in; if that event
        # is no longer visible to this token's user, nothing of the next one was delivered.
        first = min(start.part, len(items)) if index == 0 and event.seq == start.seq else 0
        for i in range(first, len(items)):
            if len(out) == limit:
                left_over = True
                break
            out.append(items[i])
            last = (event.seq, i + 1, len(items))
        if left_over:
            break
    has_more = left_over or not exhausted
    if not has_more:
        return SyncPage(out, SyncPosition(head), False)
    if last is None:
        return SyncPage(out, start, True)
    seq, done, total = last
    return SyncPage(out, SyncPosition(seq, 0 if done == total else done), has_more)
