"""Deep offsets without scanning: where the k-th event of a query lies, by index seeks.

Readers that page by offset (Huddle's `skipitems`, Kantata's `page` and `offset`) would
make the database step over k rows to reach the k-th. Two facts let worktrail jump there:

- An organization's seqs are gapless, so among all its events in a seq range the k-th
  newest is simple arithmetic; and recorded_at never goes back within an organization
  (Store.write), so a recorded-time window is a seq range, found with one seek on
  ix_events_recorded.
- Every scope row carries its event's subject type and `n`, its rank among the scope's
  events of that type (WriteTransaction._ranked_scope_rows). How many events of some types a
  scope holds up to seq s is then one seek per type on ix_event_scopes_kind, and a binary
  search over s finds the k-th: about 20 probes of a few seeks each, whatever k is.

Retention breaks both facts for an organization it pruned (its seqs have gaps, its ranks
count removed events), so there the database skips instead.

`seek_offset` turns a query's offset into a position (`after_seq`) when the query has only
filters these facts cover; other queries keep their offset for the database to skip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, func, select

from ..model import EntityType, EventQuery
from . import schema as t

# Below this, skipping rows of an index is as cheap as seeking.
SEEK_FROM = 500
ALL_TYPES = tuple(sorted(e.value for e in EntityType))


def seekable(q: EventQuery) -> bool:
    """Whether the query's filters are all ones `seek_offset` can count by seeks."""
    return (
        q.offset >= SEEK_FROM
        and q.newest_per_subject is None
        and (q.scope is None or q.descendants)
        and (q.scope is not None or not q.subject_types)
        and not (q.subject_ids or q.actions or q.subject_actions or q.actor_ids or q.seqs)
        and q.occurred_from is None
        and q.occurred_to is None
        and q.visible_workspaces is None
        and q.text is None
        and not q.changed_fields
    )


def first_seq_recorded(conn: Connection, org_id: int, at: int) -> int | None:
    """The first seq recorded at or after `at` (None if there is none)."""
    e = t.events.c
    value = conn.scalar(
        select(e.seq)
        .where(e.org_id == org_id, e.recorded_at >= at)
        .order_by(e.recorded_at, e.seq)
        .limit(1)
    )
    return None if value is None else int(value)


def seq_bounds(conn: Connection, q: EventQuery) -> tuple[int, int]:
    """The seq range [lo, hi] that holds the query's events (empty when lo > hi), from its
    recorded-time window, its position and until_seq."""
    lo = 1
    hi = int(conn.scalar(select(t.orgs.c.last_seq).where(t.orgs.c.id == q.org_id)) or 0)
    if q.recorded_from is not None:
        first = first_seq_recorded(conn, q.org_id, q.recorded_from)
        lo = max(lo, first if first is not None else hi + 1)
    if q.recorded_to is not None:
        first = first_seq_recorded(conn, q.org_id, q.recorded_to)
        hi = min(hi, first - 1 if first is not None else hi)
    if q.until_seq is not None:
        hi = min(hi, q.until_seq)
    if q.after_seq is not None:
        if q.ascending:
            lo = max(lo, q.after_seq + 1)
        else:
            hi = min(hi, q.after_seq - 1)
    return lo, hi


def rank_counter(conn: Connection, q: EventQuery) -> Callable[[int], int]:
    """A function of s: how many events of the query's scope and subject types have seq <= s."""
    assert q.scope is not None
    s = t.event_scopes.c
    types = q.subject_types or ALL_TYPES
    probe: list[ColumnElement[Any]] = [
        func.coalesce(
            select(s.n)
            .where(
                s.org_id == q.org_id,
                s.scope_type == q.scope.type.value,
                s.scope_id == q.scope.id,
                s.subject_type == subject_type,
                s.seq <= bindparam("at"),
            )
            .order_by(s.seq.desc())
            .limit(1)
            .scalar_subquery(),
            0,
        )
        for subject_type in types
    ]
    stmt = select(*probe)

    def count(at: int) -> int:
        return sum(int(n) for n in conn.execute(stmt, {"at": at}).one())

    return count


def kth_seq(conn: Connection, q: EventQuery, k: int) -> int | None:
    """The seq of the query's k-th event (1-based) in its order, or None if it has fewer."""
    lo, hi = seq_bounds(conn, q)
    if lo > hi:
        return None
    if q.scope is None:  # every seq in the range is an event of the query
        if k > hi - lo + 1:
            return None
        return lo + k - 1 if q.ascending else hi - k + 1
    upto = rank_counter(conn, q)
    below, top = upto(lo - 1), upto(hi)
    if k > top - below:
        return None
    if q.ascending:  # the smallest s with upto(s) - below >= k
        left, right = lo, hi
        while left < right:
            mid = (left + right) // 2
            if upto(mid) - below >= k:
                right = mid
            else:
                left = mid + 1
        return left
    left, right = lo, hi  # the largest s with top - upto(s - 1) >= k
    while left < right:
        mid = (left + right + 1) // 2
        if top - upto(mid - 1) >= k:
            left = mid
        else:
            right = mid - 1
    return left


def _pruned(conn: Connection, org_id: int) -> bool:
    """Whether retention removed events of the organization: its seqs have gaps then, and
    the scope ranks count events that are gone, so the database skips instead."""
    r = t.pruned_ranges.c
    return conn.scalar(select(r.first_seq).where(r.org_id == org_id).limit(1)) is not None


def seek_offset(conn: Connection, q: EventQuery) -> EventQuery | None:
    """The query with its offset turned into a position (None: the offset is past its end);
    the query itself when its filters need the database to skip."""
    if not seekable(q) or _pruned(conn, q.org_id):
        return q
    position = kth_seq(conn, q, q.offset)
    if position is None:
        return None
    return replace(q, after_seq=position, offset=0)
