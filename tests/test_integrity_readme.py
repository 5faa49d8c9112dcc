"""The README's Integrity section runs as written, against a live demo server."""

from __future__ import annotations

from pathlib import Path

import pytest

from worktrail.testing.server import serve

from .live import printed_token
from .readme import bash_blocks, section
from .test_readme import run_script, worktrail_on_path


@pytest.mark.slow
def test_integrity_section_runs_against_a_live_demo_server(tmp_path: Path) -> None:
    [commands] = bash_blocks(section("## Integrity"))
    env = worktrail_on_path(tmp_path / "bin")
    url = f"sqlite:///{tmp_path / 'worktrail.db'}"
    with serve(url, tmp_path, "--demo", "--demo-events", "2000") as server:
        script = commands.replace("http://127.0.0.1:8000", server.base_url)
        out = run_script([script], {**env, "TOKEN": printed_token(server.output())}, tmp_path)
    assert (tmp_path / "log.key").read_text().startswith("worktrail/")
    assert "OK: event seq " in out
    assert "events (seq " in out and "proven in worktrail/" in out
    assert "events, chain intact, Merkle tree matches the checkpoint of tree size" in out
    assert "first checkpoint seen, tree size" in out
    assert (tmp_path / "project.bundle").stat().st_size > 1000
