"""Yandex Tracker dialect: the issue changelog, the issue read and what `self` links name."""

from __future__ import annotations

import re
from typing import Any

from .conftest import Org, Tree
from .test_tracker import DATE, tget, tracker_error, tracker_headers

LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def changelog(org: Org, key: str | int, **params: Any) -> Any:
    return tget(org, f"/v2/issues/{key}/changelog", params)


def links(response: Any) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers["link"])}


def test_the_tasks_changes_and_its_comments(org: Org, tree: Tree) -> None:
    task = tree.task
    other = org.create("projects", name="Other", workspace=tree.workspace)
    org.patch(f"/api/v1/tasks/{task}", json={"name": "Final plan"})
    org.patch(f"/api/v1/tasks/{task}", json={"status": "in_progress"})
    org.post(f"/api/v1/tasks/{task}/followers", json={"add": [org.owner_id]})
    org.patch(f"/api/v1/tasks/{task}", json={"project": other["id"]})
    comment = org.create("comments", task=task, text="Looks good")
    org.patch(f"/api/v1/comments/{comment['id']}", json={"text": "Looks great"})
    org.delete(f"/api/v1/comments/{comment['id']}")
    org.post(f"/api/v1/tasks/{task}/close")
    org.post(f"/api/v1/tasks/{task}/reopen")
    org.delete(f"/api/v1/tasks/{task}")
    org.post(f"/api/v1/tasks/{task}/restore")
    # Subtasks have changelogs of their own: their changes and comments stay out.
    org.patch(f"/api/v1/tasks/{tree.subtask}", json={"notes": "sub"})
    org.create("comments", task=tree.subtask, text="On the subtask")

    response = changelog(org, f"TASK-{task}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["type"] for c in body] == [
        "IssueCreated",
        "IssueUpdated",
        "IssueWorkflow",
        "IssueUpdated",
        "IssueMoved",
        "IssueCommentAdded",
        "IssueCommentUpdated",
        "IssueCommentRemoved",
        "IssueWorkflow",
        "IssueWorkflow",
        "IssueUpdated",
        "IssueUpdated",
    ]
    base = "http://testserver/v2"
    owner = {
        "self": f"{base}/users/{org.owner_id}",
        "id": str(org.owner_id),
        "display": "Acme Owner",
    }
    first = body[0]
    params = {"order": "oldest", "descendants": "false", "limit": 1}
    created = org.get(f"/api/v1/tasks/{task}/events", params=params).json()["data"][0]
    assert first["id"] == f"{created['id']:024x}"
    assert first["self"] == f"{base}/issues/TASK-{task}/changelog/{first['id']}"
    assert first["issue"]["key"] == f"TASK-{task}" and first["issue"]["display"] == "Final plan"
    assert {k: first["updatedBy"][k] for k in owner} == owner
    assert DATE.fullmatch(first["updatedAt"]) and first["transport"] == "v2"

    def fields(change: dict[str, Any]) -> list[tuple[str, Any, Any]]:
        return [(f["field"]["id"], f["from"], f["to"]) for f in change["fields"]]

    assert fields(body[1]) == [("summary", "Draft plan", "Final plan")]
    assert fields(body[2]) == [
        ("status", None, {"id": "inProgress", "key": "inProgress", "display": "In progress"})
    ]
    [(name, old, new)] = fields(body[3])
    assert (
        name == "followers" and old is None and [{k: u[k] for k in owner} for u in new] == [owner]
    )
    [(name, old, new)] = fields(body[4])
    assert name == "project"
    assert (old["shortId"], new["shortId"]) == (tree.project, other["id"])
    assert body[4]["fields"][0]["field"] == {
        "self": f"{base}/fields/project",
        "id": "project",
        "display": "Project",
    }
    comment_ref = {
        "self": f"{base}/issues/TASK-{task}/comments/{comment['id']}",
        "id": str(comment["id"]),
    }
    assert body[5]["comments"] == {"added": [{**comment_ref, "display": "Looks good"}]}
    assert body[6]["comments"] == {"updated": [{**comment_ref, "display": "Looks great"}]}
    assert body[7]["comments"] == {"removed": [{**comment_ref, "display": "Looks great"}]}
    assert all(c["fields"] == [] for c in body[5:8])
    fixed = {"id": "fixed", "key": "fixed", "display": "Fixed"}
    assert fields(body[8]) == [("resolution", None, fixed)]
    assert fields(body[9]) == [("resolution", fixed, None)]
    assert fields(body[10]) == [("deleted", False, True)]
    assert fields(body[11]) == [("deleted", True, False)]
    assert "next" not in links(response)


def test_pages_follow_the_link_header(org: Org, tree: Tree) -> None:
    for i in range(8):
        org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"v{i}"})
    everything = changelog(org, tree.task).json()
    assert len(everything) == 9
    seen: list[str] = []
    response = changelog(org, tree.task, perPage=2)
    pages = 1
    while True:
        assert response.status_code == 200, response.text
        seen += [c["id"] for c in response.json()]
        found = links(response)
        assert found["first"] == f"http://testserver/v2/issues/TASK-{tree.task}/changelog?perPage=2"
        if "next" not in found:
            break
        assert found["next"].endswith(f"?id={seen[-1]}&perPage=2")
        response = org.client.get(found["next"], headers=tracker_headers(org))
        pages += 1
    assert seen == [c["id"] for c in everything] and pages == 5
    # The `id` cursor: the changes after that one.
    after = changelog(org, f"task-{tree.task}", id=seen[3]).json()
    assert [c["id"] for c in after] == seen[4:]
    assert changelog(org, tree.task, id=seen[-1]).json() == []


