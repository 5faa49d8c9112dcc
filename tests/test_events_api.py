"""GET /api/v1/events: filters, keyset cursors, formats."""

from __future__ import annotations

import csv
import io
import itertools
from typing import Any

import orjson

from .conftest import Org, Tree


def make_history(org: Org, tree: Tree, n: int) -> None:
    for i in range(n):
        assert org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"v{i}"}).status_code == 200


def test_pages_follow_cursors_without_gaps_or_repeats(org: Org, tree: Tree) -> None:
    make_history(org, tree, 23)
    for order in ("newest", "oldest"):
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {
                "scope": f"project:{tree.project}",
                "limit": 5,
                "order": order,
            }
            if cursor:
                params["cursor"] = cursor
            body = org.get("/api/v1/events", params=params).json()
            seen.extend(e["seq"] for e in body["data"])
            if not body["has_more"]:
                break
            cursor = body["next_cursor"]
        expected = sorted(seen, reverse=order == "newest")
        assert seen == expected and len(seen) == len(set(seen)) == 27


def test_filters(org: Org, tree: Tree) -> None:
    make_history(org, tree, 3)
    org.post(f"/api/v1/tasks/{tree.task}/close")
    closed = org.get("/api/v1/events", params={"action": "closed"}).json()["data"]
    assert [e["action"] for e in closed] == ["closed"]
    comments = org.get("/api/v1/events", params={"subject_type": "comment"}).json()["data"]
    assert {e["subject"]["type"] for e in comments} == {"comment"}
    mine = org.get("/api/v1/events", params={"actor": org.owner_id}).json()["data"]
    assert mine and all(e["actor"]["id"] == org.owner_id for e in mine)
    system = org.get("/api/v1/events", params={"actor": 987654}).json()["data"]
    assert system == []
    latest = closed[0]["occurred_at"]
    after = org.get("/api/v1/events", params={"occurred_after": latest}).json()["data"]
    assert [e["action"] for e in after] == ["closed"]
    before = org.get("/api/v1/events", params={"occurred_before": latest}).json()["data"]
    assert all(e["action"] != "closed" for e in before)


def test_a_cursor_only_continues_its_own_query(org: Org, tree: Tree) -> None:
    make_history(org, tree, 4)
    body = org.get("/api/v1/events", params={"limit": 2}).json()
    cursor = body["next_cursor"]
    other = org.get("/api/v1/events", params={"limit": 2, "cursor": cursor, "action": "created"})
    assert other.status_code == 400
    assert other.headers["content-type"] == "application/problem+json"
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert org.get("/api/v1/events", params={"cursor": tampered}).status_code == 400
    assert org.get("/api/v1/events", params={"cursor": "%%%"}).status_code == 400


def test_ndjson_and_csv_carry_the_same_events(org: Org, tree: Tree) -> None:
    make_history(org, tree, 5)
    as_json = org.get("/api/v1/events", params={"order": "oldest"}).json()["data"]
    nd = org.get(
        "/api/v1/events", params={"order": "oldest"}, headers={"Accept": "application/x-ndjson"}
    )
    assert nd.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in nd.text.splitlines()]
    assert lines == as_json
    as_csv = org.get("/api/v1/events", params={"order": "oldest"}, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [int(r["id"]) for r in rows] == [e["id"] for e in as_json]
    assert [orjson.loads(r["changes"]) for r in rows] == [e["changes"] for e in as_json]
    limited = org.get("/api/v1/events", params={"limit": 2, "format": "csv"})
    assert len(list(csv.DictReader(io.StringIO(limited.text)))) == 2
    assert limited.headers["x-has-more"] == "true" and limited.headers["x-next-cursor"]


def test_event_by_id_and_hash_chain(org: Org, tree: Tree) -> None:
    events = org.get("/api/v1/events", params={"order": "oldest"}).json()["data"]
    for prev, event in itertools.pairwise(events):
        assert event["prev_hash"] == prev["hash"] and event["seq"] == prev["seq"] + 1
    one = org.get(f"/api/v1/events/{events[-1]['id']}")
    assert one.status_code == 200 and one.json() == events[-1]
    assert org.get("/api/v1/events/12345678901234").status_code == 404
    assert org.get("/api/v1/events/not-a-number").status_code == 404


def test_bad_parameters_are_clear_400s(org: Org) -> None:
    cases = {
        "limit": "0",
        "order": "sideways",
        "scope": "project",
        "descendants": "maybe",
        "action": "exploded",
        "occurred_after": "yesterday",
        "actor": "bob",
        "unknown": "1",
    }
    for name, value in cases.items():
        response = org.get("/api/v1/events", params={name: value})
        assert response.status_code == 400, (name, response.text)
        body = response.json()
        assert body["status"] == 400 and name in body["detail"]
    assert org.get("/api/v1/events", params={"limit": 1001}).status_code == 400
    assert org.get("/api/v1/events", params={"scope": "project:999999"}).status_code == 404
