"""PostgreSQL's events and event_scopes, partitioned by time: RANGE on recorded_at, one
partition a month (UTC), named events_pYYYY_MM and event_scopes_pYYYY_MM. Retention drops
a month whole when every event in it is expired and unheld (store/retention_pg.py).

Partitions are made ahead (AHEAD_MONTHS past the current month) by the migration that
partitions the tables and by each retention run, and on demand before a write whose time
has none yet (PostgresStore.write). A unique constraint of a partitioned table must hold
the partition key, so the primary keys are (org_id, seq, recorded_at) and (org_id,
scope_type, scope_id, seq, recorded_at); seq stays unique per organization because it is
handed out under the organization's lock (Store.write), which also orders idempotency-key
lookups before inserts, so the key index is a plain one.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from sqlalchemy import Connection, text

AHEAD_MONTHS = 3
TABLES = ("events", "event_scopes")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def month_start(micros: int) -> datetime.datetime:
    moment = _EPOCH + datetime.timedelta(microseconds=micros)
    return datetime.datetime(moment.year, moment.month, 1, tzinfo=datetime.UTC)


def next_month(month: datetime.datetime) -> datetime.datetime:
    return month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)


def micros(moment: datetime.datetime) -> int:
    return (moment - _EPOCH) // datetime.timedelta(microseconds=1)


def months(first: int, last: int) -> Iterator[datetime.datetime]:
    """The months from the one holding `first` to the one holding `last` (microseconds)."""
    month, end = month_start(first), month_start(last)
    while month <= end:
        yield month
        month = next_month(month)


def partition_name(table: str, month: datetime.datetime) -> str:
    return f"{table}_p{month.year:04d}_{month.month:02d}"


def create_sql(table: str, month: datetime.datetime) -> str:
    lo, hi = micros(month), micros(next_month(month))
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(table, month)} PARTITION OF {table} "
        f"FOR VALUES FROM ({lo}) TO ({hi})"
    )


def ensure_partitions(conn: Connection, first: int, last: int) -> int:
    """Make the monthly partitions of both tables from `first` to `last` (microseconds)
    that do not exist yet; the end of the last month made, in microseconds."""
    month = month_start(first)
    for month in months(first, last):
        for table in TABLES:
            conn.execute(text(create_sql(table, month)))
    return micros(next_month(month))


def ahead(now: int) -> int:
    """The time partitions are made up to: AHEAD_MONTHS months past `now`'s."""
    month = month_start(now)
    for _ in range(AHEAD_MONTHS):
        month = next_month(month)
    return micros(month)


def partitioned(conn: Connection) -> bool:
    """Whether events is a partitioned table (the schema of migration 0009 on)."""
    return bool(
        conn.scalar(
            text(
                "SELECT 1 FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid "
                "WHERE c.relname = 'events' AND c.relnamespace = to_regnamespace(current_schema())"
            )
        )
    )


def horizon(conn: Connection) -> int:
    """The end of the latest partition of events (microseconds; 0 when none)."""
    return max((end for _, _, end in partitions(conn)), default=0)


def month_of(name: str) -> datetime.datetime:
    """The month a partition's name names (…_pYYYY_MM)."""
    year, month = name.rsplit("_p", 1)[1].split("_")
    return datetime.datetime(int(year), int(month), 1, tzinfo=datetime.UTC)


def partitions(conn: Connection) -> list[tuple[str, int, int]]:
    """The partitions of events, oldest first: (name, start, end) in microseconds."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'"
        )
    ).scalars()
    found = []
    for name in names:
        month = month_of(name)
        found.append((name, micros(month), micros(next_month(month))))
    return sorted(found, key=lambda p: p[1])
