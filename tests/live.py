"""Start the real `worktrail serve` in a subprocess on a free port and wait until it answers."""

from __future__ import annotations

import json
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
from typing import Any

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


def printed_token(text: str) -> str:
    match = re.search(r"\b(wt_[A-Za-z0-9_-]{20,})", text)
    if not match:
        raise AssertionError(f"no token in output:\n{text}")
    return match.group(1)


def run_block(block: str, server: LiveServer, token: str, cwd: Path | None = None) -> str:
    """Run a README shell block against `server` with $TOKEN set; every curl must succeed,
    on HTTP status too. Returns what it printed."""
    script = "set -eu\n" + block.replace("http://127.0.0.1:8000", server.base_url)
    result = subprocess.run(
        ["bash", "-c", script.replace("curl -s ", "curl -sf ")],
        env={**os.environ, "TOKEN": token},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def json_documents(text: str) -> list[Any]:
    """The JSON documents printed one after another (curl adds no newline between them)."""
    decoder, at = json.JSONDecoder(), 0
    out: list[Any] = []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return out
        value, at = decoder.raw_decode(text, at)
        out.append(value)
