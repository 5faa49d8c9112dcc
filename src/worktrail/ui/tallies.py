"""Facet counts and the activity chart of a filter: how many matching events there are by
action, subject type, actor and day.

Counting a filter's events over a large history reads all of them, so each count is kept
with the position it covers (LRU, per reader's visibility and filter) and brought up to the
head by counting only what was committed since: tallies add up, and seq order is commit
order, so nothing committed can fall between two positions. The first view of a filter
pays for the count (in a thread: a page waits half a second for it, then shows what it
has, and the counts come with the next view); the next ones cost a head read and the
newest events.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace

from ..errors import WorktrailError
from ..model import EventQuery
from ..query import Reader

CACHED_FILTERS = 256
# How long a page waits for the first count of a filter before it goes without
WAIT_SECONDS = 0.5

log = logging.getLogger("worktrail")


@dataclass
class Summary:
    """A filter's events counted up to `position`."""

    position: int
    total: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)
    actors: Counter[int] = field(default_factory=Counter)
    days: Counter[int] = field(default_factory=Counter)

    def add(self, reader: Reader, query: EventQuery, day_offset: int) -> None:
        for row in reader.tally(query, day_offset):
            self.total += row.n
            self.actions[row.action] += row.n
            self.types[row.subject_type] += row.n
            if row.actor_id is not None:
                self.actors[row.actor_id] += row.n
            self.days[row.day] += row.n

    def copy(self) -> Summary:
        return Summary(
            self.position,
            self.total,
            Counter(self.actions),
            Counter(self.types),
            Counter(self.actors),
            Counter(self.days),
        )


class Tallies:
    """Summaries of recent filters, brought up to date on each read. A filter seen for the
    first time is counted in a thread of its own: a page waits `wait_seconds` for it, and
    goes without its counts when that is not enough (the next view has them)."""

    def __init__(self, size: int = CACHED_FILTERS, wait_seconds: float = WAIT_SECONDS) -> None:
        self._size = size
        self.wait_seconds = wait_seconds
        self._kept: OrderedDict[tuple[object, ...], Summary] = OrderedDict()
        self._counting: dict[tuple[object, ...], threading.Thread] = {}
        self._lock = threading.Lock()

    def summary(self, reader: Reader, query: EventQuery, day_offset: int) -> Summary | None:
        """The events of `query` (its position and limit aside) counted up to the head;
        None while a first count of them is still running."""
        query = replace(query, after_seq=None, until_seq=None, ascending=True, offset=0)
        key = (reader.org_id, reader.visible, query.fingerprint(), day_offset)
        head = reader.head()
        kept = self._get(key)
        if kept is None:
            self._first_count(key, reader, query, day_offset, head).join(self.wait_seconds)
            kept = self._get(key)
            if kept is None:
                return None
        if kept.position >= head:
            return kept
        summary = kept.copy()
        summary.add(reader, replace(query, after_seq=kept.position, until_seq=head), day_offset)
        summary.position = head
        self._keep(key, summary)
        return summary

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for the first counts running now (tests)."""
        with self._lock:
            running = list(self._counting.values())
        for thread in running:
            thread.join(timeout)

    def _first_count(
        self,
        key: tuple[object, ...],
        reader: Reader,
        query: EventQuery,
        day_offset: int,
        head: int,
    ) -> threading.Thread:
        def count() -> None:
            try:
                summary = Summary(head)
                summary.add(reader, replace(query, until_seq=head), day_offset)
                self._keep(key, summary)
            except WorktrailError as exc:
                log.warning("counting a filter's events failed: %s", exc.detail)
            finally:
                with self._lock:
                    self._counting.pop(key, None)

        with self._lock:
            running = self._counting.get(key)
            if running is None:
                running = self._counting[key] = threading.Thread(
                    target=count, name="ui-tally", daemon=True
                )
                running.start()
        return running

    def _get(self, key: tuple[object, ...]) -> Summary | None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
            return kept

    def _keep(self, key: tuple[object, ...], summary: Summary) -> None:
        with self._lock:
            current = self._kept.get(key)
            if current is None or current.position < summary.position:
                self._kept[key] = summary
                self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
