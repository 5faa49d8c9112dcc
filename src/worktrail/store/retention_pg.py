"""Retention on PostgreSQL: a month of events dropped whole (store/partitions.py) when every
event in it is expired for its organization and held by no legal hold; what is left to
expire goes by batched deletes as on SQLite (RetentionStore.expire)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text

from ..diff import now_micros
from ..model import Cutoffs, EntityType
from .partitions import ahead, ensure_partitions, partitions
from .retention import RetentionStore, record_run

ADVISORY = 0x57525254 << 24  # retention's advisory lock keys, one per organization


class PostgresRetention(RetentionStore):
    def lock_org(self, conn: Connection, org_id: int) -> None:
        """A transaction-scoped advisory lock, not the head row: an append holds its head row
        while it reads every partition, so a run that held the row and then waited to drop
        a partition would deadlock with it."""
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY + org_id})

    def drop_expired_partitions(
        self, cutoffs: Mapping[int, Cutoffs]
    ) -> dict[int, tuple[int, list[str]]]:
        """Drop each month whose every event is expired and unheld, oldest first, each in a
        transaction of its own: its pruned runs recorded, its webhook bookkeeping deleted,
        then both tables' partitions dropped. Partitions for the months ahead are made too."""
        now = now_micros()
        with self._store.write_connection() as conn:
            ensure_partitions(conn, now, ahead(now))
            months = partitions(conn)
        dropped: dict[int, tuple[int, list[str]]] = {}
        for name, _start, end in months:
            if end > now:
                break
            with self._store.write_connection() as conn:
                orgs = self._droppable(conn, name, end, cutoffs)
                if orgs is None:
                    continue
                for org_id, count in orgs.items():
                    done, names = dropped.get(org_id, (0, []))
                    dropped[org_id] = (done + count, [*names, name])
                suffix = name.removeprefix("events")
                conn.execute(text(f"DROP TABLE {name}"))
                conn.execute(text(f"DROP TABLE event_scopes{suffix}"))
        for org_id in dropped:
            self.forget_deliveries(org_id, self.pruned_through(org_id))
        return dropped

    def _droppable(
        self, conn: Connection, name: str, end: int, cutoffs: Mapping[int, Cutoffs]
    ) -> dict[int, int] | None:
        """The organizations of partition `name` and how many events each has there, with
        their runs recorded as pruned, if every one of its events is expired and unheld;
        None (nothing recorded) otherwise."""
        # the name comes from the catalogue (partitions.partitions), not from a client
        rows = conn.execute(
            text(
                f"SELECT org_id, min(seq) AS first, max(seq) AS last, count(*) AS n "
                f"FROM {name} GROUP BY org_id"
            )
        ).all()
        for row in rows:
            cut = cutoffs.get(row.org_id)
            if cut is None or not _expires_all_before(cut, end):
                return None
            if self.held(conn, row.org_id, row.first, row.last, self.holds(conn, row.org_id)):
                return None
        now = now_micros()
        for row in rows:
            self.lock_org(conn, row.org_id)
            last = conn.execute(
                text(f"SELECT hash, recorded_at FROM {name} WHERE org_id = :o AND seq = :s"),
                {"o": row.org_id, "s": row.last},
            ).one()
            record_run(conn, row.org_id, (row.first, row.last, last.hash, last.recorded_at), now)
        return {int(row.org_id): int(row.n) for row in rows}


def _expires_all_before(cutoffs: Cutoffs, end: int) -> bool:
    """Whether every event recorded before `end`, of any subject type, is expired."""
    kinds: list[Any] = [cutoffs.of(kind.value) for kind in EntityType]
    return all(c is not None and c >= end for c in kinds)
