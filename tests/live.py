"""Helpers for the tests that run README examples against a live `worktrail serve`
(started with :func:`worktrail.testing.server.serve`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from worktrail.testing.server import LiveServer


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
