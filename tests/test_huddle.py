"""Huddle's task audit trail: paging by links, JSON and CSV, types, window, errors, access."""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from worktrail.app import create_app
from worktrail.config import Settings
from worktrail.store import Store

from .conftest import Org, Tree, new_org

JSON = {"Accept": "application/vnd.huddle.data+json"}
DAY = 86_400_000_000


def url(workspace: int | str) -> str:
    return f"/tasks/workspace/{workspace}/audits"


def audits(org: Org, workspace: int, headers: dict[str, str] = JSON, **params: Any) -> Any:
    response = org.get(url(workspace), params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response


def body(org: Org, workspace: int, **params: Any) -> dict[str, Any]:
    response = audits(org, workspace, **params)
    assert response.headers["content-type"].startswith("application/vnd.huddle.data+json")
    data: dict[str, Any] = response.json()
    return data


def links(page: dict[str, Any]) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in page["links"]}


def huddle_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/vnd.huddle.error+json")
    error = response.json()
    assert error["statusCode"] == status and error["errorCode"] == code
    assert error["errorMessages"] and all(error["errorMessages"])


def task_audits(org: Org, workspace: int) -> list[dict[str, Any]]:
    """The workspace's task and comment events from the native API, newest first."""
    response = org.get("/api/v1/events", params={"scope": f"workspace:{workspace}", "limit": 1000})
    assert response.status_code == 200
    events = response.json()["data"]
    return [e for e in events if e["subject"]["type"] in ("task", "comment")]


def subject_task(event: dict[str, Any]) -> int:
    if event["subject"]["type"] == "task":
        return int(event["subject"]["id"])
    return int((event["after"] or event["before"])["task"])


@pytest.fixture
def busy(org: Org, tree: Tree) -> Tree:
    """The tree with 30-odd task and comment changes, a project change and another
    workspace's activity around them."""
    for i in range(12):
        org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"note {i}"})
        org.create("comments", task=tree.task, text=f"comment {i}")
    org.patch(f"/api/v1/projects/{tree.project}", json={"name": "Launch v2"})
    other = org.create("workspaces", name="Elsewhere", members=[org.owner_id])
    project = org.create("projects", name="Other", workspace=other["id"])
    org.create("tasks", name="Not here", project=project["id"])
    return tree


# -- paging --------------------------------------------------------------------------------


def test_following_next_links_reads_every_change_once_newest_first(org: Org, busy: Tree) -> None:
    expected = task_audits(org, busy.workspace)
    assert len(expected) > 20
    seen: list[dict[str, Any]] = []
    page = body(org, busy.workspace, pagesize=7)
    first = links(page)
    assert "prev" not in first
    pages = 0
    while True:
        pages += 1
        seen += page["changes"]
        rel = links(page)
        assert rel["self"].startswith("http://testserver/tasks/workspace/")
        assert rel["workspace"] == f"http://testserver/workspaces/{busy.workspace}"
        assert rel["first"] == first["first"] and "skipitems=0" in rel["first"]
        if pages > 1:
            assert "prev" in rel
        if "next" not in rel:
            break
        nxt = urlsplit(rel["next"])
        response = org.get(nxt.path, params=parse_qs(nxt.query), headers=JSON)
        assert response.status_code == 200
        page = response.json()
    assert pages == -(-len(expected) // 7)
    assert len(seen) == len(expected)
    assert [c["links"][0]["href"] for c in seen] == [
        f"http://testserver/tasks/{subject_task(e)}" for e in expected
    ]
    dates = [parsedate_to_datetime(c["createdDate"]) for c in seen]
    assert dates == sorted(dates, reverse=True)


def test_links_name_the_page_and_its_neighbours(org: Org, busy: Tree) -> None:
    page = body(org, busy.workspace, pagesize=5, skipitems=10, daysBack=7)
    rel = links(page)
    query = {k: v[0] for k, v in parse_qs(urlsplit(rel["current"]).query).items()}
    assert query == {"skipitems": "10", "pagesize": "5", "daysBack": "7"}
    assert "skipitems=5&" in rel["prev"] and "skipitems=15&" in rel["next"]
    assert "daysBack=7&pagesize=5&skipitems=10" in rel["self"]
    assert [link["rel"] for link in page["links"]] == [
        "self",
        "workspace",
        "current",
        "first",
        "prev",
        "next",
    ]
    beyond = body(org, busy.workspace, pagesize=5, skipitems=1000)
    assert beyond["changes"] == [] and "next" not in links(beyond)


def test_defaults_are_30_days_50_changes_from_the_newest(org: Org, busy: Tree) -> None:
    page = body(org, busy.workspace)
    assert len(page["changes"]) == min(50, len(task_audits(org, busy.workspace)))
    assert "daysBack=30&pagesize=50&skipitems=0" in links(page)["self"]


# -- formats -------------------------------------------------------------------------------


def test_csv_is_the_same_page_as_the_json(org: Org, busy: Tree) -> None:
    page = body(org, busy.workspace, pagesize=9, skipitems=3)
    response = audits(org, busy.workspace, {"Accept": "text/csv"}, pagesize=9, skipitems=3)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="workspace-{busy.workspace}-task-audits.csv"'
    )
    assert 'rel="next"' in response.headers["link"] and 'rel="prev"' in response.headers["link"]
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    assert rows[0] == [
        "Title",
        "Created Date",
        "Type",
        "New Value",
        "Actor Name",
        "Actor Email",
        "Task URI",
    ]
    assert response.text.endswith("\r\n")
    expected = [
        [
            c["title"],
            c["createdDate"],
            c["type"],
            c["newValue"],
            c["actors"][0]["name"],
            c["actors"][0]["email"],
            c["links"][0]["href"],
        ]
        for c in page["changes"]
    ]
    assert rows[1:] == expected


