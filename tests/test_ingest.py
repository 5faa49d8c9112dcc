"""POST /api/v1/changes: snapshots, explicit changes, idempotency, all-or-nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from worktrail.store import schema
from worktrail.verify import verify_chain

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


def test_batched_writes_read_back_as_returned_and_verify(org: Org, tree: Tree) -> None:
    """New entities, changes to them in the same batch, moves and deletes: every event
    reads back exactly as the batch returned it, entity state and version included, and
    the hash chain and scope ranks hold."""
    records: list[dict[str, Any]] = [
        {"type": "user", "id": "u-1", "state": {"name": "Una", "email": "una@app.test"}},
        {"type": "project", "id": "p-2", "state": {"name": "Two", "workspace": tree.workspace}},
    ]
    for i in range(30):
        records.append(
            {"type": "task", "id": f"b-{i}", "state": {"name": f"t{i}", "project": "p-2"}}
        )
        records.append(
            {
                "op": "change",
                "type": "task",
                "id": f"b-{i}",
                "changes": [{"field": "assignee", "new": "u-1"}],
                "idempotency_key": f"bk-{i}",
            }
        )
    records += [
        {"type": "task", "id": "b-0", "state": {"project": tree.project}},  # a move
        {"type": "task", "id": "b-1", "state": {"parent": "b-2"}},  # under a new task
        {"op": "delete", "type": "task", "id": "b-3"},
        {"type": "comment", "id": "c-1", "state": {"task": "b-1", "text": "hi"}},
        {
            "op": "change",
            "type": "task",
            "id": tree.task,
            "changes": [{"field": "tags", "added": ["z"]}],
        },
    ]
    response = ingest(org, records)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert all(r["status"] == "recorded" for r in results)
    for result in results:
        event = result["event"]
        stored = org.get(f"/api/v1/events/{event['id']}")
        assert stored.status_code == 200, stored.text
        assert stored.json() == event
    task = org.get(f"/api/v1/tasks/{results[2]['entity']['id']}").json()["data"]
    assert task["version"] == 3 and task["assignee"] == results[0]["entity"]["id"]
    assert task["project"] == tree.project
    moved = results[-5]["event"]
    assert f"project:{tree.project}" in moved["scopes"]
    assert f"project:{results[1]['entity']['id']}" in moved["scopes"]
    ids = [r["entity"]["id"] for r in results[:62:2]]
    assert len(set(ids)) == len(ids)
    assert verify_chain(org.store, org.id).ok
    _assert_ranks(org)
    again = ingest(org, records[3:4]).json()["results"][0]
    assert again["status"] == "duplicate" and again["event"] == results[3]["event"]


def test_creates_beyond_the_reserved_ids_and_single_writes_between(org: Org, tree: Tree) -> None:
    """Entities created by references a batch did not count ahead (its snapshots' ids are
    all it reserves for) still get ids of their own; so do single writes in between."""
    first = ingest(
        org,
        [
            {"type": "task", "id": "r-1", "state": {"name": "a", "project": tree.project}},
            {"type": "task", "id": "r-1", "state": {"name": "b"}},
            {"type": "task", "id": "r-2", "state": {"name": "c", "project": tree.project}},
        ],
    ).json()["results"]
    single = org.create("tasks", name="single", project=tree.project)
    second = ingest(
        org, [{"type": "task", "id": "r-3", "state": {"name": "d", "parent": "r-2"}}]
    ).json()["results"]
    ids = [first[0]["entity"]["id"], first[2]["entity"]["id"], single["id"]]
    ids.append(second[0]["entity"]["id"])
    assert first[1]["entity"]["id"] == ids[0]
    assert len(set(ids)) == 4 and ids == sorted(ids)
    assert org.get(f"/api/v1/tasks/{ids[3]}").json()["data"]["parent"] == ids[1]
    assert verify_chain(org.store, org.id).ok
    _assert_ranks(org)


def _assert_ranks(org: Org) -> None:
    s = schema.event_scopes.c
    e = schema.events.c
    with org.store.read() as conn:
        rows = conn.execute(
            select(s.scope_type, s.scope_id, s.subject_type, s.n, e.subject_type.label("st"))
            .join(schema.events, (e.org_id == s.org_id) & (e.seq == s.seq))
            .where(s.org_id == org.id)
            .order_by(s.seq)
        ).all()
    seen: Counter[tuple[str, int, str]] = Counter()
    for row in rows:
        assert row.subject_type == row.st
        seen[(row.scope_type, row.scope_id, row.subject_type)] += 1
        assert row.n == seen[(row.scope_type, row.scope_id, row.subject_type)]


def test_prefer_return_minimal_answers_where_each_record_went(org: Org, tree: Tree) -> None:
    records = [
        {"type": "task", "id": "M-1", "state": {"name": "Lean", "project": tree.project}},
        {"op": "change", "type": "task", "id": "M-1", "changes": [{"field": "notes", "new": "x"}]},
        {"type": "task", "id": "M-1", "state": {"notes": "x"}},  # unchanged: no event
    ]
    response = org.post(
        "/api/v1/changes",
        json={"records": records},
        headers={"Prefer": 'handling=strict, return="minimal"'},
    )
    assert response.status_code == 200, response.text
    assert response.headers["preference-applied"] == "return=minimal"
    body = response.json()
    assert body["recorded"] == 2
    assert [r["status"] for r in body["results"]] == ["recorded", "recorded", "unchanged"]
    assert body["results"][2]["event"] is None
    newest = org.get("/api/v1/events", params={"limit": 2}).json()["data"]
    for result, event in zip(body["results"][:2], reversed(newest), strict=True):
        assert result["event"] == {"id": event["id"], "seq": event["seq"], "hash": event["hash"]}
        assert result["entity"]["external_id"] == "M-1"
    full = ingest(org, [{**records[1], "changes": [{"field": "notes", "new": "y"}]}])
    assert "preference-applied" not in full.headers
    assert full.json()["results"][0]["event"]["changes"] == [
        {"field": "notes", "old": "x", "new": "y"}
    ]
