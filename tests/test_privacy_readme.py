"""The README's Legal hold and Erasure sections run as written, against a live demo
server."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from worktrail.testing.server import serve

from .live import printed_token
from .readme import bash_blocks, section
from .test_readme import run_script, worktrail_on_path


@pytest.mark.slow
def test_hold_and_erasure_sections_run_against_a_live_demo_server(tmp_path: Path) -> None:
    [holds] = bash_blocks(section("## Legal hold"))
    [erasure] = bash_blocks(section("## Erasure"))
    env = worktrail_on_path(tmp_path / "bin")
    url = f"sqlite:///{tmp_path / 'worktrail.db'}"
    with serve(url, tmp_path, "--demo", "--demo-events", "500") as server:
        token = printed_token(server.output())
        scripts = [
            block.replace("http://127.0.0.1:8000", server.base_url) for block in (holds, erasure)
        ]
        out = run_script(scripts, {**env, "TOKEN": token}, tmp_path)
    assert "Litigation hold, case 2026-17" in out
    assert out.count("lifted") >= 2 and "Regulator" in out
    line = next(line for line in out.splitlines() if '"events_redacted"' in line)
    summary = line[line.index('{"data"') :]
    summary = summary[: summary.index("}}") + 2]
    assert orjson.loads(summary)["data"]["events_redacted"] > 0
    assert '"name": "[erased]"' in out
    assert "chain intact" in out
    assert "events redacted" in out
