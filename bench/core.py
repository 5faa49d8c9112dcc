"""Core figures on SQLite: batch ingest through POST /api/v1/changes, and the time of a
100-event page of /api/v1/events at the first page and deep into a store of a million
events, all over HTTP against a real `worktrail serve`.

    python -m bench.core [--events 1000000] [--rounds 5] [--data bench/.data]

The demo store is built once and reused (it takes a few minutes). Every figure is the
median of several runs, with min and max beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import RESULTS, summary
from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.demo import build_demo
from worktrail.model import EntityType
from worktrail.orgs import create_organization
from worktrail.query import CursorCodec, EventQuery, encode_position
from worktrail.store import Store, open_store

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from tests.live import serve  # noqa: E402


def demo_store(path: Path, events: int) -> tuple[Store, int, int]:
    store = open_store(Settings(database_url=f"sqlite:///{path}"))
    store.migrate()
    orgs = store.list_orgs()
    if orgs and orgs[0].last_seq >= events:
        org_id = orgs[0].id
        owner = next(
            u.id
            for u in store.list_entities(org_id, EntityType.USER, limit=1000)
            if u.state.get("role") == "owner"
        )
        return store, org_id, owner
    if orgs:
        raise SystemExit(f"{path} holds a smaller store; delete it to rebuild")
    print(f"building a demo store of {events:,} events in {path} ...", flush=True)
    started = time.perf_counter()
    last = [0.0]

    def progress(n: int) -> None:
        if time.perf_counter() - last[0] > 10:
            last[0] = time.perf_counter()
            print(f"  {n:,} events", flush=True)

    result = build_demo(store, events=events, progress=progress)
    print(f"built in {time.perf_counter() - started:.0f}s", flush=True)
    return store, result.org_id, result.owner_id


def time_get(client: httpx.Client, url: str, params: dict[str, Any], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url, params=params)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        assert len(response.json()["data"]) == params["limit"]
    return samples


def bench_pages(store: Store, org_id: int, base: str, token: str, rounds: int) -> dict[str, Any]:
    codec = CursorCodec(store.server_secret())
    head = store.head_seq(org_id)
    query = EventQuery(org_id=org_id, limit=100)
    deep_cursor = encode_position(codec, query, head - 500_000 if head > 600_000 else head // 2)
    # the project with the longest history, for a scoped page
    projects = store.list_entities(org_id, EntityType.PROJECT, limit=1000)
    project = projects[0].id
    results: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        time_get(client, "/api/v1/events", {"limit": 100}, 20)  # warm up
        first = time_get(client, "/api/v1/events", {"limit": 100}, 50 * rounds)
        deep = time_get(
            client, "/api/v1/events", {"limit": 100, "cursor": deep_cursor}, 50 * rounds
        )
        scoped = time_get(
            client, "/api/v1/events", {"limit": 100, "scope": f"project:{project}"}, 50 * rounds
        )
    results["page_first_ms"] = summary(first)
    results["page_deep_ms"] = summary(deep)
    results["page_deep_position"] = head - 500_000 if head > 600_000 else head // 2
    results["page_project_first_ms"] = summary(scoped)
    results["deep_first_ratio"] = statistics.median(deep) / statistics.median(first)
    return results


def bench_ingest(store: Store, base: str, rounds: int, batches: int = 10) -> dict[str, Any]:
    created = create_organization(store, f"Ingest {time.time()}", "Bench", "bench@ingest.test")
    _, token = create_token(store, created.org_id, created.owner_id, "bench")
    headers = {"Authorization": f"Bearer {token}"}
    rates = []
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        ws = client.post("/api/v1/workspaces", json={"name": "Bench"}).json()["data"]["id"]
        project = client.post("/api/v1/projects", json={"name": "P", "workspace": ws})
        project_id = project.json()["data"]["id"]
        n = 0
        for round_ in range(rounds):
            written = 0
            started = time.perf_counter()
            for _ in range(batches):
                records = []
                for i in range(1000):
                    n += 1
                    if i % 2 == 0:
                        state = {"name": f"task {n}", "project": project_id, "tags": ["x"]}
                        records.append({"type": "task", "id": f"t-{n}", "state": state})
                    else:
                        records.append(
                            {
                                "op": "change",
                                "type": "task",
                                "id": f"t-{n - 1}",
                                "changes": [{"field": "notes", "new": f"n{n}"}],
                                "idempotency_key": f"k-{n}",
                            }
                        )
                response = client.post("/api/v1/changes", json={"records": records})
                response.raise_for_status()
                written += response.json()["recorded"]
            elapsed = time.perf_counter() - started
            rates.append(written / elapsed)
            print(f"  ingest round {round_ + 1}: {written / elapsed:,.0f} events/s", flush=True)
    return {"ingest_events_per_s": summary(rates), "ingest_batch_size": 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=ROOT / ".data")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    path = args.data / f"core-{args.events}.db"
    store, org_id, owner = demo_store(path, args.events)
    _, token = create_token(store, org_id, owner, "bench")
    results: dict[str, Any] = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "store_events": store.head_seq(org_id),
    }
    with serve(f"sqlite:///{path}", args.data) as server:
        results.update(bench_pages(store, org_id, server.base_url, token, args.rounds))
        results.update(bench_ingest(store, server.base_url, args.rounds))
    print()
    print(f"{'figure':<40} {'median':>10} {'min':>10} {'max':>10}")
    for key, value in results.items():
        if isinstance(value, dict):
            print(f"{key:<40} {value['median']:>10.2f} {value['min']:>10.2f} {value['max']:>10.2f}")
        elif isinstance(value, float):
            print(f"{key:<40} {value:>10.2f}")
        else:
            print(f"{key:<40} {value!s:>10}")
    out = RESULTS / "core.json"
    RESULTS.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
