"""Memory under a long mixed load: does a live `worktrail serve` stay flat?

    python -m bench.soak [--backend sqlite|postgres|both] [--minutes 30] [--warmup 300]

A real server, on a fresh copy of the demo store (built once and kept, as by the suite),
takes a mixed load from wrk for `warmup` seconds plus `minutes`: native writes (PATCH and
POST of tasks, POST /api/v1/changes batches that create tasks and change them with new
idempotency keys, and a batch replayed with known keys) and reads (history pages followed
by their cursors, a page deep in the history, a project's and a task's history, an Asana
sync page and a Tracker page). The server's resident memory (VmRSS, and RssAnon: the
same without mapped files) is sampled from /proc all along; the figure is the
least-squares slope of RSS over the samples after warm-up, in MB per minute.

Warm-up is growth that stops: SQLite's page caches filling (up to 32 MiB for the writer
and 8 MiB for each reader connection, ~35 MB under this load, full after about two
minutes), caches of statements and parsed values reaching their bounds, the allocator's
arenas growing to the load's working set. The default of five minutes covers them on both
databases with room to spare. Results go to bench/results/soak-<backend>.{json,md}.

With --probe the server also reports from inside where its memory goes (SQLite's caches,
malloc, Python objects, the parsed-scope cache) to bench/results/soak-<backend>-probe.jsonl,
every 30 seconds (bench/probe/sitecustomize.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.model import EntityType
from worktrail.query import CursorCodec, EventQuery, encode_position
from worktrail.store import Store, open_store
from worktrail.testing.server import serve

from .common import RESULTS, print_table, write_results
from .load import LoadError, lua_string
from .suite import ROOT, Backend, demo_store

TARGET_MB_PER_MIN = 0.2
PROBE = Path(__file__).resolve().parent / "probe"  # a sitecustomize the server then imports
CHAIN = 20  # pages a cursor chain walks before it starts again at the newest
BATCH = 20  # records of a POST /api/v1/changes of new tasks

# The load as a wrk script. One connection per wrk thread: a response then always answers
# the thread's last request, which is how a "follow" request knows that the cursor it
# reads belongs to the chain it walks.
SCRIPT = """
local requests = {%(requests)s}
local headers = {%(headers)s}
local run = %(run)s
local counter = 0
local threads = 0
local last = nil
local cursor = nil
local pages = 0

