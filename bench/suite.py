"""The performance suite: worktrail against the database's own limit, on SQLite and
PostgreSQL, over HTTP to a real `worktrail serve`.

    python -m bench [--events 1000000] [--backend sqlite|postgres|both] [--rounds 3]

Every figure is the median of several runs with min and max beside it; comparisons are
ratios measured in the same run. Results go to bench/results/suite-<backend>.{json,md}.
The peers figure (bench/peers.py) needs the bench extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.demo import build_demo
from worktrail.errors import StoreError
from worktrail.model import EntityType, Scope
from worktrail.query import CursorCodec, EventQuery, encode_position
from worktrail.store import Store, open_store
from worktrail.store.pg_settings import RECOMMENDED
from worktrail.store.transfer import copy_sqlite_to_postgres
from worktrail.testing.postgres import PostgresServer, start_postgres
from worktrail.testing.server import LiveServer, serve
from worktrail.write import create_organization

from . import raw
from .common import ingest_records, percentile, print_table, summary, write_results
from .load import Load, LoadError, get, wait_idle, wrk_load

ROOT = Path(__file__).resolve().parent

CLIENTS = 16


class Backend:
    """Where the stores live: SQLite files in a folder, or databases on a PostgreSQL server."""

    def __init__(self, kind: str, data: Path) -> None:
        self.kind = kind
        self.data = data
        data.mkdir(parents=True, exist_ok=True)
        self.server: PostgresServer | None = (
            start_postgres(RECOMMENDED) if kind == "postgres" else None
        )

    def url(self, name: str, fresh: bool = False) -> str:
        if self.server is None:
            path = self.data / f"{name}.db"
            if fresh:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{path}"
        return self.server.create_database(name) if fresh else self.server.database_url(name)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


def demo_store(backend: Backend, events: int) -> tuple[str, Store, int, int]:
    """The demo store of `events` events: built once on SQLite and kept in the data folder;
    on PostgreSQL the same history copied in (kept too when the server outlives the run,
    as one named by WORKTRAIL_TEST_DATABASE_URL does)."""
    name = f"suite_{events}"
    sqlite_url = Backend("sqlite", backend.data).url(name)
    store = _open_demo(sqlite_url, events)
    if store is None:
        print(f"building a demo store of {events:,} events ...", flush=True)
        started = time.perf_counter()
        store = open_store(Settings(database_url=sqlite_url))
        store.migrate()
        build_demo(store, events=events)
        print(f"  built in {time.perf_counter() - started:.0f}s", flush=True)
    url = sqlite_url
    if backend.server is not None:
        store.close()
        url = backend.url(name)
        found = _open_demo(url, events)
        if found is None:
            print("copying it into PostgreSQL ...", flush=True)
            url = backend.url(name, fresh=True)
            started = time.perf_counter()

            def copied(n: int) -> None:
                rate = n / (time.perf_counter() - started)
                print(f"  {n:,} events copied ({rate:,.0f}/s)", flush=True)

            copy_sqlite_to_postgres(
                Path(sqlite_url.removeprefix("sqlite:///")), url, progress=copied
            )
            found = _open_demo(url, events)
            assert found is not None
        store = found
    org_id = store.list_orgs()[0].id
    users = store.list_entities(org_id, EntityType.USER, limit=1000)
    owner = next(u.id for u in users if u.state.get("role") == "owner")
    return url, store, org_id, owner


def _open_demo(url: str, events: int) -> Store | None:
    """The store at `url` if it holds a demo organization of at least `events` events."""
    store = open_store(Settings(database_url=url))
    try:
        orgs = store.list_orgs()
    except StoreError:  # no such database, or no schema yet
        orgs = []
    if orgs and orgs[0].last_seq >= events:
        store.migrate()
        return store
    store.close()
    return None


# -- figures ---------------------------------------------------------------------------------


def raw_insert(backend: Backend, source: Store, org_id: int, n: int, rounds: int) -> dict[str, Any]:
    """The rows worktrail writes for the source's first `n` events, in its batches and
    transactions, by the driver's plainest fast path (bench/raw.py)."""
    rows = raw.batches(source, org_id, n)
    rates = [raw.insert_rate(backend.url(f"raw_{i}", fresh=True), rows) for i in range(rounds)]
    return {
        "raw_insert_events_per_s": summary(rates),
        "raw_insert_rows": sum(len(b.events) for b in rows),
        "raw_insert_written": dict(raw.rows_written(rows)),
    }


