"""Copy a worktrail store from SQLite into PostgreSQL: the way from the embedded default to
production, and how the benchmark measures both databases on the same history (the demo
generator writes about 5,000 events/s; COPY moves a million events in about a minute).

The target is migrated first; rows go in by COPY inside one transaction per table, then the
id sequences move past the copied ids and the tables are analyzed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg

from ..config import Settings
from ..diff import now_micros
from . import schema as t
from .partitions import ahead, ensure_partitions

# The schema declares no foreign keys, so the order does not matter.
TABLES = (
    t.meta,
    t.orgs,
    t.entities,
    t.tokens,
    t.token_writes,
    t.checkpoints,
    t.signing_keys,
    t.pruned_ranges,
)
BIG_TABLES = (t.events, t.event_scopes, t.merkle_nodes)
BOOLEAN_COLUMNS = {("entities", "deleted")}


def copy_sqlite_to_postgres(
    sqlite_path: Path,
    postgres_url: str,
    chunk: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Copy every table of the store at `sqlite_path` into the (empty) database at
    `postgres_url`; returns the number of events copied. `progress(n)` after each chunk
    of events."""
    from . import open_store

    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    target = open_store(Settings(database_url=postgres_url))
    target.migrate()
    first, last = source.execute("SELECT min(recorded_at), max(recorded_at) FROM events").fetchone()
    with target.write_connection() as conn:  # a month's partition for every event
        now = now_micros()
        ensure_partitions(conn, min(first or now, now), max(last or now, ahead(now)))
    target.close()
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    copied = 0
    with psycopg.connect(dsn) as conn:
        for table in (*TABLES, *BIG_TABLES):
            columns = [c.name for c in table.columns]
            booleans = [i for i, c in enumerate(columns) if (table.name, c) in BOOLEAN_COLUMNS]
            select = f"SELECT {', '.join(columns)} FROM {table.name}"
            names = ", ".join(columns)
            if table is t.event_scopes:  # with its event's recorded_at: the partition key
                select = (
                    f"SELECT {', '.join('s.' + c for c in columns)}, e.recorded_at "
                    "FROM event_scopes s JOIN events e ON e.org_id = s.org_id AND e.seq = s.seq"
                )
                names += ", recorded_at"
            with conn.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as cp:
                rows = source.execute(select)
                while batch := rows.fetchmany(chunk):
                    for row in batch:
                        if booleans:
                            row = tuple(bool(v) if i in booleans else v for i, v in enumerate(row))
                        cp.write_row(row)
                    if table is t.events:
                        copied += len(batch)
                        if progress is not None:
                            progress(copied)
            conn.commit()
        for sequenced in ("entities", "api_tokens"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{sequenced}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {sequenced}), false)"
            )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    source.close()
    return copied