setup = function(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

request = function()
  counter = counter + 1
  local r = requests[(counter %% #requests) + 1]
  last = r[1]
  local path = r[3]
  if last == "follow" and cursor then
    path = path .. "&cursor=" .. cursor
  end
  local body = r[4]
  if body then
    -- {n}: a text no other request of any run uses (new external ids, new keys)
    body = string.gsub(body, "{n}", run .. "-" .. thread_id .. "-" .. counter)
  end
  return wrk.format(r[2], path, headers, body)
end

response = function(status, headers, body)
  if last == "follow" then
    local next = headers["x-next-cursor"] or headers["X-Next-Cursor"]
    pages = pages + 1
    if next and pages < %(chain)d then
      cursor = next
    else
      cursor = nil
      pages = 0
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"status": %%d, "connect": %%d, "read": %%d, "write": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""

Request = tuple[str, str, str, str | None]  # kind (read, follow, write), method, path, body


@dataclass(frozen=True)
class Target:
    """What the load names: a project, some tasks, a token and ready-made positions."""

    org_id: int
    project: int
    tasks: list[int]
    headers: dict[str, str]
    deep_cursor: str
    asana_sync: str


def soak_store(backend: Backend, events: int) -> tuple[str, Store, int, int]:
    """A fresh copy of the demo store of `events` events: a soak writes hundreds of
    thousands of events, and every run starts from the same history."""
    url, store, org_id, owner = demo_store(backend, events)
    store.close()
    name = f"soak_{events}"
    if backend.server is None:
        target = backend.url(name, fresh=True)
        source = sqlite3.connect(url.removeprefix("sqlite:///"))
        copy = sqlite3.connect(target.removeprefix("sqlite:///"))
        try:
            source.backup(copy)
        finally:
            source.close()
            copy.close()
    else:  # nobody is connected to the demo database now: it can be the template
        target = backend.server.create_database(name, template=url.rpartition("/")[2])
    return target, open_store(Settings(database_url=target)), org_id, owner


def prepare(base: str, store: Store, org_id: int, owner: int) -> Target:
    """A token, the entities the load writes to, a deep cursor and an Asana sync token."""
    _, token = create_token(store, org_id, owner, "soak")
    headers = {"Authorization": f"Bearer {token}", "X-Org-ID": str(org_id)}
    project = store.list_entities(org_id, EntityType.PROJECT, limit=1)[0].id
    tasks = [t.id for t in store.list_entities(org_id, EntityType.TASK, limit=4)]
    query = EventQuery(org_id=org_id, limit=100)
    deep = encode_position(CursorCodec(store.server_secret()), query, store.head_seq(org_id) // 2)
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        first = client.get("/api/1.0/events", params={"resource": str(project)})
        sync = first.json()["sync"]  # the first call answers 412 with a token
        # the keys of the replayed batch exist before the load replays them
        client.post("/api/v1/changes", json={"records": replay_records(tasks)}).raise_for_status()
    return Target(org_id, project, tasks, headers, deep, sync)


def replay_records(tasks: list[int]) -> list[dict[str, Any]]:
    """Changes with fixed idempotency keys: after the first time, each one answers its
    original event (the duplicate path)."""
    return [
        {
            "op": "change",
            "type": "task",
            "id": task,
            "changes": [{"field": "notes", "new": f"replayed {i}"}],
            "idempotency_key": f"soak-replay-{i}",
        }
        for i, task in enumerate(tasks)
    ]


def new_records(project: int) -> list[dict[str, Any]]:
    """A batch whose ids and keys carry {n}: snapshots creating tasks, each followed by a
    change to it with a new idempotency key."""
    records: list[dict[str, Any]] = []
    for i in range(BATCH // 2):
        ref = f"soak-{{n}}-{i}"
        state = {"name": f"soak task {i}", "project": project, "tags": ["soak"]}
        records.append({"type": "task", "id": ref, "state": state})
        change = [{"field": "notes", "new": "changed"}]
        key = f"soak-key-{{n}}-{i}"
        records.append(
            {"op": "change", "type": "task", "id": ref, "changes": change, "idempotency_key": key}
        )
    return records


def mixed_requests(t: Target) -> list[Request]:
    """One cycle of the load: 7 writes (25 new events) and 8 reads."""
    patch = [
        ("write", "PATCH", f"/api/v1/tasks/{task}", '{"notes": "soak {n}"}') for task in t.tasks
    ]
    batch = ("write", "POST", "/api/v1/changes", json.dumps({"records": new_records(t.project)}))
    replay = ("write", "POST", "/api/v1/changes", json.dumps({"records": replay_records(t.tasks)}))
    created = json.dumps({"name": "soak {n}", "project": t.project})
    follow: Request = ("follow", "GET", "/api/v1/events?limit=100", None)
    tracker = f"/v2/entities/project/{t.project}/events/_relative?perPage=50&direction=backward"
    return [
        follow,
        patch[0],
        batch,
        ("read", "GET", f"/api/v1/events?limit=100&cursor={t.deep_cursor}", None),
        patch[1],
        follow,
        ("write", "POST", "/api/v1/tasks", created),
        ("read", "GET", f"/api/v1/projects/{t.project}/events?limit=100", None),
        patch[2],
        ("read", "GET", f"/api/v1/tasks/{t.tasks[0]}/events?limit=50", None),
        replay,
        follow,
        ("read", "GET", f"/api/1.0/events?resource={t.project}&sync={t.asana_sync}", None),
        patch[3],
        ("read", "GET", tracker, None),
    ]


def start_wrk(
    base: str, t: Target, clients: int, seconds: float
) -> tuple[subprocess.Popen[str], Path]:
    """wrk running the mixed load for `seconds` in the background, and its script."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadError("wrk is not installed (Debian: apt-get install wrk)")
    headers = {**t.headers, "Content-Type": "application/json"}
    rows = (
        ", ".join([lua_string(kind), lua_string(method), lua_string(path)])
        + (", " + lua_string(body) if body else ", nil")
        for kind, method, path, body in mixed_requests(t)
    )
    script = SCRIPT % {
        "requests": ", ".join("{" + row + "}" for row in rows),
        "headers": ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()),
        "run": lua_string(str(time.time_ns())),
        "chain": CHAIN,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    process = subprocess.Popen(
        [
            wrk,
            f"--threads={clients}",
            f"--connections={clients}",
            f"--duration={round(seconds)}s",
            "--timeout=60s",
            f"--script={f.name}",
            base.rstrip("/") + "/",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, Path(f.name)


def wrk_summary(process: subprocess.Popen[str], script: Path) -> dict[str, Any]:
    """What wrk reports once it is done."""
    out, err = process.communicate()
    script.unlink()
    if process.returncode != 0:
        raise LoadError(f"wrk failed: {err or out}")
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


def memory(pid: int) -> dict[str, float]:
    """The process's resident memory in MB (VmRSS, RssAnon, RssFile) and its threads."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) / 1024
        elif name == "Threads":
            fields[name] = int(value)
    return fields


def sample(pid: int, load: subprocess.Popen[str], every: float) -> list[dict[str, float]]:
    """The memory of `pid` every `every` seconds while `load` runs (t: seconds since the
    start), with a line of progress a minute."""
    started = time.monotonic()
    samples: list[dict[str, float]] = []
    while load.poll() is None:
        at = time.monotonic() - started
        samples.append({"t": at, **memory(pid)})
        if len(samples) % max(1, round(60 / every)) == 1:
            s = samples[-1]
            print(
                f"  {at / 60:5.1f} min  VmRSS {s['VmRSS']:6.1f} MB  "
                f"RssAnon {s['RssAnon']:6.1f} MB  threads {s['Threads']:.0f}",
                flush=True,
            )
        time.sleep(every)
    return samples


def slope(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx if sxx else 0.0


def growth(samples: list[dict[str, float]], field: str, since: float) -> float:
    """MB per minute of `field` over the samples from `since` seconds on."""
    return slope([(s["t"] / 60, s[field]) for s in samples if s["t"] >= since])


def figures(samples: list[dict[str, float]], warmup: float, minutes: float) -> dict[str, Any]:
    """Memory before and after warm-up, and its growth after (over the whole measured
    span and over its second half: a warm-up that was too short shows as a steeper
    first half)."""
    after = [s for s in samples if s["t"] >= warmup]
    half = warmup + minutes * 30
    out = {
        "rss_start_mb": samples[0]["VmRSS"],
        "rss_after_warmup_mb": after[0]["VmRSS"],
        "rss_end_mb": samples[-1]["VmRSS"],
        "rss_max_mb": max(s["VmRSS"] for s in samples),
        "rss_growth_mb_per_min": growth(samples, "VmRSS", warmup),
        "rss_growth_second_half_mb_per_min": growth(samples, "VmRSS", half),
        "rss_anon_growth_mb_per_min": growth(samples, "RssAnon", warmup),
        "threads_after_warmup": after[0]["Threads"],
        "threads_end": samples[-1]["Threads"],
    }
    out["target_met"] = out["rss_growth_mb_per_min"] <= TARGET_MB_PER_MIN
    return out


def soak(
    kind: str, minutes: float, warmup: float, events: int, clients: int, every: float, data: Path
) -> dict[str, Any]:
    """One soak on one database: the run's figures, and every sample."""
    backend = Backend(kind, data)
    try:
        url, store, org_id, owner = soak_store(backend, events)
        first_seq = store.head_seq(org_id)
        with serve(url, data) as server:
            target = prepare(server.base_url, store, org_id, owner)
            print(f"{kind}: {warmup:.0f} s of warm-up, then {minutes:g} minutes", flush=True)
            load, script = start_wrk(server.base_url, target, clients, warmup + minutes * 60)
            samples = sample(server.process.pid, load, every)
            summary = wrk_summary(load, script)
        written = store.head_seq(org_id) - first_seq
        store.close()
    finally:
        backend.close()
    seconds = summary["duration_us"] / 1e6
    results: dict[str, Any] = {
        "backend": kind,
        "store_events": first_seq,
        "warmup_s": warmup,
        "minutes_measured": minutes,
        "clients": clients,
        "requests": summary["requests"],
        "requests_per_s": summary["requests"] / seconds,
        "events_written_per_s": written / seconds,
        "p50_ms": summary["p50_us"] / 1000,
        "p99_ms": summary["p99_us"] / 1000,
        "failed_requests": sum(
            summary[k] for k in ("status", "connect", "read", "write", "timeout")
        ),
    }
    results.update(figures(samples, warmup, minutes))
    results["samples"] = samples
    return results


def table_for(results: dict[str, Any]) -> list[list[str]]:
    table = [["figure", "value"]]
    for key, value in results.items():
        if key != "samples":
            table.append([key, f"{value:,.2f}" if isinstance(value, float) else str(value)])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--minutes", type=float, default=30, help="measured, after warm-up")
    parser.add_argument("--warmup", type=float, default=300, help="seconds of load first")
    parser.add_argument("--events", type=int, default=100_000, help="size of the demo store")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections")
    parser.add_argument("--every", type=float, default=5, help="seconds between samples")
    parser.add_argument("--data", type=Path, default=ROOT / ".data")
    parser.add_argument(
        "--probe", action="store_true", help="the server reports where its memory goes"
    )
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    # The dialects' rate limit stays on (its buckets are part of what is measured) but so
    # high that four clients never meet it.
    os.environ["WORKTRAIL_RATE_LIMIT_PER_MINUTE"] = "1000000"
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    failed = False
    if args.probe:
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROBE), os.environ.get("PYTHONPATH")) if p
        )
    for kind in kinds:
        if args.probe:
            RESULTS.mkdir(exist_ok=True)
            probe = RESULTS / f"soak-{kind}-probe.jsonl"
            probe.unlink(missing_ok=True)
            os.environ["WORKTRAIL_SOAK_PROBE"] = str(probe)
        results = soak(
            kind, args.minutes, args.warmup, args.events, args.clients, args.every, args.data
        )
        table = table_for(results)
        print()
        print_table(table)
        print(f"\nwritten to {write_results(f'soak-{kind}', results, table)}\n")
        failed = failed or bool(results["failed_requests"]) or not results["target_met"]
    if failed:
        raise SystemExit(
            f"failed requests, or memory grew by more than {TARGET_MB_PER_MIN} MB a minute"
        )


if __name__ == "__main__":
    main()