def test_csv_quotes_commas_quotes_and_line_breaks(org: Org, tree: Tree) -> None:
    text = 'Said "no", then\nleft'
    org.create("comments", task=tree.task, text=text)
    response = audits(org, tree.workspace, {"Accept": "text/csv"}, pagesize=1)
    assert '"Said ""no"", then\nleft"' in response.text
    [_, row] = list(csv.reader(io.StringIO(response.text, newline="")))
    assert row[2:4] == ["TaskCommentCreated", text]


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        ("application/json", "application/json"),
        ("*/*", "application/vnd.huddle.data+json"),
        ("text/csv;q=0.5, application/vnd.huddle.data+json", "application/vnd.huddle.data+json"),
        ("application/json;q=0.2, text/csv", "text/csv; charset=utf-8"),
    ],
)
def test_accept_chooses_the_format(org: Org, tree: Tree, accept: str, media: str) -> None:
    response = audits(org, tree.workspace, {"Accept": accept})
    assert response.headers["content-type"] == media


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "application/json;q=0"])
def test_other_media_types_are_406(org: Org, tree: Tree, accept: str) -> None:
    response = org.get(url(tree.workspace), headers={"Accept": accept})
    huddle_error(response, 406, "NotAcceptable")


# -- what a change says --------------------------------------------------------------------


def test_every_kind_of_task_and_comment_change_has_its_type(org: Org, tree: Tree) -> None:
    user, _ = org.user("Rosa Diaz")
    task = org.create("tasks", name="Plan", project=tree.project)["id"]
    t = f"/api/v1/tasks/{task}"
    steps: list[tuple[str, str, str, Any]] = [
        ("patch", t, "TaskTitleChanged", {"name": "Plan B"}),
        ("patch", t, "TaskDescriptionChanged", {"notes": "Details"}),
        ("patch", t, "TaskDueDateChanged", {"due_on": "2026-12-24"}),
        ("patch", t, "TaskStatusChanged", {"status": "in_progress"}),
        ("patch", t, "TaskPriorityChanged", {"priority": "high"}),
        ("patch", t, "TaskAssigneeAdded", {"assignee": user}),
        ("patch", t, "TaskAssigneeRemoved", {"assignee": None}),
        ("post", t + "/followers", "TaskFollowerAdded", {"add": [user]}),
        ("post", t + "/followers", "TaskFollowerRemoved", {"remove": [user]}),
        ("post", t + "/tags", "TaskTagAdded", {"add": ["urgent"]}),
        ("post", t + "/tags", "TaskTagRemoved", {"remove": ["urgent"]}),
        ("patch", t, "TaskCustomFieldChanged", {"custom_fields": {"Size": "L"}}),
        ("post", t + "/move", "TaskMoved", {"parent": tree.task}),
        ("post", t + "/close", "TaskCompleted", None),
        ("post", t + "/reopen", "TaskReopened", None),
        ("delete", t, "TaskDeleted", None),
        ("post", t + "/restore", "TaskRestored", None),
    ]
    for method, path, _, payload in steps:
        if method == "delete":
            response = org.delete(path)
        elif method == "patch":
            response = org.patch(path, json=payload)
        else:
            response = org.post(path, json=payload)
        assert response.status_code in (200, 201), (path, response.text)
    comment = org.create("comments", task=task, text="Looks good")["id"]
    org.patch(f"/api/v1/comments/{comment}", json={"text": "Looks great"})
    org.delete(f"/api/v1/comments/{comment}")

    changes = body(org, tree.workspace, pagesize=21)["changes"][::-1]
    assert [c["type"] for c in changes] == [
        "TaskCreated",
        *(kind for _, _, kind, _ in steps),
        "TaskCommentCreated",
        "TaskCommentEdited",
        "TaskCommentDeleted",
    ]
    values = {c["type"]: c["newValue"] for c in changes}
    assert values["TaskTitleChanged"] == "Plan B"
    assert values["TaskDueDateChanged"] == "2026-12-24"
    assert values["TaskAssigneeAdded"] == "Rosa Diaz"
    assert values["TaskFollowerAdded"] == "Rosa Diaz"
    assert values["TaskTagAdded"] == "urgent"
    assert values["TaskCustomFieldChanged"] == "Size: L"
    assert values["TaskCommentEdited"] == "Looks great"
    assert values["TaskDeleted"] == "" and values["TaskCommentDeleted"] == ""
    assert {c["title"] for c in changes[1:]} == {"Plan B"}
    assert all(c["links"][0]["href"].endswith(f"/tasks/{task}") for c in changes)


