"""The README's Kantata section, run against a real `worktrail serve --demo`."""

from __future__ import annotations

from pathlib import Path

import pytest

from worktrail.testing.server import serve

from .live import json_documents, printed_token, run_block
from .readme import bash_blocks, section

SECTION = section("### Kantata")


@pytest.mark.slow
def test_readme_section_runs_against_a_live_demo_server(tmp_path: Path) -> None:
    first, newest, settings = bash_blocks(SECTION)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with serve(url, tmp_path, "--demo", "--demo-events", "3000") as server:
        token = printed_token(server.output())
        [page] = json_documents(run_block(first, server, token))
        per_subject, by_type = json_documents(run_block(newest, server, token))
        [changed] = json_documents(run_block(settings, server, token))

    assert page["meta"]["page_size"] == 2 and page["count"] > 2
    events = [page["subscribed_events"][r["id"]] for r in page["results"]]
    assert [e["event_type"] for e in events] == ["story:updated", "story:updated"]
    assert all(e["payload_changes"] and e["subject_ref"]["key"] == "stories" for e in events)
    assert {e["subject_ref"]["id"] for e in events} <= set(page["stories"])

    stories = [per_subject["subscribed_events"][r["id"]] for r in per_subject["results"]]
    assert len({e["subject_id"] for e in stories}) == len(stories) == 5
    assert [e["created_at"] for e in stories] == sorted(e["created_at"] for e in stories)

    kinds = {(e["subject_id"], e["event_type"]) for e in by_type["subscribed_events"].values()}
    assert {subject for subject, _ in kinds} == {276, 913}
    assert (276, "story:created") in kinds and (276, "story:updated") in kinds
    assert len(kinds) == by_type["count"]

    assert changed["data"]["kantata_retention_days"] == 30
