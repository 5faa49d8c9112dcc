"""Facet counts and the activity chart of a filter: how many matching events there are by
action, subject type, actor and day.

Counting a filter's events over a large history reads all of them, so each count is kept
with the position it covers (LRU, per reader's visibility and filter) and brought up to the
head by counting only what was committed since: tallies add up, and seq order is commit
order, so nothing committed can fall between two positions. The first view of a filter
pays for the count; the next ones cost a head read and the newest events.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace

from ..model import EventQuery
from ..query import Reader

CACHED_FILTERS = 256


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
    """Summaries of recent filters, brought up to date on each read."""

    def __init__(self, size: int = CACHED_FILTERS) -> None:
        self._size = size
        self._kept: OrderedDict[tuple[object, ...], Summary] = OrderedDict()
        self._lock = threading.Lock()

    def summary(self, reader: Reader, query: EventQuery, day_offset: int) -> Summary:
        """The events of `query` (its position and limit aside) counted up to the head."""
        query = replace(query, after_seq=None, until_seq=None, ascending=True, offset=0)
        key = (reader.org_id, reader.visible, query.fingerprint(), day_offset)
        head = reader.head()
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
        if kept is not None and kept.position == head:
            return kept
        summary = kept.copy() if kept is not None and kept.position < head else Summary(0)
        summary.add(
            reader, replace(query, after_seq=summary.position or None, until_seq=head), day_offset
        )
        summary.position = head
        with self._lock:
            current = self._kept.get(key)
            if current is None or current.position < head:
                self._kept[key] = summary
                self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return summary