def batch_ingest(base: str, store: Store, rounds: int, batches: int = 10) -> dict[str, Any]:
    """Batches of 1,000 records to POST /api/v1/changes, a round answered with whole events
    (the default) and a round with `Prefer: return=minimal`, alternating."""
    created = create_organization(store, f"Ingest {time.time()}", "Bench", "bench@ingest.test")
    _, token = create_token(store, created.org_id, created.owner_id, "bench")
    rates: dict[str, list[float]] = {"full": [], "minimal": []}
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as c:
        ws = c.post("/api/v1/workspaces", json={"name": "Bench"}).json()["data"]["id"]
        project = c.post("/api/v1/projects", json={"name": "P", "workspace": ws}).json()["data"]
        n = 0
        for _ in range(rounds):
            for answer, headers in (("full", {}), ("minimal", {"Prefer": "return=minimal"})):
                written, started = 0, time.perf_counter()
                for _ in range(batches):
                    records = ingest_records(n, project["id"])
                    n += len(records)
                    response = c.post("/api/v1/changes", json={"records": records}, headers=headers)
                    response.raise_for_status()
                    written += orjson.loads(response.content)["recorded"]
                rates[answer].append(written / (time.perf_counter() - started))
    return {
        "ingest_events_per_s": summary(rates["full"]),
        "ingest_minimal_events_per_s": summary(rates["minimal"]),
    }


def single_writes(
    base: str, headers: dict[str, str], store: Store, org_id: int, rounds: int, seconds: float
) -> dict[str, Any]:
    """PATCH /api/v1/tasks/{id} from 16 clients, each write a new note (never a no-op)."""
    tasks = [t.id for t in store.list_entities(org_id, EntityType.TASK, limit=CLIENTS * 4)]
    requests = [("PATCH", f"/api/v1/tasks/{task}", '{"notes": "note {n}"}') for task in tasks]
    json_headers = {**headers, "Content-Type": "application/json"}
    loads = [wrk_load(base, requests, json_headers, seconds=seconds) for _ in range(rounds)]
    return {
        "single_writes_per_s": summary([x.requests_per_s for x in loads]),
        "single_writes_p50_ms": summary([x.p50_ms for x in loads]),
        "single_writes_p99_ms": summary([x.p99_ms for x in loads]),
        "single_writes_client_cores": summary([x.client_cores for x in loads]),
    }


def concurrent_figures(name: str, loads: list[Load], out: dict[str, Any], suffix: str = "") -> None:
    """requests/s, p50 and p99 of several runs of one load, as summaries under `name`."""
    out[f"{name}{suffix}_requests_per_s"] = summary([x.requests_per_s for x in loads])
    out[f"{name}{suffix}_p50_ms"] = summary([x.p50_ms for x in loads])
    out[f"{name}{suffix}_p99_ms"] = summary([x.p99_ms for x in loads])
    out[f"{name}{suffix}_client_cores"] = summary([x.client_cores for x in loads])


def history_pages(
    base: str, headers: dict[str, str], store: Store, org_id: int, rounds: int, seconds: float
) -> dict[str, Any]:
    """A 100-event page of /api/v1/events from 16 clients: the newest, one 500,000 events
    deep (half the store when it is smaller), and a project's with its descendants."""
    projects = store.list_entities(org_id, EntityType.PROJECT, limit=1)
    scope = f"project:{projects[0].id}"
    codec = CursorCodec(store.server_secret())
    head = store.head_seq(org_id)
    deep_at = head - 500_000 if head > 600_000 else head // 2
    query = EventQuery(org_id=org_id, limit=100)
    deep = encode_position(codec, query, deep_at)
    out: dict[str, Any] = {"deep_page_position": head - deep_at}
    cases: tuple[tuple[str, dict[str, Any] | None], ...] = (
        ("page_first", {"limit": 100}),
        ("page_deep", {"limit": 100, "cursor": deep}),
        ("page_project", {"limit": 100, "scope": scope}),
        # the floor under every figure: the server answering a request that does nothing
        ("floor_healthz", None),
    )
    loads: dict[str, list[Load]] = {name: [] for name, _ in cases}
    for _ in range(rounds):  # the cases take turns, so that noise hits each of them
        for name, params in cases:
            request = get("/api/v1/events", params) if params else get("/healthz")
            loads[name].append(wrk_load(base, [request], headers, seconds=seconds))
    for name, runs in loads.items():
        concurrent_figures(name, runs, out)
    out["deep_first_ratio"] = out["page_deep_p50_ms"]["median"] / out["page_first_p50_ms"]["median"]
    return out


