"""Retention in the store: expired events removed in batches, legal holds respected, and
what was removed recorded as pruned runs of seqs (`Store.retention`).

An event expires when it was recorded before its cutoff (the organization's, or its
subject type's) and no legal hold holds it (`held`, the one place that decides). Each
batch is one short transaction: it takes the organization's retention lock (so runs of
one organization never interleave; appends go on), reads up to BATCH
events past the pruned prefix, deletes the expired ones with their scope rows, and grows
the pruned runs (schema.pruned_ranges). The Merkle tree's nodes and the checkpoints are
kept: proofs of the events that remain, and between checkpoints, still verify. A database
may remove whole partitions first (`drop_expired_partitions`, PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, delete, func, select

from ..diff import now_micros
from ..model import Cutoffs, PrunedRange, RetentionReport
from . import schema as t
from .holds import Holds, held_between, holds_in_force

if TYPE_CHECKING:
    from .base import Store

BATCH = 1_000  # events read, and at most deleted, per transaction: about 5,000 rows with
# their scope rows, so that the writer is held for a fraction of a second at a time

_e, _s, _r = t.events.c, t.event_scopes.c, t.pruned_ranges.c
Progress = Callable[[int, int], None]  # (events looked at, events in all)


class RetentionStore:
    """Expiry of one store's events."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- legal holds ------------------------------------------------------------------------

    def holds(self, conn: Connection, org_id: int) -> Holds:
        """The organization's active legal holds (store/holds.py decides what they hold)."""
        return holds_in_force(conn, org_id)

    def held(self, conn: Connection, org_id: int, first: int, last: int, holds: Holds) -> set[int]:
        """The seqs from `first` to `last` that a legal hold holds: nothing is removed
        without asking this."""
        return held_between(conn, org_id, first, last, holds)

    # -- what was pruned --------------------------------------------------------------------

    def ranges(self, org_id: int) -> list[PrunedRange]:
        """The organization's pruned runs, by seq."""
        with self._store.read() as conn:
            return _ranges(conn, org_id, None)

    def pruned_through(self, org_id: int) -> int:
        """Every event up to this seq was removed (0: none)."""
        with self._store.read() as conn:
            value = conn.scalar(select(_r.last_seq).where(_r.org_id == org_id, _r.first_seq == 1))
        return int(value or 0)

    def position_pruned(
        self, org_id: int, position: int, ascending: bool = True, issued_at: int | None = None
    ) -> PrunedRange | None:
        """The pruned run that a client positioned at `position` (it has seen the events up to
        it, ascending; down to it, descending) would skip, if any: one the position is inside
        of (some seqs past it in the reading direction gone); or, given when the position was
        handed out (microseconds), any run in the reading direction pruned since."""
        if position <= 0:
            return None
        with self._store.read() as conn:
            if ascending:
                inside = (_r.first_seq <= position) & (_r.last_seq > position)
                ahead = _r.last_seq > position
            else:
                inside = (_r.first_seq < position) & (_r.last_seq >= position)
                ahead = _r.first_seq < position
            cond = inside if issued_at is None else inside | (ahead & (_r.pruned_at >= issued_at))
            found = _ranges(conn, org_id, cond)
        return found[0] if found else None

    def seq_pruned(self, org_id: int, seq: int) -> PrunedRange | None:
        """The pruned run that holds `seq`, if retention removed that event."""
        with self._store.read() as conn:
            found = _ranges(conn, org_id, (_r.first_seq <= seq) & (_r.last_seq >= seq))
        return found[0] if found else None

    def pruned_since(self, org_id: int, recorded_from: int) -> PrunedRange | None:
        """A pruned run holding events recorded at or after `recorded_from`: a time window
        from then on is missing them."""
        with self._store.read() as conn:
            found = _ranges(conn, org_id, _r.last_recorded >= recorded_from)
        return found[-1] if found else None

    # -- expiry -----------------------------------------------------------------------------

    def lock_org(self, conn: Connection, org_id: int) -> None:
        """Keep other retention runs of the organization out until commit (its pruned runs
        are read, merged and written back). Appends are not held up: the batch touches no
        row they need. SQLite's one writer holds everything else out already."""

    def drop_expired_partitions(
        self, cutoffs: Mapping[int, Cutoffs]
    ) -> dict[int, tuple[int, list[str]]]:
        """Remove whole partitions whose every event is expired for its organization (by
        `cutoffs`, organization → cutoffs; an organization without is kept forever) and held
        by no legal hold, recording what went as pruned runs: per organization, how many
        events went and in which partitions. Nothing where the tables are not partitioned."""
        return {}

    def expire(
        self,
        org_id: int,
        cutoffs: Cutoffs,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
        batch: int = BATCH,
    ) -> RetentionReport:
        """Remove the organization's expired events that no hold holds, BATCH a
        transaction; with dry_run, only count them."""
        latest = cutoffs.latest()
        if latest is None:
            return RetentionReport(org_id, pruned_through=self.pruned_through(org_id))
        with self._store.read() as conn:
            low = int(
                conn.scalar(select(_r.last_seq).where(_r.org_id == org_id, _r.first_seq == 1)) or 0
            )
            high = conn.scalar(
                select(func.max(_e.seq)).where(_e.org_id == org_id, _e.recorded_at < latest)
            )
        high = int(high or 0)
        expired = held = 0
        position = low
        while position < high:
            with self._store.read() if dry_run else self._store.write_connection() as conn:
                if not dry_run:
                    self.lock_org(conn, org_id)
                rows = conn.execute(  # documents only of those that go (_remove)
                    select(_e.seq, _e.subject_type, _e.recorded_at, _e.hash)
                    .where(_e.org_id == org_id, _e.seq > position, _e.seq <= high)
                    .order_by(_e.seq)
                    .limit(batch)
                ).all()
                if not rows:
                    break
                due = [r for r in rows if r.recorded_at < (cutoffs.of(r.subject_type) or 0)]
                holds = self.holds(conn, org_id)
                kept = self.held(conn, org_id, rows[0].seq, rows[-1].seq, holds) if due else set()
                gone = [r for r in due if r.seq not in kept]
                held += len(due) - len(gone)
                expired += len(gone)
                if gone and not dry_run:
                    self._remove(conn, org_id, gone)
                    _record_runs(conn, org_id, gone, now_micros())
            position = int(rows[-1].seq)
            if progress:
                progress(position - low, high - low)
        through = self.pruned_through(org_id)
        if expired and not dry_run:
            self.forget_deliveries(org_id, through)
        return RetentionReport(org_id, expired, held, through, dry_run=dry_run)

    def _remove(self, conn: Connection, org_id: int, rows: Sequence[Any]) -> None:
        """Delete these events and their scope rows, each by its primary key (an event's
        document names its scopes): point deletes, whatever the tables' size."""
        m = self._store.placeholder
        seqs = [row.seq for row in rows]
        documents: list[Any] = []
        for chunk in _chunks(seqs, 900):
            documents += conn.execute(
                select(_e.seq, _e.data).where(_e.org_id == org_id, _e.seq.in_(chunk))
            ).all()
        scope_keys = [
            (org_id, kind, int(ident), seq)
            for seq, data in documents
            for kind, _, ident in (s.partition(":") for s in orjson.loads(data)["scopes"])
        ]
        conn.exec_driver_sql(
            f"DELETE FROM event_scopes WHERE org_id = {m} AND scope_type = {m} "
            f"AND scope_id = {m} AND seq = {m}",
            scope_keys,
        )
        conn.exec_driver_sql(
            f"DELETE FROM events WHERE org_id = {m} AND seq = {m}",
            [(org_id, seq) for seq in seqs],
        )  # an event's idempotency key is a column of it: it goes too

    def forget_deliveries(self, org_id: int, through: int) -> None:
        """Webhook messages and attempts of the pruned prefix: their events are gone."""
        if not through:
            return
        with self._store.write_connection() as conn:
            for table in (t.webhook_messages, t.webhook_attempts):
                conn.execute(delete(table).where(table.c.org_id == org_id, table.c.seq <= through))


