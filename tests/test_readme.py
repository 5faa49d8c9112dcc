"""The README tells the truth: its commands run, its settings table matches the code."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from worktrail.config import SETTINGS
from worktrail.testing.server import serve

from .live import printed_token
from .readme import bash_blocks, section

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def blocks(heading: str) -> list[str]:
    return bash_blocks(section(heading))


def test_every_setting_is_documented() -> None:
    for setting in SETTINGS:
        row = f"| `{setting.name}` | `{setting.env}` |"
        assert row in README, f"README configuration table lacks {setting.name}"


def test_quick_start_commands_match_ci() -> None:
    run_cmd, test_cmd = blocks("## Quick start")
    assert "worktrail serve --demo" in run_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd.strip().split(" && ")[-1] in ci


@pytest.mark.slow
def test_api_tour_runs_against_a_live_demo_server(tmp_path: Path) -> None:
    [tour] = blocks("## A tour of the native API")
    url = f"sqlite:///{tmp_path / 'tour.db'}"
    with serve(url, tmp_path, "--demo", "--demo-events", "3000") as server:
        token = printed_token(server.output())
        # no pipefail: `curl … | head` legitimately ends with a closed pipe
        script = "set -eu\n" + tour.replace("http://127.0.0.1:8000", server.base_url)
        # every curl must succeed on HTTP status too
        script = script.replace("curl -s ", "curl -sf ")
        result = subprocess.run(
            ["bash", "-c", script],
            env={**os.environ, "TOKEN": token},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '"action":"closed"' in result.stdout
    assert '"status":"recorded"' in result.stdout
    assert (tmp_path / "project-history.csv").read_text().startswith("id,seq,occurred_at")