def sequential_ms(client: httpx.Client, path: str, params: dict[str, Any], n: int = 30) -> float:
    """Median latency of `n` requests one after another (after one to warm up)."""
    latencies = []
    for i in range(n + 1):
        started = time.perf_counter()
        response = client.get(path, params=params)
        if response.status_code >= 400:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
        if i:
            latencies.append((time.perf_counter() - started) * 1000)
    return percentile(latencies, 0.5)


def dialect_requests(
    base: str, headers: dict[str, str], store: Store, org_id: int, rounds: int, seconds: float
) -> dict[str, Any]:
    """One typical request per vendor dialect: the median of one client's requests, and
    p50/p99 with 16 clients at once."""
    store.update_org_settings(org_id, {"kantata_retention_days": 3650})
    workspaces = store.list_entities(org_id, EntityType.WORKSPACE, limit=100)
    projects = store.list_entities(org_id, EntityType.PROJECT, limit=1)
    project = projects[0].id
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        first = client.get("/api/1.0/events", params={"resource": str(project)})
        sync = first.json()["sync"]
        task = client.post("/api/v1/tasks", json={"name": "bench", "project": project})
        task_id = task.json()["data"]["id"]
        for i in range(60):
            client.patch(f"/api/v1/tasks/{task_id}", json={"notes": f"asana {i}"})
        # the workspace with the most task audits, so that skipitems=100000 lands inside it
        busiest = max(
            workspaces,
            key=lambda w: store.count_matching(
                EventQuery(
                    org_id=org_id,
                    scope=Scope(EntityType.WORKSPACE, w.id),
                    subject_types=("task", "comment"),
                )
            ),
        ).id
        tracker = {"Authorization": headers["Authorization"], "X-Org-ID": str(org_id)}
        huddle = f"/tasks/workspace/{busiest}/audits"
        cases: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
            "asana_sync_page": ("/api/1.0/events", {"resource": str(project), "sync": sync}, {}),
            "tracker_page": (
                f"/v2/entities/project/{project}/events/_relative",
                {"perPage": 50, "direction": "backward"},
                tracker,
            ),
            "huddle_first_page": (huddle, {"daysBack": 3650}, {}),
            "huddle_skip_100000": (huddle, {"daysBack": 3650, "skipitems": 100_000}, {}),
            "kantata_most_recent": ("/api/v1/subscribed_events", {"most_recent": "true"}, {}),
            # up to 10,000 events an answer: the heaviest request of the suite
            "worksection_3d": ("/api/oauth2", {"action": "get_events", "period": "3d"}, {}),
        }
        out: dict[str, Any] = {}
        for name, (path, params, extra) in cases.items():
            print(f"  {name} ...", flush=True)
            client.headers.update(extra)
            try:
                singles = [sequential_ms(client, path, params, 10) for _ in range(rounds)]
            except RuntimeError as exc:
                out[f"{name}_error"] = str(exc)[:200]
                continue
            out[f"{name}_ms"] = summary(singles)
            request = get(path, params)
            # long enough for every client to finish a few of the heavier requests
            duration = max(seconds, 3 * CLIENTS * statistics.median(singles) / 1000)
            try:
                loads = [
                    wrk_load(base, [request], {**headers, **extra}, seconds=duration)
                    for _ in range(rounds)
                ]
            except LoadError as exc:
                out[f"{name}_16_clients_error"] = str(exc)[:200]
                continue
            concurrent_figures(name, loads, out, "_16_clients")
    return out


