"""Retention: how long expiring the oldest month of a store takes.

    python -m bench.retention [--events 1000000] [--backend postgres|sqlite|both] [--rounds 3]

Each round builds a store of one organization whose events are spread evenly over twelve
months of recorded_at (three scope rows each: workspace, project, task), written straight
into the tables (COPY on PostgreSQL, large executemany batches on SQLite: the history's
hashes are stand-ins, since retention never reads them), then times `run_retention` with a
policy under which exactly the oldest month is expired. PostgreSQL drops that month's
partitions; SQLite deletes its rows in batches of 5,000, and the rate is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from worktrail.config import Settings
from worktrail.diff import now_micros
from worktrail.model.retention import DAY_MICROS
from worktrail.store import Store, open_store
from worktrail.store.partitions import ensure_partitions, micros, month_start, next_month
from worktrail.store.pg_settings import RECOMMENDED
from worktrail.testing.postgres import PostgresServer, start_postgres
from worktrail.write import create_organization
from worktrail.write.retention import run_retention

from .common import print_table

ROOT = Path(__file__).resolve().parent.parent
MONTHS = 12
DAYS = 30  # the policy's days
GAP = 2 * DAY_MICROS  # no events in the first two days of the second month


def layout(events: int) -> tuple[int, int, int]:
    """(the first event's recorded_at, the spacing between events, the end of the first
    month), so that the events cover MONTHS months from a month's start."""
    first = micros(month_start(now_micros() - (MONTHS + 1) * 31 * DAY_MICROS))
    end = first
    for _ in range(MONTHS):
        end = micros(next_month(month_start(end)))
    return first, (end - first) // events, micros(next_month(month_start(first)))


def rows(org_id: int, base: int, events: int) -> Iterator[tuple[tuple[Any, ...], list[Any]]]:
    """The events after `base` (the organization's own), each with its scope rows."""
    first, step, month_end = layout(events)
    scopes = [("workspace", 1), ("project", 2)]
    prev = "0" * 64
    for i in range(events):
        seq = base + i + 1
        recorded = first + i * step
        if month_end <= recorded < month_end + GAP:
            recorded = month_end + GAP + i % 1000  # the gap: none at the next month's start
        task = 10 + i % 5000
        data = orjson.dumps(
            {
                "actor": None,
                "changes": [{"field": "notes", "old": None, "new": f"v{i}"}],
                "before": None,
                "after": None,
                "context": None,
                "scopes": ["workspace:1", "project:2", f"task:{task}"],
            }
        ).decode()
        digest = hashlib.sha256(seq.to_bytes(8, "big")).hexdigest()
        event = (
            org_id,
            seq,
            recorded,
            recorded,
            None,
            "updated",
            "task",
            task,
            None,
            1,
            prev,
            digest,
            data,
        )
        prev = digest
        yield event, [*scopes, ("task", task)]


def build(url: str, events: int) -> tuple[Store, int]:
    store = open_store(Settings(database_url=url, retention_interval_minutes=0))
    store.migrate()
    org_id = create_organization(store, "Bench", "Owner", "owner@bench.test").org_id
    base = store.head_seq(org_id)
    started = time.perf_counter()
    if url.startswith("postgres"):
        _copy(store, org_id, base, events)
    else:
        _insert(store, org_id, base, events)
    last = base + events
    with store.write_connection() as conn:
        conn.exec_driver_sql(
            f"UPDATE orgs SET last_seq = {last}, "
            f"last_hash = (SELECT hash FROM events WHERE org_id = {org_id} AND seq = {last}) "
            f"WHERE id = {org_id}"
        )
    if url.startswith("postgres"):
        with store.write_connection() as conn:
            conn.exec_driver_sql("ANALYZE events")
            conn.exec_driver_sql("ANALYZE event_scopes")
    print(f"  built {events:,} events in {time.perf_counter() - started:.0f}s", flush=True)
    return store, org_id


def _copy(store: Store, org_id: int, base: int, events: int) -> None:
    import psycopg

    first, _, _ = layout(events)
    with store.write_connection() as conn:
        ensure_partitions(conn, first, now_micros())
    with store.write_connection() as conn:
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        scopes: list[tuple[Any, ...]] = []
        with driver.cursor() as cur:
            with cur.copy(
                "COPY events (org_id, seq, occurred_at, recorded_at, actor_id, action, "
                "subject_type, subject_id, idempotency_key, schema_version, prev_hash, hash, "
                "data) FROM STDIN"
            ) as copy:
                for event, kinds in rows(org_id, base, events):
                    copy.write_row(event)
                    n = event[1] - base
                    scopes.extend(
                        (org_id, kind, ident, event[1], "task", n, event[3])
                        for kind, ident in kinds
                    )
            with cur.copy(
                "COPY event_scopes (org_id, scope_type, scope_id, seq, subject_type, n, "
                "recorded_at) FROM STDIN"
            ) as copy:
                for scope in scopes:
                    copy.write_row(scope)


def _insert(store: Store, org_id: int, base: int, events: int) -> None:
    batch: list[tuple[Any, ...]] = []
    scopes: list[tuple[Any, ...]] = []

    def flush() -> None:
        with store.write_connection() as conn:
            conn.exec_driver_sql(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch
            )
            conn.exec_driver_sql("INSERT INTO event_scopes VALUES (?, ?, ?, ?, ?, ?)", scopes)
        batch.clear()
        scopes.clear()

    for event, kinds in rows(org_id, base, events):
        batch.append(event)
        n = event[1] - base
        scopes.extend((org_id, kind, ident, event[1], "task", n) for kind, ident in kinds)
        if len(batch) == 50_000:
            flush()
    if batch:
        flush()


def expire_oldest_month(store: Store, org_id: int, events: int) -> tuple[float, int, int]:
    """Seconds, events removed, partitions dropped."""
    _, _, month_end = layout(events)
    store.update_org_settings(org_id, {"retention_days": DAYS})
    at = month_end + DAY_MICROS + DAYS * DAY_MICROS  # cutoff: a day into the gap
    started = time.perf_counter()
    [report] = run_retention(store, now=at)
    return time.perf_counter() - started, report.expired, len(report.partitions_dropped)


def run(backend: str, events: int, rounds: int, server: PostgresServer | None) -> list[str]:
    seconds: list[float] = []
    removed = dropped = 0
    for round_no in range(rounds):
        name = f"bench_retention_{round_no}"
        if server is not None:
            url = server.create_database(name)
        else:
            path = ROOT / ".data" / f"{name}.db"
            path.parent.mkdir(exist_ok=True)
            for stale in path.parent.glob(f"{name}.db*"):
                stale.unlink()
            url = f"sqlite:///{path}"
        print(f"{backend}: round {round_no + 1}", flush=True)
        store, org_id = build(url, events)
        took, removed, dropped = expire_oldest_month(store, org_id, events)
        print(f"  expired {removed:,} events in {took:.3f}s ({dropped} partitions)", flush=True)
        seconds.append(took)
        store.close()
        if server is not None:
            server.drop_database(name)
    median = statistics.median(seconds)
    return [
        backend,
        f"{events:,}",
        f"{removed:,}",
        str(dropped),
        f"{median:.3f}",
        f"{removed / median:,.0f}",
        " ".join(f"{s:.3f}" for s in seconds),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="postgres")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    table = [["backend", "events", "expired", "partitions", "median s", "events/s", "rounds s"]]
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        server = start_postgres(RECOMMENDED) if backend == "postgres" else None
        try:
            table.append(run(backend, args.events, args.rounds, server))
        finally:
            if server is not None:
                server.stop()
    print_table(table)


if __name__ == "__main__":
    main()
