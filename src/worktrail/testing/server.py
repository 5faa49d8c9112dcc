"""Start the real `worktrail serve` in a subprocess on a free port and wait until it answers.

Example::

    with serve("sqlite:////tmp/app.db", Path("/tmp")) as server:
        httpx.get(server.base_url + "/healthz")
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["LiveServer", "free_port", "running", "serve"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A running `worktrail serve`: its base URL, its process and the file it logs to."""

    base_url: str
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        """What the server has printed so far (stdout and stderr)."""
        return self.log.read_text()


@contextmanager
def serve(
    database_url: str,
    tmp: Path,
    *args: str,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """Run `worktrail serve` on ``database_url`` on a free port, with ``args`` added to its
    command line and ``env`` to its environment (the log level is ``warning`` unless it
    says otherwise); hand it over once ``/healthz`` answers 200, stop it afterwards.

    Its output goes to a log file in ``tmp``. Raises :class:`RuntimeError`, with the log, if
    it exits early or does not answer within ``timeout`` seconds.
    """
    port = free_port()
    log = tmp / f"serve-{port}.log"
    env = {
        **os.environ,
        "WORKTRAIL_DATABASE_URL": database_url,
        "WORKTRAIL_LOG_LEVEL": "warning",
        **(env or {}),
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "worktrail.cli", "serve", "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    with running(process, server.base_url + "/healthz", log, timeout, "serve"):
        yield server


@contextmanager
def running(
    process: subprocess.Popen[Any], url: str, log: Path, timeout: float, name: str
) -> Iterator[None]:
    """Wait until `process` answers `url` with 200, then hand over; stop it afterwards."""
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer in {timeout}s:\n{log.read_text()}")
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