def export(base: str, headers: dict[str, str], pid: int) -> dict[str, Any]:
    started = time.perf_counter()
    rows = 0
    with (
        httpx.Client(base_url=base, headers=headers, timeout=600) as client,
        client.stream("GET", "/api/v1/events", headers={"Accept": "text/csv"}) as response,
    ):
        response.raise_for_status()
        last = b""
        for chunk in response.iter_bytes():
            rows += (last + chunk).count(b"\r\n")  # a CRLF may straddle two chunks
            last = chunk[-1:]
    elapsed = time.perf_counter() - started
    return {
        "export_events_per_s": (rows - 1) / elapsed,
        "export_rows": rows - 1,
        "server_peak_rss_mb": peak_rss_mb(pid),
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tail_latency(base: str, headers: dict[str, str], store: Store, org_id: int) -> dict[str, Any]:
    project = store.list_entities(org_id, EntityType.PROJECT, limit=1)[0].id
    latencies: list[float] = []
    ready = threading.Event()
    count = 100

    def listen() -> None:
        with httpx.stream(
            "GET", base + "/api/v1/events/stream", headers=headers, timeout=60
        ) as response:
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    ready.set()
                if line.startswith("data: "):
                    received = time.time()
                    notes = orjson.loads(line[6:])["after"].get("notes")
                    if not notes or not notes.startswith("sent:"):
                        continue
                    sent = float(notes[5:])
                    latencies.append((received - sent) * 1000)
                    if len(latencies) >= count:
                        return

    listener = threading.Thread(target=listen)
    listener.start()
    ready.wait(10)
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        task = client.post("/api/v1/tasks", json={"name": "tail", "project": project})
        task_id = task.json()["data"]["id"]
        latencies.clear()
        for _ in range(count):
            client.patch(f"/api/v1/tasks/{task_id}", json={"notes": f"sent:{time.time()!r}"})
            time.sleep(0.02)
    listener.join(60)
    return {"tail_p50_ms": percentile(latencies, 0.5), "tail_p99_ms": percentile(latencies, 0.99)}


def peer_figures(
    backend: Backend,
    base: str,
    headers: dict[str, str],
    url: str,
    org_id: int,
    rounds: int,
    batches: int,
    seconds: float,
) -> dict[str, Any]:
    """eventsourcing on the same database, and Datasette on a copy of the events (SQLite)."""
    from . import peers  # needs the bench extra; the other figures do not

    print("  eventsourcing ...", flush=True)
    out = peers.eventsourcing_peer(backend, rounds, batches)
    print("  worktrail as a library ...", flush=True)
    out.update(peers.worktrail_store_figures(backend, rounds, batches))
    print("  worktrail read pages over HTTP ...", flush=True)
    out.update(peers.worktrail_read_pages(base, headers, out["peer_eventsourcing_events"], rounds))
    peer_append = out["peer_eventsourcing_append_events_per_s"]["median"]
    peer_read = out["peer_eventsourcing_read_events_per_s"]["median"]
    # like for like: both libraries in-process on a fresh database, same events and batches
    out["append_to_eventsourcing_ratio"] = (
        out["worktrail_store_append_events_per_s"]["median"] / peer_append
    )
    out["ingest_to_eventsourcing_ratio"] = (
        out["worktrail_store_ingest_events_per_s"]["median"] / peer_append
    )
    out["read_to_eventsourcing_ratio"] = (
        out["worktrail_store_read_events_per_s"]["median"] / peer_read
    )
    # and what a client of the HTTP API gets, against the library in-process
    out["http_read_to_eventsourcing_ratio"] = out["read_pages_events_per_s"]["median"] / peer_read
    if backend.server is None:
        print("  datasette ...", flush=True)
        path = Path(url.removeprefix("sqlite:///"))
        out.update(peers.datasette_peer(base, headers, path, org_id, backend.data, rounds, seconds))
    return out


# -- the run ---------------------------------------------------------------------------------


FIGURES = ("raw", "ingest", "pages", "dialects", "writes", "tail", "export", "peers")


def run_backend(
    kind: str,
    events: int,
    rounds: int,
    data: Path,
    figures: tuple[str, ...] = FIGURES,
    seconds: float = 5.0,
) -> dict[str, Any]:
    backend = Backend(kind, data)
    try:
        url, store, org_id, owner = demo_store(backend, events)
        _, token = create_token(store, org_id, owner, "bench")
        headers = {"Authorization": f"Bearer {token}"}
        results: dict[str, Any] = {"backend": kind, "store_events": store.head_seq(org_id)}
        # batches of 1,000 events a round: ingest over HTTP, and the library comparison
        # (worktrail and the event-store peer), whose rounds write 100,000 events to be stable
        batches = max(1, min(10, events // 1000))
        peer_batches = max(1, min(100, events // 1000))
        raw_n = min(100_000, events)

        def figure(name: str, title: str, run: Callable[[], dict[str, Any]]) -> None:
            """Run one figure if it was asked for; a failure is recorded, and the rest run."""
            if name not in figures:
                return
            print(f"{title} ...", flush=True)
            if live is not None:
                wait_idle(live.process.pid)
            try:
                results.update(run())
            except Exception as exc:  # reported in the table and by the exit status
                results[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:300]
                print(f"  failed: {results[f'{name}_error']}", flush=True)

        def ratio(name: str, numerator: str, denominator: str) -> None:
            if numerator in results and denominator in results:
                results[name] = results[numerator]["median"] / results[denominator]["median"]

        live: LiveServer | None = None
        figure("raw", "raw insert", lambda: raw_insert(backend, store, org_id, raw_n, rounds))
        with serve(url, data) as server:
            live, base = server, server.base_url
            figure("ingest", "batch ingest", lambda: batch_ingest(base, store, rounds, batches))
            ratio("ingest_to_raw_ratio", "ingest_events_per_s", "raw_insert_events_per_s")
            ratio(
                "ingest_minimal_to_raw_ratio",
                "ingest_minimal_events_per_s",
                "raw_insert_events_per_s",
            )
            figure(
                "pages",
                "history pages",
                lambda: history_pages(base, headers, store, org_id, rounds, seconds),
            )
            figure(
                "peers",
                "peers",
                lambda: peer_figures(
                    backend, base, headers, url, org_id, rounds, peer_batches, seconds
                ),
            )
            ratio(
                "http_ingest_to_eventsourcing_append_ratio",
                "ingest_events_per_s",
                "peer_eventsourcing_append_events_per_s",
            )
            figure(
                "dialects",
                "dialects",
                lambda: dialect_requests(base, headers, store, org_id, rounds, seconds),
            )
            figure(
                "writes",
                "single writes",
                lambda: single_writes(base, headers, store, org_id, rounds, seconds),
            )
            figure("tail", "tail latency", lambda: tail_latency(base, headers, store, org_id))

        def export_alone() -> dict[str, Any]:
            # on a server of its own, so that its peak RSS is the export's
            with serve(url, data) as server:
                return export(server.base_url, headers, server.process.pid)

        live = None
        figure("export", "export", export_alone)
        store.close()
        return results
    finally:
        backend.close()


def table_for(results: dict[str, Any]) -> list[list[str]]:
    table = [["figure", "median", "min", "max"]]
    for key, value in results.items():
        if isinstance(value, dict) and "median" in value:
            table.append(
                [key, f"{value['median']:,.2f}", f"{value['min']:,.2f}", f"{value['max']:,.2f}"]
            )
        elif isinstance(value, dict):  # counts, e.g. the rows the raw insert writes
            table.append([key, ", ".join(f"{k} {v:,}" for k, v in value.items()), "", ""])
        elif isinstance(value, float):
            table.append([key, f"{value:,.2f}", "", ""])
        else:
            table.append([key, str(value), "", ""])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=ROOT / ".data")
    parser.add_argument(
        "--seconds",
        type=float,
        default=5.0,
        help="how long each concurrent load runs (wrk), per round",
    )
    parser.add_argument(
        "--figures",
        default=",".join(FIGURES),
        help=f"comma-separated subset of {', '.join(FIGURES)}",
    )
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    # The servers under test answer as fast as they can: the vendor dialects' per-token rate
    # limit (1,500 requests a minute by default) would turn 16 clients' load into 429s.
    os.environ["WORKTRAIL_RATE_LIMIT_PER_MINUTE"] = "0"
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    failed = False
    for kind in kinds:
        figures = tuple(f for f in args.figures.split(",") if f)
        unknown = set(figures) - set(FIGURES)
        if unknown:
            parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
        results = run_backend(kind, args.events, args.rounds, args.data, figures, args.seconds)
        name = f"suite-{kind}" if figures == FIGURES else f"suite-{kind}-{'-'.join(figures)}"
        table = table_for(results)
        print()
        print_table(table)
        path = write_results(name, results, table)
        print(f"\nwritten to {path}\n")
        failed = failed or any(key.endswith("_error") for key in results)
    if failed:
        raise SystemExit("some figures failed (the *_error rows above)")


if __name__ == "__main__":
    main()