def test_a_change_names_its_actor_and_its_time(org: Org, tree: Tree) -> None:
    [change] = body(org, tree.workspace, pagesize=1)["changes"]
    assert change["type"] == "TaskCommentCreated" and change["title"] == "Outline"
    [actor] = change["actors"]
    assert actor["name"] == "Acme Owner" and actor["email"] == "owner@acme.test"
    assert actor["rel"] == "Actor"
    assert [(link["rel"], link.get("type")) for link in actor["links"]] == [
        ("self", None),
        ("avatar", "image/jpeg"),
        ("alternate", "text/html"),
    ]
    assert actor["links"][0]["href"] == f"http://testserver/users/{org.owner_id}"
    assert change["createdDate"].endswith(" GMT")
    assert change["links"][1] == {
        "rel": "workspace",
        "href": f"http://testserver/workspaces/{tree.workspace}",
    }


def test_only_task_and_comment_changes_of_the_workspace(org: Org, busy: Tree) -> None:
    types = {c["type"] for c in body(org, busy.workspace, pagesize=500)["changes"]}
    assert types == {"TaskCreated", "TaskDescriptionChanged", "TaskCommentCreated"}
    titles = {c["title"] for c in body(org, busy.workspace, pagesize=500)["changes"]}
    assert "Not here" not in titles


def test_days_back_counts_from_when_each_change_was_recorded(
    org: Org, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = task_audits(org, tree.workspace)
    time.sleep(0.01)
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "recent"})
    last_old = org.store.get_event(org.id, before[0]["seq"])
    assert last_old is not None
    monkeypatch.setattr(
        org.client.app.state.services, "clock", lambda: last_old.recorded_at + 2 * DAY + 1
    )
    assert [c["type"] for c in body(org, tree.workspace, daysBack=2)["changes"]] == [
        "TaskDescriptionChanged"
    ]
    assert len(body(org, tree.workspace, daysBack=3)["changes"]) == len(before) + 1


# -- errors and access ---------------------------------------------------------------------


def test_members_read_their_workspaces_and_only_those(org: Org, tree: Tree) -> None:
    member, member_token = org.user("Mia Member")
    guest, guest_token = org.user("Gus Guest", role="guest")
    _, admin_token = org.user("Ada Admin", role="admin")
    as_member = {**JSON, "Authorization": f"Bearer {member_token}"}
    as_guest = {**JSON, "Authorization": f"Bearer {guest_token}"}
    as_admin = {**JSON, "Authorization": f"Bearer {admin_token}"}
    elsewhere = org.create("workspaces", name="Elsewhere", members=[org.owner_id, member])
    assert org.client.get(url(elsewhere["id"]), headers=as_member).status_code == 200
    for headers in (as_member, as_guest):
        response = org.client.get(url(tree.workspace), headers=headers)
        huddle_error(response, 403, "WorkspaceMembershipRequired")
    assert org.client.get(url(tree.workspace), headers=as_admin).status_code == 200
    response = org.post(
        f"/api/v1/workspaces/{tree.workspace}/members", json={"add": [member, guest]}
    )
    assert response.status_code == 200, response.text
    for headers in (as_member, as_guest):
        response = org.client.get(url(tree.workspace), headers=headers)
        assert response.status_code == 200 and response.json()["changes"]


