"""POST /api/v1/changes: snapshots, explicit changes, idempotency, all-or-nothing."""

from __future__ import annotations

from typing import Any

from .conftest import Org, Tree


def ingest(org: Org, records: list[dict[str, Any]]) -> Any:
    return org.post("/api/v1/changes", json={"records": records})


def test_snapshots_create_then_diff_and_unchanged_records_nothing(org: Org, tree: Tree) -> None:
    first = ingest(
        org,
        [
            {"type": "user", "id": "u-7", "state": {"name": "Ivy", "email": "ivy@app.test"}},
            {
                "type": "task",
                "id": "T-1",
                "state": {"name": "Imported", "project": tree.project, "assignee": "u-7"},
                "occurred_at": "2026-01-05T10:00:00Z",
                "actor": "u-7",
            },
        ],
    )
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [r["status"] for r in results] == ["recorded", "recorded"]
    task_event = results[1]["event"]
    assert task_event["action"] == "created"
    assert task_event["occurred_at"] == "2026-01-05T10:00:00.000000Z"
    assert task_event["actor"]["name"] == "Ivy"
    assert task_event["context"]["source"] == "ingest"
    user_id = results[0]["entity"]["id"]
    assert {"field": "assignee", "old": None, "new": user_id} in task_event["changes"]

    second = ingest(org, [{"type": "task", "id": "T-1", "state": {"name": "Imported v2"}}])
    event = second.json()["results"][0]["event"]
    assert event["changes"] == [{"field": "name", "old": "Imported", "new": "Imported v2"}]
    system = ingest(
        org, [{"type": "task", "id": "T-1", "state": {"notes": "by a job"}, "actor": None}]
    )
    assert system.json()["results"][0]["event"]["actor"] is None
    same = ingest(org, [{"type": "task", "id": "T-1", "state": {"name": "Imported v2"}}])
    assert same.json()["results"][0]["status"] == "unchanged"
    assert same.json()["recorded"] == 0


def test_explicit_changes_and_delete_restore(org: Org, tree: Tree) -> None:
    response = ingest(
        org,
        [
            {
                "op": "change",
                "type": "task",
                "id": tree.task,
                "changes": [
                    {"field": "name", "old": "Draft plan", "new": "Plan"},
                    {"field": "tags", "added": ["a", "b"]},
                ],
            },
            {"op": "delete", "type": "comment", "id": tree.comment},
            {"op": "restore", "type": "comment", "id": tree.comment},
        ],
    )
    assert response.status_code == 200, response.text
    events = [r["event"] for r in response.json()["results"]]
    assert events[0]["changes"] == [
        {"field": "name", "old": "Draft plan", "new": "Plan"},
        {"field": "tags", "added": ["a", "b"], "removed": []},
    ]
    assert [e["action"] for e in events[1:]] == ["deleted", "restored"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + 3))


def test_retried_records_return_the_original_event(org: Org, tree: Tree) -> None:
    record = {
        "op": "change",
        "type": "task",
        "id": tree.task,
        "changes": [{"field": "notes", "new": "once"}],
        "idempotency_key": "req-1",
    }
    first = ingest(org, [record]).json()["results"][0]
    head = org.get("/api/v1/events", params={"limit": 1}).json()["data"][0]["seq"]
    again = ingest(org, [record, {**record, "idempotency_key": "req-1"}]).json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    assert again["results"][0]["event"] == first["event"]
    assert org.get("/api/v1/events", params={"limit": 1}).json()["data"][0]["seq"] == head
    in_batch = ingest(
        org,
        [
            {**record, "idempotency_key": "req-2", "changes": [{"field": "notes", "new": "two"}]},
            {**record, "idempotency_key": "req-2", "changes": [{"field": "notes", "new": "three"}]},
        ],
    ).json()
    assert [r["status"] for r in in_batch["results"]] == ["recorded", "duplicate"]


def test_a_bad_record_rejects_the_whole_batch_and_names_each(org: Org, tree: Tree) -> None:
    head = org.get("/api/v1/events", params={"limit": 1}).json()["data"][0]["seq"]
    response = ingest(
        org,
        [
            {"type": "task", "id": "ok-1", "state": {"name": "fine", "project": tree.project}},
            {"type": "task", "id": "bad-1", "state": {"name": 7, "project": tree.project}},
            {"type": "rocket", "id": "x", "state": {}},
            {
                "op": "change",
                "type": "task",
                "id": 999999,
                "changes": [{"field": "name", "new": "x"}],
            },
            {"type": "task", "id": "bad-2", "state": {"name": "x", "project": "nope"}},
            {"type": "task", "id": "bad-3", "occurred_at": "yesterday", "state": {"name": "x"}},
            "not an object",
        ],
    )
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422
    assert [e["index"] for e in body["errors"]] == [1, 2, 3, 4, 5, 6]
    assert all(e["message"] for e in body["errors"])
    assert org.get("/api/v1/events", params={"limit": 1}).json()["data"][0]["seq"] == head
    assert (
        ingest(
            org,
            [
                {
                    "type": "task",
                    "id": "ok-1",
                    "op": "change",
                    "changes": [{"field": "name", "new": "y"}],
                }
            ],
        ).status_code
        == 422
    )


def test_batch_limits_and_shape(org: Org, tree: Tree) -> None:
    too_many = [
        {"type": "task", "id": f"t{i}", "state": {"name": "x", "project": tree.project}}
        for i in range(1001)
    ]
    response = ingest(org, too_many)
    assert response.status_code == 422 and "1000" in response.json()["detail"]
    assert ingest(org, []).status_code == 422
    assert org.post("/api/v1/changes", json={"records": {}}).status_code == 422
    assert org.post("/api/v1/changes", json={"rows": []}).status_code == 422
    assert org.post("/api/v1/changes", json=[1, 2]).status_code == 422
    full = [
        {"type": "task", "id": f"t{i}", "state": {"name": f"x{i}", "project": tree.project}}
        for i in range(1000)
    ]
    ok = ingest(org, full)
    assert ok.status_code == 200 and ok.json()["recorded"] == 1000
