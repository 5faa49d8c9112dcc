"""Live feed latency: how soon after a commit an event reaches the clients of
/api/v1/events/stream, with the server's processes and its clients' numbers as deployed.

    python -m bench.live [--backend sqlite|postgres|both] [--rate 10] [--seconds 20]
                         [--rounds 3] [--scenarios workers4,clients1000]

Scenarios (each `rounds` times; medians with min and max):

- **workers4**: `worktrail serve --workers 4`, 16 clients spread over its processes by the
  kernel, the writes going to whichever process accepts them: most commits are another
  process's, so this is the figure of the cross-process wake-up.
- **clients1000**: `worktrail serve` (one process), 1,000 clients on it.

A writer PATCHes one task `rate` times a second for `seconds` through the server; every
client notes, for each event, its arrival less the event's `recorded_at` (stamped inside the
writing transaction, so the figure includes the commit itself). The clients are asyncio
connections in this process, split over two processes for 1,000; their CPU is reported
beside each figure (a busy load generator reads late, which the figure then includes).
Results go to bench/results/live-<backend>.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson

from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.store import open_store
from worktrail.testing.server import serve
from worktrail.write import create_organization

from .common import percentile, print_table, summary, write_results
from .suite import Backend

TARGET_P99_MS = 50
SCENARIOS = {"workers4": (4, 16), "clients1000": (1, 1000)}  # (processes, clients)
ENV = {"WORKTRAIL_WEBHOOK_WORKER": "0", "WORKTRAIL_LOG_LEVEL": "warning"}


def setup(url: str) -> tuple[str, int]:
    """A migrated store with one organization, a task to write to; the owner's token."""
    store = open_store(Settings(database_url=url))
    store.migrate()
    created = create_organization(store, "Live", "Live", "live@bench.test")
    _, token = create_token(store, created.org_id, created.owner_id, "bench")
    store.close()
    return token, created.org_id


def task_to_write(base: str, auth: dict[str, str]) -> int:
    with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
        ws = client.post("/api/v1/workspaces", json={"name": "W"}).json()["data"]["id"]
        pr = client.post("/api/v1/projects", json={"name": "P", "workspace": ws})
        project = pr.json()["data"]["id"]
        task = client.post("/api/v1/tasks", json={"name": "live", "project": project})
        return int(task.json()["data"]["id"])


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def _clients(
    url: str, auth: dict[str, str], count: int, ready: Any, stop: Any, out: Any
) -> None:
    """`count` feed clients; each event's lag in ms into `out` when `stop` is set."""
    lags: list[float] = []
    connected = 0

    async def follow(session: aiohttp.ClientSession) -> None:
        nonlocal connected
        async with session.get(url, headers=auth) as response:
            async for raw in response.content:
                if raw.startswith(b": connected"):
                    connected += 1
                    if connected == count:
                        ready.set()
                elif raw.startswith(b"data: "):
                    received = time.time()
                    event = orjson.loads(raw[6:])
                    if event.get("subject", {}).get("type") == "task":
                        lags.append((received - _epoch(event["recorded_at"])) * 1000)

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(follow(session)) for _ in range(count)]
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.put((lags, usage.ru_utime + usage.ru_stime))


def _client_process(
    url: str, auth: dict[str, str], count: int, ready: Any, stop: Any, out: Any
) -> None:
    asyncio.run(_clients(url, auth, count, ready, stop, out))


def one_round(
    base: str, auth: dict[str, str], task: int, clients: int, rate: float, seconds: float
) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    splits = [clients] if clients < 100 else [clients // 2, clients - clients // 2]
    stop, out = context.Event(), context.Queue()
    readies = [context.Event() for _ in splits]
    procs = [
        context.Process(
            target=_client_process,
            args=(base + "/api/v1/events/stream", auth, n, ready, stop, out),
        )
        for n, ready in zip(splits, readies, strict=True)
    ]
    for p in procs:
        p.start()
    for ready in readies:
        if not ready.wait(120):
            raise RuntimeError("the feed clients did not all connect")
    written = 0
    with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            client.patch(f"/api/v1/tasks/{task}", json={"notes": f"n{written}"}).raise_for_status()
            written += 1
            time.sleep(max(0.0, written / rate - (time.monotonic() - start)))
    time.sleep(2)  # the last events' way to every client
    stop.set()
    lags: list[float] = []
    cpu = 0.0
    for _ in procs:
        got, used = out.get(timeout=120)
        lags += got
        cpu += used
    for p in procs:
        p.join(30)
    expected = written * clients
    if len(lags) < expected:
        raise RuntimeError(f"{expected - len(lags)} of {expected} event deliveries were missed")
    return {
        "p50_ms": percentile(lags, 0.5),
        "p99_ms": percentile(lags, 0.99),
        "deliveries": float(len(lags)),
        "client_cores": cpu / elapsed,
    }


def run_backend(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"backend": kind, "rate_events_per_s": args.rate}
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        backend = Backend(kind, Path(tmp))
        try:
            for name in args.scenarios.split(","):
                processes, clients = SCENARIOS[name]
                url = backend.url(f"live_{name}", fresh=True)
                token, _ = setup(url)
                auth = {"Authorization": f"Bearer {token}"}
                extra = ("--workers", str(processes)) if processes > 1 else ()
                p50s, p99s, cores = [], [], []
                with serve(url, Path(tmp), *extra, env=ENV) as server:
                    task = task_to_write(server.base_url, auth)
                    for n in range(args.rounds):
                        got = one_round(
                            server.base_url, auth, task, clients, args.rate, args.seconds
                        )
                        p50s.append(got["p50_ms"])
                        p99s.append(got["p99_ms"])
                        cores.append(got["client_cores"])
                        print(
                            f"  {kind} {name} round {n + 1}: p50 {got['p50_ms']:.1f} ms, "
                            f"p99 {got['p99_ms']:.1f} ms over {got['deliveries']:,.0f} "
                            f"deliveries (clients used {got['client_cores']:.2f} cores)",
                            flush=True,
                        )
                results[name] = {
                    "processes": processes,
                    "clients": clients,
                    "p50_ms": summary(p50s),
                    "p99_ms": summary(p99s),
                    "client_cores": summary(cores),
                }
        finally:
            backend.close()
    results["target_p99_ms"] = TARGET_P99_MS
    results["cpus"] = os.cpu_count()
    return results


def table_for(results: dict[str, Any]) -> list[list[str]]:
    def cell(s: dict[str, float], unit: str, digits: int = 1) -> str:
        low, high = s["min"], s["max"]
        return f"{s['median']:.{digits}f}{unit} ({low:.{digits}f} to {high:.{digits}f})"

    rows = [["scenario", "commit → client p50", "p99", "clients' CPU", "target p99"]]
    for name in SCENARIOS:
        if name in results:
            r = results[name]
            rows.append(
                [
                    f"{r['processes']} process(es), {r['clients']} clients",
                    cell(r["p50_ms"], " ms"),
                    cell(r["p99_ms"], " ms"),
                    cell(r["client_cores"], " cores", 2),
                    f"≤ {TARGET_P99_MS} ms",
                ]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rate", type=float, default=10.0, help="writes a second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for kind in kinds:
        print(f"{kind}: live feed, {args.rate:g} writes/s for {args.seconds:g} s ...", flush=True)
        results = run_backend(kind, args)
        table = table_for(results)
        print_table(table)
        print(f"results: {write_results(f'live-{kind}', results, table)}")


if __name__ == "__main__":
    main()
