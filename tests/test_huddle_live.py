"""The README's Huddle section, run against a real `worktrail serve --demo`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from worktrail.testing.server import serve

from .live import json_documents, printed_token, run_block
from .readme import bash_blocks, section

SECTION = section("### Huddle")


@pytest.mark.slow
def test_readme_section_runs_against_a_live_demo_server(tmp_path: Path) -> None:
    page_block, csv_block = bash_blocks(SECTION)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with serve(url, tmp_path, "--demo", "--demo-events", "3000") as server:
        token = printed_token(server.output())
        [page] = json_documents(run_block(page_block, server, token))
        head = run_block(csv_block, server, token, cwd=tmp_path)
        headers = (tmp_path / "headers.txt").read_text()
        rows = list(csv.reader(io.StringIO((tmp_path / "audits.csv").read_text(), newline="")))
    assert len(page["changes"]) == 2
    rels = [link["rel"] for link in page["links"]]
    assert rels == ["self", "workspace", "current", "first", "prev", "next"]
    assert all(link["href"].startswith(server.base_url) for link in page["links"])
    assert all(c["type"].startswith("Task") and c["actors"] for c in page["changes"])
    assert head.startswith("Title,Created Date,Type,New Value,Actor Name,Actor Email,Task URI")
    assert "content-disposition: attachment" in headers.lower()
    assert 'rel="next"' in headers
    assert len(rows) == 4 and all(
        row[6].startswith(server.base_url + "/tasks/") for row in rows[1:]
    )
