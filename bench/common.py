"""Shared pieces of the benchmarks: summaries, concurrent HTTP load, result files."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).resolve().parent / "results"


def summary(samples: list[float]) -> dict[str, float]:
    """Median with min and max (and p99 when there are enough samples)."""
    ordered = sorted(samples)
    out = {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "runs": len(ordered),
    }
    if len(ordered) >= 20:
        out["p99"] = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return out


def concurrent_requests(
    base_url: str,
    headers: dict[str, str],
    make_request: Callable[[httpx.Client, int, int], httpx.Response],
    clients: int,
    per_client: int,
) -> tuple[list[float], float]:
    """Run `clients` threads, each sending `per_client` requests; latencies (ms) and wall s."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def worker(index: int) -> None:
        mine = []
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
            for i in range(per_client):
                started = time.perf_counter()
                response = make_request(client, index, i)
                mine.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 400:
                    errors.append(f"{response.status_code} {response.text[:200]}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return latencies, wall


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def write_results(name: str, results: dict[str, Any], table: list[list[str]]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, default=str))
    header, *rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def print_table(table: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for n, row in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
