"""Webhook delivery: how fast worktrail pushes, and how soon after a commit it arrives.

    python -m bench.webhooks [--backend sqlite|postgres|both] [--events 20000]
                             [--rate 200] [--seconds 30] [--rounds 3] [--endpoints 4]
                             [--workers 1]

Two figures per database, each the median of `rounds` runs with min and max:

- **deliveries/s**: `events` events are written while every subscription is paused, then
  the subscriptions are resumed and `workers` `worktrail worker` processes deliver the backlog to a
  receiver on loopback (an aiohttp server in its own process answering 204, as a receiver
  that queues the work would). The figure is deliveries over the time from the first
  receipt to the last one, across `endpoints` subscriptions to that receiver. Beside it: the
  CPU the worker and the receiver used meanwhile (in cores), and deliveries per CPU-second
  of the worker — what one core of `worktrail worker` delivers, whatever the machine.
- **commit → receipt p99**: a real `worktrail serve` (delivering webhooks itself, its
  default) takes single-event writes at a steady `rate` events/s for `seconds` seconds; the
  receiver notes, for each delivery, its arrival time less the event's `recorded_at`
  (stamped inside the writing transaction, so the figure includes the commit itself).

Every delivery is checked: signed (webhook-id, webhook-timestamp, webhook-signature
headers), and each (subscription, event) received exactly once. Results go to
bench/results/webhooks-<backend>.{json,md}.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.store import Store, open_store
from worktrail.store.pg_settings import RECOMMENDED
from worktrail.testing.postgres import PostgresServer, start_postgres
from worktrail.testing.server import free_port, serve
from worktrail.write import create_organization

from .common import ingest_records, percentile, print_table, summary, write_results

TARGET_DELIVERIES_PER_S = 2000
TARGET_P99_MS = 250


# -- the receiver: its own process, so its CPU is not the worker's --------------------------


def _receive(port: int) -> None:
    """An aiohttp server that notes every delivery: (webhook-id, arrival, recorded_at)."""
    from aiohttp import web

    seen: list[tuple[str, float, str]] = []
    unsigned = 0

    async def deliver(request: web.Request) -> web.Response:
        nonlocal unsigned
        body = await request.read()
        arrived = time.time()
        headers = request.headers
        if not all(h in headers for h in ("webhook-id", "webhook-timestamp", "webhook-signature")):
            unsigned += 1
        seen.append((headers.get("webhook-id", ""), arrived, orjson.loads(body)["recorded_at"]))
        return web.Response(status=204)

    async def stats(_: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps({"received": seen, "unsigned": unsigned}),
            content_type="application/json",
        )

    async def count(_: web.Request) -> web.Response:
        cpu = time.process_time()  # the receiver's own CPU seconds so far
        body = orjson.dumps({"received": len(seen), "unsigned": unsigned, "cpu": cpu})
        return web.Response(body=body, content_type="application/json")

    async def reset(_: web.Request) -> web.Response:
        nonlocal unsigned
        seen.clear()
        unsigned = 0
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook/{n}", deliver)
    app.router.add_get("/stats", stats)
    app.router.add_get("/count", count)
    app.router.add_post("/reset", reset)
    app.router.add_get("/healthz", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@contextmanager
def receiver(tmp: Path) -> Iterator[str]:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=_receive, args=(port,))
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not process.is_alive():
                raise RuntimeError("the receiver did not start")
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.join(10)


def received(base: str) -> tuple[list[tuple[str, float, str]], int]:
    stats = orjson.loads(httpx.get(base + "/stats", timeout=60).content)
    return [(str(a), float(b), str(c)) for a, b, c in stats["received"]], int(stats["unsigned"])


def receiver_cpu(base: str) -> float:
    """The receiver's CPU seconds so far."""
    return float(orjson.loads(httpx.get(base + "/count", timeout=60).content)["cpu"])


def wait_for(base: str, count: int, timeout: float) -> list[tuple[str, float, str]]:
    """The receiver's deliveries once it has `count` of them (an error after `timeout` s).
    While waiting it asks only for the count: the whole list is fetched once, at the end,
    so that the polling costs the machine next to nothing while deliveries are measured."""
    deadline = time.monotonic() + timeout
    while True:
        tally = orjson.loads(httpx.get(base + "/count", timeout=60).content)
        if tally["unsigned"]:
            raise RuntimeError(
                f"{tally['unsigned']} deliveries came without Standard Webhooks headers"
            )
        if tally["received"] >= count:
            return received(base)[0]
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {tally['received']} of {count} deliveries arrived in {timeout:.0f} s"
            )
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def once_each(got: list[tuple[str, float, str]], expected: int) -> None:
    ids = {message for message, _, _ in got}
    if len(ids) != expected or len(got) != expected:
        raise RuntimeError(f"{len(got)} deliveries of {len(ids)} messages, {expected} expected")


# -- the stores -------------------------------------------------------------------------------


