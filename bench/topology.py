"""What each step of docs/scaling.md adds to a request, measured on one machine.

    python -m bench.topology [--events 50000] [--requests 400]

A PostgreSQL primary with the recommended settings (store/pg_settings.py), a hot standby
streaming from it (`pg_basebackup -R`), and PgBouncer in transaction mode in front of the
primary, all on loopback, hold a store of one organization with `--events` events.
`worktrail serve` (one process) runs three ways in turn:

- primary: every read and write on the primary;
- replica: `WORKTRAIL_DATABASE_REPLICA_URLS` names the standby;
- pgbouncer: the primary through PgBouncer (`database_pooler = pgbouncer`), the commit
  watcher on a direct connection (`database_listen_url`).

Each way, one client at a time (so the figures are latencies, not capacity): a reader's
history page (`GET /api/v1/events?limit=100` with a token that never writes), a writer's
`PATCH` of a task, and that writer's page right after each write (read-your-writes),
p50 and p99 each; and from `/metrics`, which server answered the reads. Beside them the
standby's replay lag: a commit on the primary until the standby shows it, p50 and p99.

On one machine the standby and PgBouncer share the primary's cores, so these figures say
what each step costs a request, not the capacity it adds: that grows with the machines
they get.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.model import EntityType
from worktrail.store import open_store
from worktrail.store.pg_settings import RECOMMENDED
from worktrail.testing.postgres import PostgresCluster
from worktrail.testing.replication import PgBouncer, PostgresStandby
from worktrail.testing.server import serve
from worktrail.write import Writer, ingest

from .common import ingest_records, new_project, percentile, print_table, write_results

DATABASE = "topology"
READS = re.compile(r'^worktrail_db_reads_total\{server="([^"]+)"\} (\S+)$', re.MULTILINE)


def build(url: str, events: int) -> tuple[int, int, str, str]:
    """The store: (organization, a task, a reader's token, a writer's token)."""
    store = open_store(Settings(database_url=url))
    try:
        store.migrate()
        made = new_project(store, "Topology")
        task = Writer(store).create(
            made.owner, EntityType.TASK, {"name": "T", "project": made.project_id}
        )
        for first in range(0, events, 1000):
            ingest(store, made.owner, ingest_records(first, made.project_id), 1000)
        _, reader_token = create_token(store, made.org_id, made.owner_id, "reader")
        _, writer_token = create_token(store, made.org_id, made.owner_id, "writer")
        with store.write_connection() as conn:  # statistics, as a store in service has them
            conn.exec_driver_sql("ANALYZE")
        return made.org_id, task.entity.id, reader_token, writer_token
    finally:
        store.close()


def timed(samples: list[float], call: Any) -> httpx.Response:
    started = time.perf_counter()
    response: httpx.Response = call()
    samples.append((time.perf_counter() - started) * 1000)
    response.raise_for_status()
    return response


def figures(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(samples), "p99_ms": percentile(samples, 0.99)}


def measure(base: str, task: int, reader: str, writer: str, requests: int) -> dict[str, Any]:
    page: list[float] = []
    write: list[float] = []
    own: list[float] = []
    with (
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {reader}"}) as r,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {writer}"}) as w,
    ):
        for _ in range(20):
            r.get("/api/v1/events", params={"limit": 100})
        for _ in range(requests):
            timed(page, lambda: r.get("/api/v1/events", params={"limit": 100}))
        for i in range(requests):
            note = {"notes": f"n{i}"}
            timed(write, lambda: w.patch(f"/api/v1/tasks/{task}", json=note))  # noqa: B023
            seen = timed(own, lambda: w.get("/api/v1/events", params={"limit": 1}))
            assert seen.json()["data"][0]["after"]["notes"] == note["notes"]  # its own write
        served = {k: float(v) for k, v in READS.findall(r.get("/metrics").text)}
    return {
        "page": figures(page),
        "write": figures(write),
        "read_after_own_write": figures(own),
        "reads_by_server": served,
    }


def replay_lag(primary: PostgresCluster, standby: PostgresStandby, rounds: int) -> list[float]:
    """Milliseconds from a commit on the primary to the standby showing it."""
    with primary.connect(DATABASE) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_lag (n int)")
    lags = []
    with primary.connect(DATABASE) as p, standby.connect(DATABASE) as s:
        while s.execute("SELECT to_regclass('bench_lag')").fetchone() == (None,):
            time.sleep(0.01)
        for n in range(rounds):
            p.execute("INSERT INTO bench_lag VALUES (%s)", (n,))
            started = time.perf_counter()
            while not s.execute("SELECT 1 FROM bench_lag WHERE n = %s", (n,)).fetchone():
                pass
            lags.append((time.perf_counter() - started) * 1000)
    return lags


def run(events: int, requests: int) -> dict[str, Any]:
    primary = PostgresCluster(settings=RECOMMENDED).start()
    try:
        url = primary.create_database(DATABASE)
        _, task, reader, writer = build(url, events)
        standby = PostgresStandby(primary, settings=RECOMMENDED).start()
        bouncer = PgBouncer(primary.url, pool_size=10).start()
        try:
            ways = {
                "primary": {},
                "replica": {"WORKTRAIL_DATABASE_REPLICA_URLS": standby.database_url(DATABASE)},
                "pgbouncer": {
                    "WORKTRAIL_DATABASE_POOLER": "pgbouncer",
                    "WORKTRAIL_DATABASE_LISTEN_URL": url,
                },
            }
            results: dict[str, Any] = {"events": events, "requests": requests}
            with tempfile.TemporaryDirectory(prefix="bench-topology-") as tmp:
                for name, env in ways.items():
                    database = bouncer.database_url(DATABASE) if name == "pgbouncer" else url
                    env = {
                        **env,
                        "WORKTRAIL_RATE_LIMIT_PER_MINUTE": "0",
                        "WORKTRAIL_INTEGRITY_KEY_FILE": str(Path(tmp) / "integrity.key"),
                        "WORKTRAIL_WEBHOOK_WORKER": "0",
                    }
                    with serve(database, Path(tmp), env=env) as server:
                        print(f"  {name}", flush=True)
                        results[name] = measure(server.base_url, task, reader, writer, requests)
            results["replay_lag"] = figures(replay_lag(primary, standby, requests))
            return results
        finally:
            bouncer.stop()
            standby.stop()
    finally:
        primary.stop()


def table_for(results: dict[str, Any]) -> list[list[str]]:
    table = [["way", "page p50/p99 ms", "write p50/p99 ms", "own read p50/p99 ms", "reads"]]
    for name in ("primary", "replica", "pgbouncer"):
        r = results[name]
        table.append(
            [
                name,
                *(
                    f"{r[k]['p50_ms']:.2f} / {r[k]['p99_ms']:.2f}"
                    for k in ("page", "write", "read_after_own_write")
                ),
                ", ".join(f"{s}: {n:,.0f}" for s, n in sorted(r["reads_by_server"].items())),
            ]
        )
    lag = results["replay_lag"]
    table.append(["standby replay lag", f"{lag['p50_ms']:.2f} / {lag['p99_ms']:.2f}", "", "", ""])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    results = run(args.events, args.requests)
    table = table_for(results)
    print_table(table)
    write_results("topology-postgres", results, table)


if __name__ == "__main__":
    main()
