"""The web UI's speed: the server's time for the timeline and for entity pages on the demo
store of a million events, on SQLite and PostgreSQL, against a real `worktrail serve`.

    python -m bench.ui [--events 1000000] [--backend sqlite|postgres|both] [--rounds 3]

One signed-in client asks each page `--requests` times in turn; the server's own time is
what its `Server-Timing` header says (the client's, loopback included, is beside it). Each
figure is the median of the rounds' p50 and p95, with min and max. The first view of a
filter counts its events over the whole history (ui/tallies.py) and is reported apart, as
"cold" (the page waits half a second for the count, then goes without it; the count
goes on in the server, and the measured views start once every count is done); the views
after it count only what was committed since. Results go to
bench/results/ui-<backend>.{json,md}. The target: p95 at most 100 ms.
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
from worktrail.model import EntityType, EventQuery, Scope
from worktrail.store import Store
from worktrail.testing.server import serve

from .common import percentile, print_table, summary, write_results
from .suite import ROOT, Backend, demo_store

TARGET_MS = 100.0


def signed_in(base: str, token: str) -> httpx.Client:
    """A client with a UI session, as a browser has after signing in."""
    client = httpx.Client(base_url=base, timeout=120)
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    response = client.post("/login", data={"token": token, "csrf": csrf[1], "next": "/"})
    if response.status_code != 303:
        raise RuntimeError(f"signing in failed: {response.status_code}")
    return client


def timed(client: httpx.Client, path: str) -> tuple[float, float]:
    """(server ms, client ms) of one page view."""
    started = time.perf_counter()
    response = client.get(path)
    client_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
    timing = re.search(r"app;dur=([\d.]+)", response.headers.get("server-timing", ""))
    assert timing is not None, f"{path} sent no Server-Timing"
    return float(timing[1]), client_ms


def pages(store: Store, org_id: int) -> dict[str, str]:
    """The pages measured: the timeline, filtered and scoped, and entity pages of a busy
    task and project."""
    projects = store.list_entities(org_id, EntityType.PROJECT, limit=50)
    busiest = max(
        projects,
        key=lambda p: store.count_matching(
            EventQuery(org_id, scope=Scope(EntityType.PROJECT, p.id))
        ),
    )
    tasks = store.list_entities(org_id, EntityType.TASK, container_id=busiest.id, limit=50)
    task = max(
        tasks,
        key=lambda t: store.count_matching(EventQuery(org_id, scope=Scope(EntityType.TASK, t.id))),
    )
    return {
        "timeline": "/",
        "timeline_filtered": "/?type=task&action=closed",
        "timeline_project": f"/?scope=project:{busiest.id}",
        "timeline_page_2": "",  # the older page of the timeline, filled in below
        "entity_task": f"/tasks/{task.id}",
        "entity_project": f"/projects/{busiest.id}",
    }


def run_backend(kind: str, events: int, rounds: int, requests: int, data: Path) -> dict[str, Any]:
    backend = Backend(kind, data)
    try:
        url, store, org_id, owner = demo_store(backend, events)
        _, token = create_token(store, org_id, owner, "bench ui")
        cases = pages(store, org_id)
        store.close()
        with tempfile.TemporaryDirectory() as tmp, serve(url, Path(tmp)) as server:
            client = signed_in(server.base_url, token)
            cold = timed(client, "/")[0]  # the organization's events counted, all of them
            older = re.search(r'href="([^"]+)" rel="next"', client.get("/").text)
            assert older is not None
            cases["timeline_page_2"] = older[1].replace("&amp;", "&")
            return {**measure(client, cases, rounds, requests), "timeline_cold_ms": cold}
    finally:
        backend.close()


def measure(
    client: httpx.Client, cases: dict[str, str], rounds: int, requests: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path in cases.items():  # the first view of each: its counts start cold
        out[f"{name}_cold_ms"] = timed(client, path)[0]
    for path in cases.values():  # the first counts finish in the server's background
        deadline = time.monotonic() + 600
        while "Counting the events" in client.get(path).text:
            assert time.monotonic() < deadline, f"{path}: its events were never counted"
            time.sleep(0.5)
    p50: dict[str, list[float]] = {name: [] for name in cases}
    p95: dict[str, list[float]] = {name: [] for name in cases}
    client_p50: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, path in cases.items():  # the pages take turns, so noise hits them all
            samples = [timed(client, path) for _ in range(requests)]
            server_ms = [s for s, _ in samples]
            p50[name].append(percentile(server_ms, 0.5))
            p95[name].append(percentile(server_ms, 0.95))
            client_p50[name].append(statistics.median(c for _, c in samples))
    for name in cases:
        out[f"{name}_p50_ms"] = summary(p50[name])
        out[f"{name}_p95_ms"] = summary(p95[name])
        out[f"{name}_client_p50_ms"] = summary(client_p50[name])
    out["target_met"] = all(out[f"{name}_p95_ms"]["median"] <= TARGET_MS for name in cases)
    return out


def table_for(results: dict[str, Any], names: list[str]) -> list[list[str]]:
    table = [["page", "server p50 ms", "server p95 ms", "client p50 ms", "first view ms"]]
    for name in names:
        p50, p95 = results[f"{name}_p50_ms"], results[f"{name}_p95_ms"]
        table.append(
            [
                name,
                f"{p50['median']:.1f} ({p50['min']:.1f}-{p50['max']:.1f})",
                f"{p95['median']:.1f} ({p95['min']:.1f}-{p95['max']:.1f})",
                f"{results[f'{name}_client_p50_ms']['median']:.1f}",
                f"{results[f'{name}_cold_ms']:.0f}",
            ]
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ui",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="views of each page a round")
    parser.add_argument("--data", type=Path, default=ROOT / ".data")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for kind in kinds:
        results = run_backend(kind, args.events, args.rounds, args.requests, args.data)
        names = [k.removesuffix("_p95_ms") for k in results if k.endswith("_p95_ms")]
        table = table_for(results, names)
        print()
        print_table(table)
        print(f"\np95 at most {TARGET_MS:.0f} ms on every page: {results['target_met']}")
        print(f"written to {write_results(f'ui-{kind}', results, table)}\n")


if __name__ == "__main__":
    main()
