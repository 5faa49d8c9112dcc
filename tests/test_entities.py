"""System of record: every write through the native API becomes exactly the right events."""

from __future__ import annotations

from typing import Any

from .conftest import Org, Tree


def events_of(org: Org, scope: str, **params: Any) -> list[dict[str, Any]]:
    response = org.get("/api/v1/events", params={"scope": scope, "limit": 1000, **params})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_create_records_initial_values_and_scopes(org: Org, tree: Tree) -> None:
    [created] = events_of(org, f"task:{tree.subtask}", descendants="false")
    assert created["action"] == "created"
    assert created["subject"] == {"type": "task", "id": tree.subtask}
    assert {"field": "name", "old": None, "new": "Outline"} in created["changes"]
    assert created["scopes"] == [
        f"task:{tree.subtask}",
        f"task:{tree.task}",
        f"project:{tree.project}",
        f"workspace:{tree.workspace}",
    ]
    assert created["actor"]["id"] == org.owner_id
    assert created["before"] is None and created["after"]["name"] == "Outline"


def test_project_history_includes_tasks_subtasks_and_comments(org: Org, tree: Tree) -> None:
    subjects = [
        (e["subject"]["type"], e["subject"]["id"])
        for e in events_of(org, f"project:{tree.project}")
    ]
    assert subjects == [
        ("comment", tree.comment),
        ("task", tree.subtask),
        ("task", tree.task),
        ("project", tree.project),
    ]
    alone = events_of(org, f"project:{tree.project}", descendants="false")
    assert [e["subject"]["type"] for e in alone] == ["project"]


def test_update_records_field_diffs_and_noop_records_nothing(org: Org, tree: Tree) -> None:
    response = org.patch(
        f"/api/v1/tasks/{tree.task}",
        json={"name": "Final plan", "priority": "high", "custom_fields": {"points": 3}},
    )
    assert response.status_code == 200
    event = response.json()["event"]
    assert event["action"] == "updated"
    assert event["changes"] == [
        {"field": "name", "old": "Draft plan", "new": "Final plan"},
        {"field": "priority", "old": None, "new": "high"},
        {"field": "custom_fields.points", "old": None, "new": 3},
    ]
    assert event["before"]["name"] == "Draft plan" and event["after"]["name"] == "Final plan"
    before = len(events_of(org, f"task:{tree.task}"))
    again = org.patch(f"/api/v1/tasks/{tree.task}", json={"name": "Final plan"})
    assert again.status_code == 200 and again.json()["event"] is None
    assert len(events_of(org, f"task:{tree.task}")) == before


def test_followers_tags_and_members_record_added_and_removed(org: Org, tree: Tree) -> None:
    bob, _ = org.user("Bob")
    added = org.post(f"/api/v1/tasks/{tree.task}/followers", json={"add": [bob, org.owner_id]})
    assert added.json()["event"]["changes"] == [
        {"field": "followers", "added": sorted([bob, org.owner_id]), "removed": []}
    ]
    removed = org.post(f"/api/v1/tasks/{tree.task}/followers", json={"remove": [bob]})
    assert removed.json()["event"]["changes"] == [
        {"field": "followers", "added": [], "removed": [bob]}
    ]
    tags = org.patch(f"/api/v1/tasks/{tree.task}", json={"tags": ["urgent", "q3"]})
    assert tags.json()["event"]["changes"] == [
        {"field": "tags", "added": ["q3", "urgent"], "removed": []}
    ]
    members = org.post(f"/api/v1/projects/{tree.project}/members", json={"add": [bob]})
    assert members.json()["event"]["changes"] == [
        {"field": "members", "added": [bob], "removed": []}
    ]
    ws = org.post(f"/api/v1/workspaces/{tree.workspace}/members", json={"add": [bob]})
    assert ws.json()["event"]["subject"] == {"type": "workspace", "id": tree.workspace}


