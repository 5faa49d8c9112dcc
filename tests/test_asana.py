"""Asana's events API: the sync protocol, event rendering, opt_fields and errors."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from worktrail.app import create_app
from worktrail.auth import authenticate
from worktrail.config import Settings
from worktrail.dialects.asana.errors import SYNC_INVALID
from worktrail.dialects.asana.sync import SyncPosition, SyncTokens
from worktrail.model import EntityType
from worktrail.store import Store
from worktrail.write import Writer

from .conftest import Org, Tree, new_org

EVENTS = "/api/1.0/events"
SECRET = "test-secret"  # conftest's make_settings


def get(org: Org, resource: int | str | None, path: str = EVENTS, **params: Any) -> Any:
    if resource is not None:
        params["resource"] = resource
    return org.get(path, params=params)


def subscribe(org: Org, resource: int, path: str = EVENTS) -> str:
    """The first call of the protocol: 412 and a token that marks now."""
    response = get(org, resource if path == EVENTS else None, path)
    assert response.status_code == 412, response.text
    body = response.json()
    assert body["errors"] == [{"message": SYNC_INVALID}]
    assert isinstance(body["sync"], str) and body["sync"]
    token: str = body["sync"]
    return token


def follow(
    org: Org, resource: int, sync: str, **params: Any
) -> tuple[list[dict[str, Any]], str, int]:
    """Every event since `sync`, following the tokens until has_more is false."""
    events: list[dict[str, Any]] = []
    calls = 0
    while True:
        response = get(org, resource, sync=sync, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data", "sync", "has_more"}
        events.extend(body["data"])
        sync, calls = body["sync"], calls + 1
        if not body["has_more"]:
            return events, sync, calls


def compact(gid: int, resource_type: str, name: str | None, **extra: Any) -> dict[str, Any]:
    return {"gid": str(gid), "resource_type": resource_type, "name": name, **extra}


def task_ref(gid: int, name: str) -> dict[str, Any]:
    return compact(gid, "task", name, resource_subtype="default_task")


# -- the sync protocol -------------------------------------------------------------------


def test_first_call_412_marks_now(org: Org, tree: Tree) -> None:
    sync = subscribe(org, tree.project)
    assert follow(org, tree.project, sync)[0] == []  # the tree was built before the token
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "after"})
    events, _, _ = follow(org, tree.project, sync)
    assert [(e["action"], e["change"]["field"]) for e in events] == [("changed", "notes")]
    # The path forms are the same stream.
    for path in (f"/api/1.0/projects/{tree.project}/events", f"/api/1.0/tasks/{tree.task}/events"):
        path_sync = subscribe(org, 0, path)
        org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": path})
        response = org.get(path, params={"sync": path_sync})
        assert [e["change"]["new_value"] for e in response.json()["data"]] == [path]


def test_pages_of_at_most_100_with_has_more(org: Org, tree: Tree) -> None:
    sync = subscribe(org, tree.task)
    tags = [f"t{i:03}" for i in range(130)]
    assert org.post(f"/api/v1/tasks/{tree.task}/tags", json={"add": tags}).status_code == 200
    org.patch(f"/api/v1/tasks/{tree.task}", json={"name": "Last"})
    first = get(org, tree.task, sync=sync).json()
    assert len(first["data"]) == 100 and first["has_more"] is True
    second = get(org, tree.task, sync=first["sync"]).json()
    assert len(second["data"]) == 31 and second["has_more"] is False
    values = [e["change"]["added_value"]["name"] for e in first["data"] + second["data"][:-1]]
    assert values == tags
    assert second["data"][-1]["change"] == {
        "field": "name",
        "action": "changed",
        "new_value": "Last",
    }
    # A smaller limit is honoured, a larger one is capped; pages split events anywhere.
    events, _, calls = follow(org, tree.task, sync, limit=7)
    assert calls == 19 and len(events) == 131
    assert len(get(org, tree.task, sync=sync, limit=500).json()["data"]) == 100


def test_the_same_token_gives_the_same_page(org: Org, tree: Tree) -> None:
    sync = subscribe(org, tree.project)
    for i in range(5):
        org.patch(f"/api/v1/tasks/{tree.subtask}", json={"notes": f"v{i}"})
    first = get(org, tree.project, sync=sync, limit=3).json()
    again = get(org, tree.project, sync=sync, limit=3).json()
    assert first["data"] == again["data"] and first["has_more"] is again["has_more"] is True
    rest = get(org, tree.project, sync=first["sync"]).json()
    assert get(org, tree.project, sync=first["sync"]).json()["data"] == rest["data"]
    notes = [e["change"]["new_value"] for e in first["data"] + rest["data"]]
    assert notes == [f"v{i}" for i in range(5)]


def test_an_idle_stream_keeps_answering_with_a_token(org: Org, tree: Tree) -> None:
    sync = subscribe(org, tree.project)
    for _ in range(2):
        body = get(org, tree.project, sync=sync).json()
        assert body["data"] == [] and body["has_more"] is False and body["sync"]
        sync = body["sync"]
    # Activity elsewhere in the organization moves the token on without events.
    org.create("workspaces", name="Elsewhere")
    body = get(org, tree.project, sync=sync).json()
    assert body["data"] == [] and body["has_more"] is False


def expect_fresh_token(org: Org, resource: int, sync: str) -> None:
    response = get(org, resource, sync=sync)
    assert response.status_code == 412, response.text
    body = response.json()
    assert body["errors"] == [{"message": SYNC_INVALID}]
    fresh = body["sync"]
    assert fresh != sync and get(org, resource, sync=fresh).status_code == 200


def test_expired_tokens_answer_412_with_a_fresh_one(org: Org, tree: Tree) -> None:
    tokens = SyncTokens(SECRET, 24)
    head = SyncPosition(org.store.head_seq(org.id))
    now = int(time.time())
    recent = tokens.mint(org.id, tree.project, head, issued_at=now - 23 * 3600)
    assert get(org, tree.project, sync=recent).status_code == 200
    expect_fresh_token(org, tree.project, tokens.mint(org.id, tree.project, head, now - 25 * 3600))


def test_the_ttl_is_a_setting(settings: Settings, store: Store) -> None:
    short = dataclasses.replace(settings, sync_token_ttl_hours=1)
    with TestClient(create_app(short, store), raise_server_exceptions=False) as client:
        org = new_org(store, client)
        project = org.create(
            "projects", name="P", workspace=org.create("workspaces", name="W")["id"]
        )
        tokens = SyncTokens(SECRET, 24)
        head = SyncPosition(store.head_seq(org.id))
        old = tokens.mint(org.id, project["id"], head, issued_at=int(time.time()) - 2 * 3600)
        expect_fresh_token(org, project["id"], old)


def test_tampered_foreign_and_garbage_tokens_answer_412(
    org: Org, other_org: Org, tree: Tree
) -> None:
    sync = subscribe(org, tree.project)
    body, dot, signature = sync.partition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    expect_fresh_token(org, tree.project, body + dot + flipped)
    for garbage in ("de4774f6915eae04714ca93bb2f5ee81", "%%%", "a.b", "x" * 5000):
        expect_fresh_token(org, tree.project, garbage)
    # Minted for another resource, another organization, or under another purpose.
    expect_fresh_token(org, tree.task, sync)
    head = SyncPosition(org.store.head_seq(org.id))
    foreign = SyncTokens(SECRET, 24).mint(other_org.id, tree.project, head)
    expect_fresh_token(org, tree.project, foreign)
    native = org.get("/api/v1/events", params={"limit": 1}).json()["next_cursor"]
    expect_fresh_token(org, tree.project, native)
    beyond = SyncTokens(SECRET, 24).mint(org.id, tree.project, SyncPosition(head.seq + 50))
    expect_fresh_token(org, tree.project, beyond)


def test_no_event_is_missed_under_concurrent_writes(org: Org, tree: Tree) -> None:
    principal = authenticate(org.store, org.token)
    writer = Writer(org.store)
    sync = subscribe(org, tree.project)
    threads, per_thread = 3, 12
    targets = [tree.task, tree.subtask, org.create("tasks", name="T3", project=tree.project)["id"]]
    sync = follow(org, tree.project, sync)[1]  # past the task just created

    def write(n: int) -> None:
        for i in range(per_thread):
            writer.update(principal, EntityType.TASK, targets[n], {"notes": f"{n}:{i}"})

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    seen: list[str] = []
    while any(w.is_alive() for w in workers):
        events, sync, _ = follow(org, tree.project, sync, limit=5)
        seen.extend(e["change"]["new_value"] for e in events)
    for worker in workers:
        worker.join()
    events, sync, _ = follow(org, tree.project, sync, limit=5)
    seen.extend(e["change"]["new_value"] for e in events)
    assert len(seen) == len(set(seen)) == threads * per_thread
    for n in range(threads):
        assert [v for v in seen if v.startswith(f"{n}:")] == [f"{n}:{i}" for i in range(per_thread)]
    native = org.get(
        "/api/v1/events",
        params={"scope": f"project:{tree.project}", "order": "oldest", "limit": 1000},
    ).json()["data"]
    assert seen == [e["changes"][0]["new"] for e in native if e["action"] == "updated"]


# -- what the events say -----------------------------------------------------------------


def test_tasks_subtasks_and_comments_bubble_up(org: Org, tree: Tree) -> None:
    project_sync = subscribe(org, tree.project)
    task_sync = subscribe(org, tree.task)
    sibling = org.create("tasks", name="Sibling", project=tree.project)
    sub = org.create("tasks", name="Detail", parent=tree.subtask)
    comment = org.create("comments", task=sub["id"], text="Looks good")
    project_events = follow(org, tree.project, project_sync)[0]
    actor = compact(org.owner_id, "user", "Acme Owner")
    created = [e["created_at"] for e in project_events]
    assert project_events == [
        {
            "user": actor,
            "resource": task_ref(sibling["id"], "Sibling"),
            "type": "task",
            "action": "added",
            "parent": compact(tree.project, "project", "Launch"),
            "created_at": created[0],
        },
        {
            "user": actor,
            "resource": task_ref(sub["id"], "Detail"),
            "type": "task",
            "action": "added",
            "parent": task_ref(tree.subtask, "Outline"),
            "created_at": created[1],
        },
        {
            "user": actor,
            "resource": compact(
                comment["id"], "story", "Looks good", resource_subtype="comment_added"
            ),
            "type": "story",
            "action": "added",
            "parent": task_ref(sub["id"], "Detail"),
            "created_at": created[2],
        },
    ]
    assert all(len(c) == 24 and c.endswith("Z") and c[19] == "." for c in created)
    assert created[0].startswith(sibling["created_at"][:23])
    task_events = follow(org, tree.task, task_sync)[0]
    assert [e["resource"]["gid"] for e in task_events] == [str(sub["id"]), str(comment["id"])]


def test_changes_one_field_each(org: Org, tree: Tree) -> None:
    mia, _ = org.user("Mia Taylor")
    sync = subscribe(org, tree.project)
    org.patch(
        f"/api/v1/tasks/{tree.task}",
        json={"name": "Final plan", "assignee": mia, "due_on": "2026-03-01", "priority": "high"},
    )
    org.post(f"/api/v1/tasks/{tree.task}/followers", json={"add": [mia, org.owner_id]})
    org.post(f"/api/v1/tasks/{tree.task}/followers", json={"remove": [mia]})
    org.post(f"/api/v1/tasks/{tree.task}/tags", json={"add": ["urgent"]})
    org.patch(f"/api/v1/tasks/{tree.task}", json={"assignee": None, "custom_fields": {"size": 3}})
    org.patch(f"/api/v1/projects/{tree.project}", json={"description": "Q3"})
    events = follow(org, tree.project, sync)[0]
    assert {e["action"] for e in events} == {"changed"} and {e["parent"] for e in events} == {None}
    assert [e["resource"]["name"] for e in events[:4]] == ["Final plan"] * 4
    mia_ref = compact(mia, "user", "Mia Taylor")
    assert [e["change"] for e in events] == [
        {"field": "name", "action": "changed", "new_value": "Final plan"},
        {"field": "assignee", "action": "changed", "new_value": mia_ref},
        {"field": "due_on", "action": "changed", "new_value": "2026-03-01"},
        {"field": "priority", "action": "changed", "new_value": "high"},
        {
            "field": "followers",
            "action": "added",
            "added_value": compact(org.owner_id, "user", "Acme Owner"),
        },
        {"field": "followers", "action": "added", "added_value": mia_ref},
        {"field": "followers", "action": "removed", "removed_value": mia_ref},
        {
            "field": "tags",
            "action": "added",
            "added_value": {"resource_type": "tag", "name": "urgent"},
        },
        {"field": "assignee", "action": "changed", "new_value": None},
        {
            "field": "custom_fields",
            "action": "changed",
            "new_value": {"resource_type": "custom_field", "name": "size", "display_value": "3"},
        },
        {"field": "notes", "action": "changed", "new_value": "Q3"},
    ]
    assert events[-1]["resource"] == compact(tree.project, "project", "Launch")


def test_completion_moves_deletes_and_restores(org: Org, tree: Tree) -> None:
    other = org.create("projects", name="Other", workspace=tree.workspace)
    sync = subscribe(org, tree.project)
    other_sync = subscribe(org, other["id"])
    org.post(f"/api/v1/tasks/{tree.task}/close")
    org.post(f"/api/v1/tasks/{tree.task}/reopen")
    org.post(f"/api/v1/tasks/{tree.task}/move", json={"project": other["id"]})
    org.post(f"/api/v1/comments/{tree.comment}/move", json={"task": tree.task})
    org.delete(f"/api/v1/tasks/{tree.task}")
    org.post(f"/api/v1/tasks/{tree.task}/restore")
    launch, moved = (
        compact(tree.project, "project", "Launch"),
        compact(other["id"], "project", "Other"),
    )
    expected = [
        ("changed", None, {"field": "completed", "action": "changed", "new_value": True}),
        ("changed", None, {"field": "completed", "action": "changed", "new_value": False}),
        ("removed", launch, None),
        ("added", moved, None),
    ]
    events = follow(org, tree.project, sync)[0]
    assert [(e["action"], e["parent"], e.get("change")) for e in events] == expected
    assert "change" not in events[2] and events[2]["resource"]["gid"] == str(tree.task)
    # The moved task's later history is the other project's.
    later = follow(org, other["id"], other_sync)[0]
    assert [(e["action"], e["resource"]["resource_type"]) for e in later] == [
        ("removed", "task"),
        ("added", "task"),
        ("removed", "story"),
        ("added", "story"),
        ("deleted", "task"),
        ("undeleted", "task"),
    ]
    assert later[2]["parent"] == task_ref(tree.subtask, "Outline")
    assert later[3]["parent"] == task_ref(tree.task, "Draft plan")
    assert later[4]["parent"] is None and later[4]["resource"]["name"] == "Draft plan"


def test_system_changes_have_no_user(org: Org, tree: Tree) -> None:
    sync = subscribe(org, tree.project)
    record = {"op": "change", "type": "task", "id": tree.task, "actor": None}
    record["changes"] = [{"field": "notes", "new": "from the importer"}]
    response = org.post("/api/v1/changes", json={"records": [record]})
    assert response.status_code == 200, response.text
    [event] = follow(org, tree.project, sync)[0]
    assert event["user"] is None and event["change"]["new_value"] == "from the importer"


def test_opt_fields_and_opt_pretty(org: Org, tree: Tree) -> None:
    sync = subscribe(org, tree.project)
    org.patch(f"/api/v1/tasks/{tree.task}", json={"assignee": org.owner_id})
    fields = "action,user,resource.name,change.field,change.new_value,created_at"
    [event] = get(org, tree.project, sync=sync, opt_fields=fields).json()["data"]
    owner = {"gid": str(org.owner_id), "resource_type": "user"}
    assert event == {
        "action": "changed",
        "user": owner,
        "resource": {"gid": str(tree.task), "resource_type": "task", "name": "Draft plan"},
        "change": {"field": "assignee", "new_value": owner},
        "created_at": event["created_at"],
    }
    [named] = get(org, tree.project, sync=sync, opt_fields="change.new_value.name").json()["data"]
    assert named == {"change": {"new_value": {**owner, "name": "Acme Owner"}}}
    [whole] = get(org, tree.project, sync=sync, opt_fields="change,type,bogus").json()["data"]
    assert whole == {
        "change": get(org, tree.project, sync=sync).json()["data"][0]["change"],
        "type": "task",
    }
    pretty = get(org, tree.project, sync=sync, opt_pretty="true")
    assert pretty.text.startswith('{\n  "data": [\n') and pretty.json()["data"][0]["action"]
    assert "\n" in org.get(f"{EVENTS}?resource={tree.project}&opt_pretty").text
    assert "\n" not in get(org, tree.project, sync=sync, opt_pretty="false").text
    for bad in ("user..name", "action,user name", "."):
        response = get(org, tree.project, sync=sync, opt_fields=bad)
        assert (
            response.status_code == 400 and "opt_fields" in response.json()["errors"][0]["message"]
        )


# -- errors, access, rate limit ------------------------------------------------------------


def asana_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    [error] = response.json()["errors"]
    assert error["message"]
    message: str = error["message"]
    return message


def test_bad_parameters(org: Org, tree: Tree) -> None:
    assert asana_error(get(org, None), 400) == "resource: Missing input"
    assert "Not a valid gid" in asana_error(get(org, "abc"), 400)
    assert "Not a valid gid" in asana_error(get(org, "9" * 30), 400)
    assert "tasks and projects only" in asana_error(get(org, tree.workspace), 400)
    assert "tasks and projects only" in asana_error(get(org, tree.comment), 400)
    for limit in ("0", "-1", "ten"):
        assert "limit" in asana_error(get(org, tree.project, limit=limit), 400)
    assert "opt_pretty" in asana_error(get(org, tree.project, opt_pretty="maybe"), 400)
    twice = org.get(EVENTS, params=[("resource", tree.project), ("sync", "a"), ("sync", "b")])
    assert "sync" in asana_error(twice, 400)
    mismatch = org.get(f"/api/1.0/projects/{tree.project}/events", params={"resource": tree.task})
    assert "differs" in asana_error(mismatch, 400)


def test_unknown_objects_are_404(org: Org, other_org: Org, tree: Tree) -> None:
    assert asana_error(get(org, 987654321), 404) == "resource: Unknown object: 987654321"
    # Another organization's project does not exist for this token.
    assert "Unknown object" in asana_error(get(other_org, tree.project), 404)
    wrong_kind = org.get(f"/api/1.0/projects/{tree.task}/events")
    assert asana_error(wrong_kind, 404) == f"project: Unknown object: {tree.task}"
    assert asana_error(org.get("/api/1.0/tasks/x1/events"), 400).startswith("task:")
    assert asana_error(org.get("/api/1.0/nowhere"), 404) == "No matching route for request"


def test_authentication_and_workspace_access(org: Org, tree: Tree) -> None:
    assert asana_error(org.client.get(EVENTS, params={"resource": tree.project}), 401)
    bad = org.client.get(
        EVENTS, params={"resource": tree.project}, headers={"Authorization": "Bearer wt_nope"}
    )
    assert asana_error(bad, 401) == "Not Authorized"
    member, token = org.user("Mia Taylor")
    headers = {"Authorization": f"Bearer {token}"}
    outsider = org.client.get(EVENTS, params={"resource": tree.project}, headers=headers)
    assert "do not have access" in asana_error(outsider, 403)
    org.post(f"/api/v1/workspaces/{tree.workspace}/members", json={"add": [member]})
    inside = org.client.get(EVENTS, params={"resource": tree.task}, headers=headers)
    assert inside.status_code == 412


def test_rate_limit_answers_429(settings: Settings, store: Store) -> None:
    limited = dataclasses.replace(settings, rate_limit_per_minute=2)
    with TestClient(create_app(limited, store), raise_server_exceptions=False) as client:
        org = new_org(store, client)
        assert [get(org, 12345).status_code for _ in range(2)] == [404, 404]
        response = get(org, 12345)
        assert asana_error(response, 429).startswith("You've made too many requests")
        assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    "query",
    [
        "resource=%00",
        "resource=1&sync=%FF%FE",
        "resource=-1",
        "resource=1e9",
        "resource=1&limit=99999999999999999999999",
        "resource=1&opt_fields=%2C%2C",
        "resource=٣",
    ],
)
def test_odd_input_never_fails_the_server(org: Org, tree: Tree, query: str) -> None:
    response = org.get(f"{EVENTS}?{query}")
    assert 400 <= response.status_code < 500, response.text
    assert "errors" in response.json()


FUZZ = hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NAMES = ["resource", "sync", "limit", "opt_fields", "opt_pretty", "offset", "bogus"]
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", "true", "1", "100", "action,user.name", "a.b.", "eyJ9.AAAA"]),
)


@FUZZ
@given(
    st.sampled_from(["/api/1.0/events", "/api/1.0/projects/{}/events", "/api/1.0/tasks/{}/events"]),
    st.one_of(st.sampled_from(["{project}", "{task}"]), st.text(max_size=12)),
    st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=5),
)
def test_whatever_a_client_sends_is_a_2xx_or_an_asana_error(
    org: Org, tree: Tree, path: str, gid: str, params: list[tuple[str, str]]
) -> None:
    gid = gid.replace("{project}", str(tree.project)).replace("{task}", str(tree.task))
    params = [(k, v.replace("{project}", str(tree.project))) for k, v in params]
    response = org.get(path.replace("{}", quote(gid, safe="")), params=params)
    assert response.status_code < 500, response.text
    if response.status_code >= 300:
        assert response.headers["content-type"] == "application/json; charset=UTF-8"
        assert response.json()["errors"][0]["message"]