class Backend:
    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        self.tmp = tmp
        self.server: PostgresServer | None = (
            start_postgres(RECOMMENDED) if kind == "postgres" else None
        )
        self.made = 0

    def fresh_url(self) -> str:
        self.made += 1
        name = f"hooks_{self.made}"
        if self.server is None:
            return f"sqlite:///{self.tmp / name}.db"
        return self.server.create_database(name)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


def setup(url: str) -> tuple[Store, str]:
    """A migrated store with one organization; its owner's token."""
    store = open_store(Settings(database_url=url))
    store.migrate()
    created = create_organization(store, "Bench", "Bench", "bench@hooks.test")
    _, token = create_token(store, created.org_id, created.owner_id, "bench")
    return store, token


def subscribe(client: httpx.Client, hooks: str, endpoints: int, status: str) -> list[int]:
    """`endpoints` subscriptions to the tasks' events (not to their own, which the
    subscribing and resuming write)."""
    ids = []
    for n in range(endpoints):
        hook = {"url": f"{hooks}/hook/{n}", "filter": {"subject_type": "task"}}
        made = client.post("/api/v1/webhooks", json=hook)
        made.raise_for_status()
        ids.append(made.json()["data"]["id"])
        if status != "active":
            client.patch(f"/api/v1/webhooks/{ids[-1]}", json={"status": status}).raise_for_status()
    return ids


def project(client: httpx.Client) -> int:
    ws = client.post("/api/v1/workspaces", json={"name": "Bench"}).json()["data"]["id"]
    made = client.post("/api/v1/projects", json={"name": "P", "workspace": ws})
    return int(made.json()["data"]["id"])


ENV = {"WORKTRAIL_WEBHOOKS_ALLOW_PRIVATE": "1", "WORKTRAIL_LOG_LEVEL": "warning"}
SERVE_ONLY = {"WORKTRAIL_WEBHOOK_WORKER": "0"}  # the backlog is left to `worktrail worker`


# -- deliveries/s -------------------------------------------------------------------------------


def throughput(
    backend: Backend, hooks: str, events: int, endpoints: int, workers: int
) -> dict[str, float]:
    """Deliveries/s of `workers` `worktrail worker` processes working off a backlog, and the
    CPU they used."""
    url = backend.fresh_url()
    store, token = setup(url)
    store.close()
    auth = {"Authorization": f"Bearer {token}"}
    os.environ.update({**ENV, **SERVE_ONLY})
    with (
        serve(url, backend.tmp) as server,
        httpx.Client(base_url=server.base_url, headers=auth, timeout=120) as client,
    ):
        ids = subscribe(client, hooks, endpoints, "paused")
        pid = project(client)
        written = 0
        while written < events:
            records = ingest_records(written, pid, min(1000, events - written))
            client.post("/api/v1/changes", json={"records": records}).raise_for_status()
            written += len(records)
        total = written * endpoints  # every task event, to every subscription
        httpx.post(hooks + "/reset")
        receiver_before = receiver_cpu(hooks)
        for hook in ids:
            client.patch(f"/api/v1/webhooks/{hook}", json={"status": "active"}).raise_for_status()
    log = backend.tmp / "worker.log"
    with log.open("w") as out:
        started = [
            subprocess.Popen(
                [sys.executable, "-m", "worktrail.cli", "worker"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **ENV, "WORKTRAIL_DATABASE_URL": url},
            )
            for _ in range(workers)
        ]
    with running_workers(started, log):
        got = wait_for(hooks, total, timeout=600)
        # start-up included: ~1 s of a run of minutes
        cpu = sum(cpu_seconds(worker.pid) for worker in started)
    receiving = receiver_cpu(hooks) - receiver_before
    once_each(got, total)
    times = sorted(arrived for _, arrived, _ in got)
    elapsed = times[-1] - times[0]
    return {
        "deliveries_per_s": (len(times) - 1) / elapsed,
        "worker_cores": cpu / elapsed,
        "deliveries_per_worker_cpu_s": len(times) / cpu,
        "receiver_cores": receiving / elapsed,
    }


@contextmanager
def running_workers(workers: list[subprocess.Popen[bytes]], log: Path) -> Iterator[None]:
    try:
        yield
    except Exception:
        print(log.read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)


# -- commit → receipt ---------------------------------------------------------------------------


def latency(backend: Backend, hooks: str, rate: float, seconds: float) -> dict[str, float]:
    url = backend.fresh_url()
    store, token = setup(url)
    store.close()
    auth = {"Authorization": f"Bearer {token}"}
    os.environ.update(ENV)
    os.environ.pop("WORKTRAIL_WEBHOOK_WORKER", None)
    with (
        serve(url, backend.tmp) as server,
        httpx.Client(base_url=server.base_url, headers=auth, timeout=60) as client,
    ):
        pid = project(client)
        task = client.post("/api/v1/tasks", json={"name": "T", "project": pid}).json()["data"]
        subscribe(client, hooks, 1, "active")
        httpx.post(hooks + "/reset")
        sent = paced_writes(server.base_url, auth, task["id"], rate, seconds)
        got = wait_for(hooks, sent, timeout=120)
    once_each(got, sent)
    skip = int(rate * 2)  # the first two seconds: connections opening, caches warming
    delays = [(arrived - _epoch(recorded)) * 1000 for _, arrived, recorded in got[skip:]]
    return {"p50_ms": percentile(delays, 0.5), "p99_ms": percentile(delays, 0.99)}


