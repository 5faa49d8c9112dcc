"""Start the real `worktrail serve` in a subprocess on a free port and wait until it answers."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text()


@contextmanager
def serve(database_url: str, tmp: Path, *args: str, timeout: float = 120) -> Iterator[LiveServer]:
    port = free_port()
    log = tmp / f"serve-{port}.log"
    env = {**os.environ, "WORKTRAIL_DATABASE_URL": database_url, "WORKTRAIL_LOG_LEVEL": "warning"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "worktrail.cli", "serve", "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited early:\n{server.output()}")
            try:
                if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not answer in {timeout}s:\n{server.output()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def printed_token(text: str) -> str:
    match = re.search(r"\b(wt_[A-Za-z0-9_-]{20,})", text)
    if not match:
        raise AssertionError(f"no token in output:\n{text}")
    return match.group(1)