def test_close_reopen_delete_restore(org: Org, tree: Tree) -> None:
    actions = []
    for path in ("close", "reopen"):
        response = org.post(f"/api/v1/tasks/{tree.task}/{path}")
        assert response.status_code == 200
        actions.append(response.json()["event"]["action"])
    assert org.post(f"/api/v1/tasks/{tree.task}/reopen").status_code == 409
    deleted = org.delete(f"/api/v1/tasks/{tree.task}")
    actions.append(deleted.json()["event"]["action"])
    assert deleted.json()["data"]["deleted"] is True
    assert org.patch(f"/api/v1/tasks/{tree.task}", json={"name": "x"}).status_code == 409
    restored = org.post(f"/api/v1/tasks/{tree.task}/restore")
    actions.append(restored.json()["event"]["action"])
    assert actions == ["closed", "reopened", "deleted", "restored"]
    assert org.get(f"/api/v1/tasks/{tree.task}").json()["data"]["deleted"] is False
    closed = org.patch(f"/api/v1/tasks/{tree.task}", json={"completed": True})
    assert closed.json()["event"]["action"] == "closed"


def test_move_is_recorded_under_old_and_new_parents(org: Org, tree: Tree) -> None:
    other = org.create("projects", name="Other", workspace=tree.workspace)
    moved = org.post(f"/api/v1/tasks/{tree.task}/move", json={"project": other["id"]})
    assert moved.status_code == 200, moved.text
    event = moved.json()["event"]
    assert {"field": "project", "old": tree.project, "new": other["id"]} in event["changes"]
    assert f"project:{tree.project}" in event["scopes"]
    assert f"project:{other['id']}" in event["scopes"]
    assert events_of(org, f"project:{tree.project}")[0]["id"] == event["id"]
    assert events_of(org, f"project:{other['id']}")[0]["id"] == event["id"]
    # later events of the task (and its subtask) belong to the new project only
    org.patch(f"/api/v1/tasks/{tree.subtask}", json={"notes": "after the move"})
    assert events_of(org, f"project:{other['id']}")[0]["subject"]["id"] == tree.subtask
    assert events_of(org, f"project:{tree.project}")[0]["id"] == event["id"]
    # subtask into a task of its own subtree is refused
    cycle = org.post(f"/api/v1/tasks/{tree.task}/move", json={"parent": tree.subtask})
    assert cycle.status_code == 422


def test_project_moves_to_another_workspace(org: Org, tree: Tree) -> None:
    ws2 = org.create("workspaces", name="Design")
    moved = org.patch(f"/api/v1/projects/{tree.project}", json={"workspace": ws2["id"]})
    scopes = moved.json()["event"]["scopes"]
    assert f"workspace:{tree.workspace}" in scopes and f"workspace:{ws2['id']}" in scopes


def test_point_in_time_state(org: Org, tree: Tree) -> None:
    first = events_of(org, f"task:{tree.task}", descendants="false")[0]
    org.patch(f"/api/v1/tasks/{tree.task}", json={"name": "Renamed"})
    state = org.get(f"/api/v1/tasks/{tree.task}/state", params={"at": first["occurred_at"]})
    assert state.status_code == 200
    assert state.json()["data"]["name"] == "Draft plan"
    now = org.get(f"/api/v1/tasks/{tree.task}/state", params={"at": "2999-01-01T00:00:00Z"})
    assert now.json()["data"]["name"] == "Renamed"
    early = org.get(f"/api/v1/tasks/{tree.task}/state", params={"at": "2000-01-01T00:00:00Z"})
    assert early.status_code == 404


def test_entity_reads_and_lists(org: Org, tree: Tree) -> None:
    assert org.get(f"/api/v1/comments/{tree.comment}").json()["data"]["text"] == "First!"
    tasks = org.get("/api/v1/tasks", params={"project": tree.project}).json()
    assert [t["id"] for t in tasks["data"]] == [tree.task]
    subtasks = org.get("/api/v1/tasks", params={"parent": tree.task}).json()
    assert [t["id"] for t in subtasks["data"]] == [tree.subtask]
    me = org.get("/api/v1/me").json()
    assert me["role"] == "owner" and me["org_id"] == org.id
    users = org.get("/api/v1/users", params={"limit": 1}).json()
    assert users["has_more"] is False and len(users["data"]) == 1


def test_references_must_exist(org: Org, tree: Tree) -> None:
    bad = org.post("/api/v1/tasks", json={"name": "x", "project": 999999})
    assert bad.status_code == 422
    assert "project" in bad.json()["detail"]
    both = org.post(
        "/api/v1/tasks", json={"name": "x", "project": tree.project, "parent": tree.task}
    )
    assert both.status_code == 422
    wrong_type = org.patch(f"/api/v1/tasks/{tree.task}", json={"assignee": tree.project})
    assert wrong_type.status_code == 422
