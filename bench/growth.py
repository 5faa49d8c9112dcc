"""Ingest as the store grows: the rate of each 100,000 events of a 1,000,000-event load.

    python -m bench.growth [--backend sqlite|postgres|both] [--events 1000000]
                           [--window 100000]

Batches of 1,000 sidecar records go through `ingest` (as POST /api/v1/changes runs it:
entity state, diffs, external ids, idempotency keys, scopes, the Merkle tree) into one
organization of a fresh store, half of them creating tasks by external id and half changing
them by it, so every batch looks up external ids and keys among all that came before. The
figure is the rate of the last window over the first: flat is 1.0, the target ≥ 0.9.
Results go to bench/results/growth-<backend>.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from worktrail.config import Settings
from worktrail.store import open_store
from worktrail.write import ingest

from .common import ingest_records, new_project, print_table, write_results
from .suite import Backend

BATCH = 1000
TARGET = 0.9


def _ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def cluster_pids(backend: Backend) -> list[int]:
    """The processes of the PostgreSQL cluster the bench started (none for SQLite or a
    server it did not start)."""
    data_dir = getattr(backend.server, "data_dir", None)
    if data_dir is None:
        return []
    postmaster = int((Path(data_dir) / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == postmaster:
                children.append(int(entry.name))
    return [postmaster, *children]


def cpu_seconds(backend: Backend) -> float:
    """CPU used so far by this process and the bench's PostgreSQL cluster."""
    ticks = sum(_ticks(pid) for pid in cluster_pids(backend))
    return time.process_time() + ticks / os.sysconf("SC_CLK_TCK")


def load(backend: Backend, events: int, window: int) -> tuple[list[float], list[float]]:
    """Events per second, and per CPU-second, of each `window` events of an `events`-event
    load."""
    url = backend.url("growth", fresh=True)
    store = open_store(Settings(database_url=url))
    try:
        store.migrate()
        made = new_project(store, "Growth")
        rates: list[float] = []
        per_cpu: list[float] = []
        written, started, cpu = 0, time.perf_counter(), cpu_seconds(backend)
        for first in range(0, events, BATCH):
            ingest(store, made.owner, ingest_records(first, made.project_id), BATCH)
            written += BATCH
            if written % window == 0:
                now, used = time.perf_counter(), cpu_seconds(backend)
                rates.append(window / (now - started))
                per_cpu.append(window / (used - cpu))
                print(
                    f"    {written:>9,} events: {rates[-1]:,.0f} events/s, "
                    f"{per_cpu[-1]:,.0f} per CPU-second",
                    flush=True,
                )
                started, cpu = now, used
        return rates, per_cpu
    finally:
        store.close()


def run_backend(kind: str, events: int, window: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp:
        backend = Backend(kind, Path(tmp))
        try:
            rates, per_cpu = load(backend, events, window)
        finally:
            backend.close()
    return {
        "backend": kind,
        "events": events,
        "window": window,
        "events_per_s_by_window": rates,
        "first_window_events_per_s": rates[0],
        "last_window_events_per_s": rates[-1],
        "last_to_first_ratio": rates[-1] / rates[0],
        "events_per_cpu_s_by_window": per_cpu,
        "last_to_first_per_cpu_ratio": per_cpu[-1] / per_cpu[0],
        "target_ratio": TARGET,
    }


def table_for(results: dict[str, Any]) -> list[list[str]]:
    window = results["window"]
    return [
        ["figure", "value", "target"],
        [f"first {window:,} events", f"{results['first_window_events_per_s']:,.0f} events/s", ""],
        [f"last {window:,} events", f"{results['last_window_events_per_s']:,.0f} events/s", ""],
        ["last ÷ first", f"{results['last_to_first_ratio']:.2f}", f"≥ {TARGET}"],
        [
            f"first {window:,} events, per CPU-second",
            f"{results['events_per_cpu_s_by_window'][0]:,.0f}",
            "",
        ],
        [
            f"last {window:,} events, per CPU-second",
            f"{results['events_per_cpu_s_by_window'][-1]:,.0f}",
            "",
        ],
        [
            "last ÷ first, per CPU-second",
            f"{results['last_to_first_per_cpu_ratio']:.2f}",
            f"≥ {TARGET}",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=100_000)
    args = parser.parse_args()
    if args.events < args.window or args.window % BATCH:
        parser.error(f"--window must be a multiple of {BATCH} and at most --events")
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for kind in kinds:
        print(f"{kind}: ingest of {args.events:,} events ...", flush=True)
        results = run_backend(kind, args.events, args.window)
        table = table_for(results)
        print_table(table)
        print(f"results: {write_results(f'growth-{kind}', results, table)}")


if __name__ == "__main__":
    main()
