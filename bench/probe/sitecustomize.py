"""Where a soaked server's memory goes, written from inside it (`python -m bench.soak --probe`).

Python imports `sitecustomize` at start-up from the path; the soak puts this folder first on
the server's PYTHONPATH and names a file in WORKTRAIL_SOAK_PROBE. A `worktrail serve` then
appends a JSON line to that file every PROBE_SECONDS: its anonymous resident memory, the
memory SQLite holds (page caches and statements, from sqlite3_memory_used), what glibc's
malloc has in use and free, the interpreter's allocated blocks and garbage-collected
objects, and the fill of the parsed-scope cache; every fourth line also counts objects by
type, as the change since the previous count. Growth in `sqlite` is page caches filling,
in `malloc_free` with flat `malloc_in_use` fragmentation, in `py_blocks` Python objects.

Counters rather than tracemalloc: under the soak's load tracing slows the server several
times and a snapshot takes minutes, which changes what is measured.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

PROBE_SECONDS = 30
CENSUS_EVERY = 4  # lines


class MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (malloc.h), summed over every arena."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "RssAnon":
            return int(value.split()[0]) / 1024
    return float("nan")


def sqlite_mb() -> float:
    """The memory SQLite holds in this process (0 when the sqlite3 module is not loaded)."""
    if "_sqlite3" not in sys.modules:
        return 0.0
    library = ctypes.CDLL(sys.modules["_sqlite3"].__file__)
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return int(library.sqlite3_memory_used()) / 1e6


def malloc_mb() -> tuple[float, float]:
    """(in use, free) in glibc's malloc arenas and its mmapped chunks."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return (info.uordblks + info.hblkhd) / 1e6, info.fordblks / 1e6


def scope_cache() -> dict[str, int]:
    parse = getattr(sys.modules.get("worktrail.store.rows"), "parse_scope", None)
    if parse is None:  # not imported yet (or a version without the cache)
        return {}
    info = parse.cache_info()
    return {"size": info.currsize, "misses": info.misses}


def census() -> collections.Counter[str]:
    return collections.Counter(
        f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
    )


def probe(out: Path) -> None:
    started = time.monotonic()
    previous: collections.Counter[str] | None = None
    lines = 0
    while True:
        time.sleep(PROBE_SECONDS)
        lines += 1
        in_use, free = malloc_mb()
        line: dict[str, Any] = {
            "t": round(time.monotonic() - started),
            "rss_anon": round(rss_anon_mb(), 1),
            "sqlite": round(sqlite_mb(), 1),
            "malloc_in_use": round(in_use, 1),
            "malloc_free": round(free, 1),
            "py_blocks": sys.getallocatedblocks(),
            "gc_objects": len(gc.get_objects()),
            "scope_cache": scope_cache(),
        }
        if lines % CENSUS_EVERY == 0:
            counts = census()
            if previous is not None:
                change = {k: counts[k] - previous[k] for k in counts if counts[k] != previous[k]}
                line["census"] = dict(sorted(change.items(), key=lambda kv: -kv[1])[:15])
            previous = counts
        with out.open("a") as f:
            f.write(json.dumps(line) + "\n")


_target = os.environ.get("WORKTRAIL_SOAK_PROBE")
if _target and "serve" in sys.argv:
    threading.Thread(target=probe, args=(Path(_target),), daemon=True, name="probe").start()