def test_filters_by_field_and_type(org: Org, tree: Tree) -> None:
    org.patch(f"/api/v1/tasks/{tree.task}", json={"status": "review"})
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "n"})
    org.patch(f"/api/v1/tasks/{tree.task}", json={"status": "done", "notes": "m"})
    org.create("comments", task=tree.task, text="Hi")
    status = changelog(org, tree.task, field="status").json()
    assert [c["type"] for c in status] == ["IssueWorkflow", "IssueWorkflow"]
    described = changelog(org, tree.task, field=["description", "summary"]).json()
    assert [c["type"] for c in described] == ["IssueCreated", "IssueUpdated", "IssueWorkflow"]
    typed = changelog(org, tree.task, type="IssueCreated,IssueCommentAdded").json()
    assert [c["type"] for c in typed] == ["IssueCreated", "IssueCommentAdded"]
    assert changelog(org, tree.task, type="IssueWorklogAdded").json() == []
    paged = changelog(org, tree.task, field="status", perPage=1)
    assert [c["id"] for c in paged.json()] == [status[0]["id"]]
    assert links(paged)["next"].endswith("perPage=1&field=status")
    follow = org.client.get(links(paged)["next"], headers=tracker_headers(org))
    assert [c["id"] for c in follow.json()] == [status[1]["id"]]
    assert "next" not in links(follow)


def test_changelog_errors(org: Org, other_org: Org, tree: Tree) -> None:
    ids = [c["id"] for c in changelog(org, tree.task).json()]
    assert "type" in tracker_error(changelog(org, tree.task, type="IssueExploded"), 400)
    assert "perPage" in tracker_error(changelog(org, tree.task, perPage=0), 400)
    assert "id" in tracker_error(changelog(org, tree.task, id="zzz"), 400)
    subtask_change = changelog(org, tree.subtask).json()[0]["id"]
    assert ids[0] != subtask_change
    missing = f"{int(ids[0], 16) + 10**6:024x}"
    assert missing in tracker_error(changelog(org, tree.task, id=missing), 404)
    for key in (tree.project, "TASK-987654321", "PROJ-1", "TASK-", f"TASK-{tree.task}x"):
        tracker_error(changelog(org, key), 404)
    other = other_org.client.get(
        f"/v2/issues/TASK-{tree.task}/changelog", headers=tracker_headers(other_org)
    )
    tracker_error(other, 404)


def test_issue_read_and_keys(org: Org, tree: Tree) -> None:
    org.patch(
        f"/api/v1/tasks/{tree.subtask}",
        json={
            "assignee": org.owner_id,
            "tags": ["x"],
            "priority": "urgent",
            "due_on": "2026-12-01",
        },
    )
    hex_id = org.get(f"/api/v1/tasks/{tree.subtask}").json()["data"]["hex_id"]
    issue = tget(org, f"/v2/issues/TASK-{tree.subtask}").json()
    assert issue["self"] == f"http://testserver/v2/issues/TASK-{tree.subtask}"
    assert (issue["id"], issue["key"], issue["summary"]) == (
        hex_id,
        f"TASK-{tree.subtask}",
        "Outline",
    )
    assert issue["assignee"]["id"] == str(org.owner_id) and issue["tags"] == ["x"]
    assert issue["priority"] == {"id": "urgent", "key": "urgent", "display": "Urgent"}
    assert issue["deadline"] == "2026-12-01" and issue["parent"]["key"] == f"TASK-{tree.task}"
    assert issue["project"] is None and issue["resolution"] is None
    for key in (tree.subtask, f"task-{tree.subtask}", hex_id):
        assert tget(org, f"/v2/issues/{key}").json() == issue
    assert tget(org, f"/v3/issues/{hex_id}").json()["self"].startswith("http://testserver/v3/")
    # The official client asks for the changelog collection with a trailing slash.
    slash = tget(org, f"/v2/issues/TASK-{tree.subtask}/changelog/")
    assert slash.json() == changelog(org, tree.subtask).json()


def test_what_self_links_name(org: Org, other_org: Org, tree: Tree) -> None:
    user = tget(org, f"/v2/users/{org.owner_id}").json()
    assert user["self"] == f"http://testserver/v2/users/{org.owner_id}"
    assert user["display"] == "Acme Owner" and user["uid"] == org.owner_id
    assert (user["firstName"], user["lastName"], user["login"]) == ("Acme", "Owner", "owner")
    assert tget(org, "/v2/myself").json() == user
    tracker_error(tget(org, f"/v2/users/{other_org.owner_id}"), 404)
    tracker_error(tget(org, f"/v2/users/{tree.task}"), 404)
    tracker_error(tget(org, "/v2/users/me"), 404)
    fields = {f["id"]: f for f in tget(org, "/v2/fields/").json()}
    assert fields["followers"]["schema"] == {"type": "array", "items": "user", "required": False}
    assert fields["summary"]["name"] == "Summary"
    assert tget(org, "/v2/fields/summary", **{"Accept-Language": "ru"}).json()["name"] == "Название"
    tracker_error(tget(org, "/v2/fields/bogus"), 404)