def _ranges(conn: Connection, org_id: int, cond: Any) -> list[PrunedRange]:
    stmt = select(t.pruned_ranges).where(_r.org_id == org_id).order_by(_r.first_seq)
    if cond is not None:
        stmt = stmt.where(cond)
    return [
        PrunedRange(r.first_seq, r.last_seq, r.last_hash, r.last_recorded, r.pruned_at)
        for r in conn.execute(stmt)
    ]


def _runs(rows: Sequence[Any]) -> list[tuple[int, int, str, int]]:
    """Runs of consecutive seqs among these rows: (first, last, last's hash, last's
    recorded_at)."""
    runs: list[tuple[int, int, str, int]] = []
    for row in rows:
        if runs and runs[-1][1] + 1 == row.seq:
            runs[-1] = (runs[-1][0], row.seq, row.hash, row.recorded_at)
        else:
            runs.append((row.seq, row.seq, row.hash, row.recorded_at))
    return runs


def _record_runs(conn: Connection, org_id: int, rows: Sequence[Any], now: int) -> None:
    """Add the runs of these removed events to the organization's pruned runs."""
    for run in _runs(rows):
        record_run(conn, org_id, run, now)


def record_run(conn: Connection, org_id: int, run: tuple[int, int, str, int], now: int) -> None:
    """Add a run of removed events (first seq, last seq, last's hash, last's recorded_at)
    to the organization's pruned runs, merged with those it touches or overlaps (a run
    ending at s and one starting at s + 1 are one). Every seq between its first and last
    must be removed, by this run or an earlier one."""
    first, last, last_hash, last_recorded = run
    touching = _ranges(conn, org_id, (_r.first_seq <= last + 1) & (_r.last_seq >= first - 1))
    for other in touching:
        if other.last_seq > last:
            last, last_hash = other.last_seq, other.last_hash
            last_recorded = other.last_recorded
        first = min(first, other.first_seq)
    if touching:
        conn.execute(
            delete(t.pruned_ranges).where(
                _r.org_id == org_id, _r.first_seq.in_([o.first_seq for o in touching])
            )
        )
    conn.execute(
        t.pruned_ranges.insert().values(
            org_id=org_id,
            first_seq=first,
            last_seq=last,
            last_hash=last_hash,
            last_recorded=last_recorded,
            pruned_at=now,
        )
    )


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
