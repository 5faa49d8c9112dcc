"""Retention on PostgreSQL: a month of events dropped whole (store/partitions.py) when every
event in it is expired for its organization and held by no legal hold; what is left to
expire goes by batched deletes as on SQLite (RetentionStore.expire)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select, text

from ..diff import now_micros
from ..model import Cutoffs, EntityType
from . import schema as t
from .partitions import ahead, ensure_partitions, partitions
from .retention import RetentionStore, record_run

_e = t.events.c


class PostgresRetention(RetentionStore):
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
            conn.execute(select(t.orgs.c.id).where(t.orgs.c.id == row.org_id).with_for_update())
            last = conn.execute(
                select(_e.hash, _e.recorded_at).where(_e.org_id == row.org_id, _e.seq == row.last)
            ).one()
            record_run(conn, row.org_id, (row.first, row.last, last.hash, last.recorded_at), now)
        return {int(row.org_id): int(row.n) for row in rows}


def _expires_all_before(cutoffs: Cutoffs, end: int) -> bool:
    """Whether every event recorded before `end`, of any subject type, is expired."""
    kinds: list[Any] = [cutoffs.of(kind.value) for kind in EntityType]
    return all(c is not None and c >= end for c in kinds)
