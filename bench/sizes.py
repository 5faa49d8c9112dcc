"""Cost by store size on PostgreSQL: how pages, export and ingest grow per 10x of events.

    python -m bench.sizes [--sizes 100000,1000000,10000000] [--reads 300] [--export 200000]

For each size a store of one organization whose events span twelve months (so its events
and scope rows lie in monthly partitions, as a year-old deployment's do) is built with COPY
(bench.retention.build; the history's hashes are stand-ins, and the tree's frontier is
computed from them so that appends extend it), then vacuumed. Measured on it:

- pages through the store's read path (no HTTP): the first page of 50, a page half way
  back (`after_seq`), and a project scope's first page and one half way back: p50 and p99
  of `--reads` reads each;
- export: the newest `--export` events rendered as CSV by the export's reader and
  renderer, events/s (the same count at every size, so the figures compare cost per event);
- ingest: 20,000 events in batches of 1,000 through the library's batch ingest into the
  big organization, events/s.

Flat is the target: each figure at 10M within 10% of the one at 100k.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from typing import Any

from sqlalchemy import text

from worktrail.auth import principal_for_user
from worktrail.integrity.merkle import append_leaves, frontier_ids, leaf_hash, node_number
from worktrail.model import EntityType, EventQuery, Scope
from worktrail.query import Reader
from worktrail.store import Store
from worktrail.store import schema as t
from worktrail.store.pg_settings import RECOMMENDED
from worktrail.testing.postgres import start_postgres
from worktrail.web.render import iter_csv
from worktrail.write import Writer, ingest

from .common import ingest_records, percentile, print_table, write_results
from .retention import build

INGEST_EVENTS = 20_000
BATCH = 1000


def plant_frontier(store: Store, org_id: int) -> None:
    """The tree's frontier over the organization's stored events, written so that appends
    extend the tree (the interior nodes below it are left out: no proofs are asked for)."""
    size, frontier = 0, dict[tuple[int, int], bytes]()
    with store.write_connection() as conn:
        result = conn.execution_options(yield_per=100_000).execute(
            text("SELECT hash FROM events WHERE org_id = :o ORDER BY seq"), {"o": org_id}
        )
        for rows in result.partitions():
            leaves = [leaf_hash(bytes.fromhex(row.hash)) for row in rows]
            made = append_leaves(size, [frontier[i] for i in frontier_ids(size)], leaves)
            frontier.update(((lv, ix), h) for lv, ix, h in made)
            size += len(leaves)
            frontier = {i: frontier[i] for i in frontier_ids(size)}
    with store.write_connection() as conn:
        conn.execute(t.merkle_nodes.delete().where(t.merkle_nodes.c.org_id == org_id))
        conn.execute(
            t.merkle_nodes.insert(),
            [
                {"org_id": org_id, "node": node_number(lv, ix), "hash": h}
                for (lv, ix), h in frontier.items()
            ],
        )


def vacuum(store: Store) -> None:
    """What autovacuum would have done to a store grown over a year: visibility maps set,
    so that index-only scans stay index-only, and statistics."""
    with store.writer.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("VACUUM (ANALYZE) events")
        conn.exec_driver_sql("VACUUM (ANALYZE) event_scopes")


def page_times(store: Store, query: EventQuery, reads: int) -> dict[str, float]:
    for _ in range(20):
        store.fetch_stored(query)
    samples = []
    for _ in range(reads):
        started = time.perf_counter()
        store.fetch_stored(query)
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": statistics.median(samples), "p99_ms": percentile(samples, 0.99)}


def export_rate(store: Store, org_id: int, events: int) -> float:
    reader = Reader.whole(store, org_id)
    head = store.head_seq(org_id)
    query = EventQuery(org_id, ascending=True, after_seq=max(0, head - events))
    started = time.perf_counter()
    written = sum(len(piece) for piece in iter_csv(reader.iter_stored(query, 2000)))
    elapsed = time.perf_counter() - started
    assert written > events * 20  # every event rendered
    return events / elapsed


def ingest_rate(store: Store, org_id: int) -> float:
    owner_row = next(
        e
        for e in (store.get_entity(org_id, i) for i in range(1, 10))
        if e is not None and e.type == EntityType.USER
    )
    owner = principal_for_user(owner_row)
    writer = Writer(store)
    ws = writer.create(owner, EntityType.WORKSPACE, {"name": "Sizes"}).entity
    project = writer.create(owner, EntityType.PROJECT, {"name": "P", "workspace": ws.id}).entity
    started = time.perf_counter()
    for first in range(0, INGEST_EVENTS, BATCH):
        ingest(store, owner, ingest_records(first, project.id, BATCH), BATCH)
    return INGEST_EVENTS / (time.perf_counter() - started)


def measure(url: str, events: int, reads: int, export: int) -> dict[str, Any]:
    store, org_id = build(url, events)
    try:
        started = time.perf_counter()
        plant_frontier(store, org_id)
        vacuum(store)
        print(f"  frontier and vacuum in {time.perf_counter() - started:.0f}s", flush=True)
        head = store.head_seq(org_id)
        plain = EventQuery(org_id, limit=50)
        scoped = replace(plain, scope=Scope(EntityType.PROJECT, 2))
        pages = {
            "first": page_times(store, plain, reads),
            "deep": page_times(store, replace(plain, after_seq=head // 2), reads),
            "scope_first": page_times(store, scoped, reads),
            "scope_deep": page_times(store, replace(scoped, after_seq=head // 2), reads),
        }
        with store.read() as conn:
            partitions = conn.scalar(
                text("SELECT count(DISTINCT tableoid) FROM events WHERE org_id = :o"),
                {"o": org_id},
            )
        return {
            "events": events,
            "months_holding_events": partitions,
            "pages": pages,
            "export_events": min(export, head),
            "export_events_per_s": export_rate(store, org_id, min(export, head)),
            "ingest_events_per_s": ingest_rate(store, org_id),
        }
    finally:
        store.close()


def table_for(results: list[dict[str, Any]]) -> list[list[str]]:
    table = [
        [
            "events",
            "first page p50/p99 ms",
            "deep page p50/p99 ms",
            "scope first p50/p99 ms",
            "scope deep p50/p99 ms",
            "export ev/s",
            "ingest ev/s",
        ]
    ]
    for r in results:
        p = r["pages"]
        table.append(
            [
                f"{r['events']:,}",
                *(
                    f"{p[k]['p50_ms']:.2f} / {p[k]['p99_ms']:.2f}"
                    for k in ("first", "deep", "scope_first", "scope_deep")
                ),
                f"{r['export_events_per_s']:,.0f}",
                f"{r['ingest_events_per_s']:,.0f}",
            ]
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--export", type=int, default=200_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    server = start_postgres(RECOMMENDED)
    results = []
    try:
        for n, events in enumerate(sizes):
            print(f"{events:,} events", flush=True)
            url = server.create_database(f"sizes_{n}")
            results.append(measure(url, events, args.reads, args.export))
            server.drop_database(f"sizes_{n}")  # the next size's store is built alone
    finally:
        server.stop()
    table = table_for(results)
    print_table(table)
    write_results("sizes-postgres", {"sizes": results}, table)


if __name__ == "__main__":
    main()