def paced_writes(base: str, auth: dict[str, str], task: int, rate: float, seconds: float) -> int:
    """PATCH the task `rate` times a second for `seconds`, from a few threads so one slow
    answer does not hold the pace back; how many writes were acknowledged."""
    threads, count = 4, int(rate * seconds)
    done = [0] * threads
    started = time.perf_counter()

    def write(k: int) -> None:
        with httpx.Client(base_url=base, headers=auth, timeout=60) as c:
            for n in range(k, count, threads):
                delay = started + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                c.patch(f"/api/v1/tasks/{task}", json={"notes": f"note {n}"}).raise_for_status()
                done[k] += 1

    workers = [threading.Thread(target=write, args=(k,)) for k in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return sum(done)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# -- the run ------------------------------------------------------------------------------------


def run_backend(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-hooks-") as tmp:
        backend = Backend(kind, Path(tmp))
        try:
            with receiver(Path(tmp)) as hooks:
                rates, cores, per_cpu, rx, p50s, p99s = [], [], [], [], [], []
                for n in range(args.rounds):
                    pushed = throughput(backend, hooks, args.events, args.endpoints, args.workers)
                    rates.append(pushed["deliveries_per_s"])
                    cores.append(pushed["worker_cores"])
                    per_cpu.append(pushed["deliveries_per_worker_cpu_s"])
                    rx.append(pushed["receiver_cores"])
                    figure = latency(backend, hooks, args.rate, args.seconds)
                    p50s.append(figure["p50_ms"])
                    p99s.append(figure["p99_ms"])
                    print(
                        f"  {kind} round {n + 1}: {rates[-1]:,.0f} deliveries/s "
                        f"(worker {cores[-1]:.2f} cores, {per_cpu[-1]:,.0f} a CPU-second; "
                        f"receiver {rx[-1]:.2f} cores), "
                        f"commit → receipt p50 {p50s[-1]:.1f} ms, p99 {p99s[-1]:.1f} ms",
                        flush=True,
                    )
        finally:
            backend.close()
    return {
        "backend": kind,
        "events": args.events,
        "endpoints": args.endpoints,
        "workers": args.workers,
        "rate_events_per_s": args.rate,
        "seconds": args.seconds,
        "deliveries_per_s": summary(rates),
        "worker_cores": summary(cores),
        "deliveries_per_worker_cpu_s": summary(per_cpu),
        "receiver_cores": summary(rx),
        "commit_to_receipt_p50_ms": summary(p50s),
        "commit_to_receipt_p99_ms": summary(p99s),
        "targets": {
            "deliveries_per_s": TARGET_DELIVERIES_PER_S,
            "commit_to_receipt_p99_ms": TARGET_P99_MS,
        },
        "cpus": os.cpu_count(),
    }


def table_for(results: dict[str, Any]) -> list[list[str]]:
    def cell(figure: dict[str, float], unit: str, digits: int = 1) -> str:
        low, mid, high = (f"{figure[k]:,.{digits}f}" for k in ("min", "median", "max"))
        return f"{mid}{unit} ({low} to {high})"

    return [
        ["figure", "median (min to max)", "target"],
        [
            "deliveries/s",
            cell(results["deliveries_per_s"], ""),
            f"≥ {TARGET_DELIVERIES_PER_S:,}",
        ],
        ["worker CPU while delivering", cell(results["worker_cores"], " cores", 2), ""],
        ["receiver CPU meanwhile", cell(results["receiver_cores"], " cores", 2), ""],
        [
            "deliveries per worker CPU-second",
            cell(results["deliveries_per_worker_cpu_s"], ""),
            "",
        ],
        ["commit → receipt p50", cell(results["commit_to_receipt_p50_ms"], " ms"), ""],
        [
            "commit → receipt p99",
            cell(results["commit_to_receipt_p99_ms"], " ms"),
            f"≤ {TARGET_P99_MS} ms",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for kind in kinds:
        print(
            f"{kind}: {args.events:,} events to {args.endpoints} endpoints, "
            f"{args.workers} worker process(es) ...",
            flush=True,
        )
        results = run_backend(kind, args)
        table = table_for(results)
        print_table(table)
        name = f"webhooks-{kind}" + (f"-{args.workers}-workers" if args.workers > 1 else "")
        print(f"results: {write_results(name, results, table)}")


if __name__ == "__main__":
    main()
