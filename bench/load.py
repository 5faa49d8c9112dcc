"""Concurrent HTTP load from `wrk`, a load generator written in C.

Sixteen clients in Python threads spend more CPU than the server they measure does on a
two-core machine, so the figures of a Python load generator are mostly its own. wrk keeps
`clients` keep-alive connections busy for a fixed time from two threads at a few percent of
one core, and reports every request's latency; a small Lua script picks each request's path
(and method and body) from a list and prints the summary as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

SCRIPT = """
local requests = {%(requests)s}
local headers = {%(headers)s}
local counter = 0
local threads = 0

setup = function(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

request = function()
  counter = counter + 1
  local r = requests[(counter %% #requests) + 1]
  local body = r[3]
  if body then
    -- {n}: a number no other request of the run uses (so repeated writes change something)
    body = string.gsub(body, "{n}", thread_id .. "-" .. counter)
  end
  return wrk.format(r[1], r[2], headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "status": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    # the load generator's own CPU over the run, in cores: what the machine's two cores
    # gave the server is what wrk left of them
    client_cores: float = 0.0


class LoadError(RuntimeError):
    pass


def get(route: str, params: dict[str, Any] | None = None) -> tuple[str, str, None]:
    """A GET request for wrk_load: the route with its query string."""
    return ("GET", route + ("?" + urlencode(params) if params else ""), None)


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wrk_load(
    base_url: str,
    requests: Sequence[tuple[str, str, str | None]],
    headers: dict[str, str],
    *,
    clients: int = 16,
    seconds: float = 5.0,
) -> Load:
    """Keep `clients` connections busy for `seconds`, cycling through `requests`
    ((method, path with query, body or None; "{n}" in a body becomes a number unique in the
    run)); any error or non-2xx answer fails the run."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadError("wrk is not installed (Debian: apt-get install wrk)")
    script = SCRIPT % {
        "requests": ", ".join(
            "{"
            + ", ".join([lua_string(method), lua_string(path), lua_string(body) if body else "nil"])
            + "}"
            for method, path, body in requests
        ),
        "headers": ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    before = os.times()
    try:
        result = subprocess.run(
            [
                wrk,
                f"--threads={min(2, clients)}",
                f"--connections={clients}",
                f"--duration={max(1, round(seconds))}s",
                f"--timeout={max(30, round(seconds) * 4)}s",
                f"--script={f.name}",
                base_url.rstrip("/") + "/",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    finally:
        Path(f.name).unlink()
    after = os.times()
    used = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    if result.returncode != 0:
        raise LoadError(f"wrk failed: {result.stderr or result.stdout}")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    failed = {k: summary[k] for k in ("status", "connect", "read", "write", "timeout")}
    if any(failed.values()) or not summary["requests"]:
        path = requests[0][1]
        raise LoadError(f"{urlsplit(base_url).netloc}{path}: failed requests {failed}")
    return Load(
        requests=summary["requests"],
        requests_per_s=summary["requests"] / (summary["duration_us"] / 1e6),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        client_cores=used / (summary["duration_us"] / 1e6),
    )


def wait_idle(pid: int, quiet: float = 0.5, timeout: float = 300.0) -> None:
    """Wait until process `pid` has used (almost) no CPU for `quiet` seconds: requests of an
    earlier load that wrk stopped waiting for may still be running in the server."""
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    deadline = time.monotonic() + timeout
    before = cpu()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu()
        if now - before < quiet * 0.05:
            return
        before = now