def test_locked_deleted_unknown_and_foreign_workspaces(
    org: Org, other_org: Org, tree: Tree
) -> None:
    response = org.patch(f"/api/v1/workspaces/{tree.workspace}", json={"locked": True})
    assert response.status_code == 200, response.text
    events = org.get(f"/api/v1/workspaces/{tree.workspace}/events").json()["data"]
    assert events[0]["changes"] == [{"field": "locked", "old": False, "new": True}]
    huddle_error(org.get(url(tree.workspace), headers=JSON), 403, "WorkspaceLocked")
    org.patch(f"/api/v1/workspaces/{tree.workspace}", json={"locked": False})
    assert org.get(url(tree.workspace), headers=JSON).status_code == 200

    gone = org.create("workspaces", name="Gone", members=[org.owner_id])
    assert org.delete(f"/api/v1/workspaces/{gone['id']}").status_code == 200
    huddle_error(org.get(url(gone["id"]), headers=JSON), 404, "WorkspaceDeleted")

    theirs = other_org.create("workspaces", name="Theirs", members=[other_org.owner_id])
    unknown = (987654321, 2**63 - 1, 2**63, "9" * 19, 2**70, "abc", "1e3", "-1", "%C2%B2")
    for workspace in (tree.project, tree.task, theirs["id"], *unknown):
        huddle_error(org.get(url(workspace), headers=JSON), 404, "ObjectNotFound")


@pytest.mark.parametrize("authorization", [None, "Bearer wt_not-a-token", "Basic abc"])
def test_without_a_valid_token_it_is_401(tree: Tree, org: Org, authorization: str | None) -> None:
    headers = {**JSON, **({"Authorization": authorization} if authorization else {})}
    response = org.client.get(url(tree.workspace), headers=headers)
    huddle_error(response, 401, "Unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "params",
    [
        {"daysBack": "0"},
        {"daysBack": "-1"},
        {"daysBack": "ten"},
        {"daysBack": "36501"},
        {"pagesize": "0"},
        {"pagesize": "501"},
        {"pagesize": "1.5"},
        {"skipitems": "-1"},
        {"skipitems": "99999999999"},
        {"skipitems": ""},
    ],
)
def test_out_of_range_parameters_are_400(org: Org, tree: Tree, params: dict[str, str]) -> None:
    response = org.get(url(tree.workspace), params=params, headers=JSON)
    huddle_error(response, 400, "Validation")
    assert next(iter(params)) in response.json()["errorMessages"][0]


def test_rate_limit_answers_429(settings: Settings, store: Store) -> None:
    limited = dataclasses.replace(settings, rate_limit_per_minute=2)
    with TestClient(create_app(limited, store), raise_server_exceptions=False) as client:
        org = new_org(store, client)
        ws = org.create("workspaces", name="W", members=[org.owner_id])["id"]
        assert [org.get(url(ws)).status_code for _ in range(2)] == [200, 200]
        response = org.get(url(ws))
        huddle_error(response, 429, "TooManyRequests")
        assert int(response.headers["retry-after"]) >= 1
        assert response.headers["x-ratelimit-limit"] == "2"


def test_other_paths_and_methods_answer_in_huddles_shape(org: Org, tree: Tree) -> None:
    huddle_error(org.post(url(tree.workspace)), 405, "MethodNotAllowed")
    huddle_error(org.get("/tasks/workspace/1/nothing"), 404, "ObjectNotFound")


FUZZ = hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
VALUES = st.one_of(
    st.sampled_from(["0", "1", "50", "500", "501", "-3", "", "1e9", "2147483648", "x"]),
    st.text(max_size=12),
)


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from(["daysBack", "pagesize", "skipitems", "q"]), VALUES)),
    st.sampled_from(["", "text/csv", "application/json;q=abc", "*/*;q=0.1", "x/y, text/*"]),
)
def test_whatever_a_client_sends_is_a_200_or_a_huddle_error(
    org: Org, tree: Tree, params: list[tuple[str, str]], accept: str
) -> None:
    response = org.get(url(tree.workspace), params=params, headers={"Accept": accept})
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.json()["errorCode"] in ("Validation", "NotAcceptable")
