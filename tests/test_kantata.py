"""Kantata OX Subscribed Events: response shape, event types, every filter, paging,
most_recent / most_recent_by_event_type, include=subject and the optional fields."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from worktrail.auth import create_token
from worktrail.store import Store
from worktrail.write import create_organization

from .conftest import Org, Tree

URL = "/api/v1/subscribed_events"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


def fetch(org: Org, path: str = URL, **params: Any) -> dict[str, Any]:
    response = org.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def listed(org: Org, **params: Any) -> list[dict[str, Any]]:
    """The events of one response, in the order of `results`."""
    body = fetch(org, **params)
    assert [r["key"] for r in body["results"]] == ["subscribed_events"] * len(body["results"])
    assert set(body["subscribed_events"]) == {r["id"] for r in body["results"]}
    return [body["subscribed_events"][r["id"]] for r in body["results"]]


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(e["event_type"], e["subject_id"]) for e in events]


def native(org: Org, **params: Any) -> list[dict[str, Any]]:
    response = org.get("/api/v1/events", params={"order": "oldest", "limit": 1000, **params})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


# -- shape ---------------------------------------------------------------------------------


def test_response_is_kantatas_shape(org: Org, tree: Tree) -> None:
    body = fetch(org)
    count = len(native(org))
    assert count == 7  # organization, owner, workspace, project, task, subtask, comment
    assert body["count"] == count
    assert body["meta"] == {"count": count, "page_count": 1, "page_number": 1, "page_size": 20}
    assert fetch(org, path=URL + ".json") == body
    events = listed(org)
    assert [e["id"] for e in events] == [str(e["id"]) for e in reversed(native(org))]
    comment = events[0]
    assert list(comment) == [
        "id",
        "account_id",
        "context_workspace_id",
        "created_at",
        "event_type",
        "subject_changed_at",
        "subject_id",
        "subject_type",
        "user_id",
    ]
    assert comment["account_id"] == org.id
    assert comment["context_workspace_id"] == str(tree.project)
    assert comment["event_type"] == "post:created"
    assert comment["subject_type"] == "Post"
    assert comment["subject_id"] == tree.comment
    assert comment["user_id"] == org.owner_id
    assert TIME.match(comment["created_at"]) and TIME.match(comment["subject_changed_at"])
    assert comment["created_at"].endswith("Z")  # the organization's time zone is UTC
    assert kinds(events) == [
        ("post:created", tree.comment),
        ("story:created", tree.subtask),
        ("story:created", tree.task),
        ("workspace:created", tree.project),
        ("workspace_group:created", tree.workspace),
        ("user:created", org.owner_id),
        ("account:created", org.id),
    ]
    assert [e["subject_type"] for e in events] == [
        "Post",
        "Story",
        "Story",
        "Workspace",
        "WorkspaceGroup",
        "User",
        "Account",
    ]
    by_subject = {e["subject_id"]: e for e in events}
    assert by_subject[tree.project]["context_workspace_id"] == str(tree.project)
    assert by_subject[tree.workspace]["context_workspace_id"] is None
    assert by_subject[org.owner_id]["user_id"] is None  # created by the system


def test_times_are_in_the_accounts_time_zone(store: Store, client: TestClient) -> None:
    created = create_organization(store, "Westco", "West Owner", "o@west.test", "America/Denver")
    _, token = create_token(store, created.org_id, created.owner_id, "test")
    west = Org(created.org_id, created.owner_id, token, client, store)
    event = listed(west, per_page=1)[0]
    assert re.search(r"-0[67]:00$", event["created_at"])
    recorded = native(west)[-1]["recorded_at"]
    utc = dt.datetime.fromisoformat(recorded.replace("Z", "+00:00")).replace(microsecond=0)
    assert dt.datetime.fromisoformat(event["created_at"]) == utc
    # times without a zone in the filters are the account's too
    local = dt.datetime.fromisoformat(event["created_at"]) - dt.timedelta(seconds=1)
    assert listed(west, created_after=local.replace(tzinfo=None).isoformat()) == listed(west)


def test_actions_become_kantatas_three_verbs(org: Org, tree: Tree) -> None:
    org.post(f"/api/v1/tasks/{tree.task}/close")
    org.post(f"/api/v1/tasks/{tree.task}/reopen")
    org.delete(f"/api/v1/tasks/{tree.task}")
    org.post(f"/api/v1/tasks/{tree.task}/restore")
    org.post(f"/api/v1/projects/{tree.project}/members", json={"add": [org.owner_id]})
    events = listed(org, per_page=5)
    assert kinds(events) == [
        ("workspace:updated", tree.project),  # members added: a participation of the project
        ("story:updated", tree.task),  # restored
        ("story:deleted", tree.task),
        ("story:updated", tree.task),  # reopened
        ("story:updated", tree.task),  # closed
    ]


# -- paging and order ------------------------------------------------------------------------


def make_history(org: Org, tree: Tree, n: int) -> None:
    for i in range(n):
        assert org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"v{i}"}).status_code == 200


def test_pages_cover_every_event_once_in_either_order(org: Org, tree: Tree) -> None:
    make_history(org, tree, 6)  # 13 events in all
    expected = [str(e["id"]) for e in native(org)]
    for order, ids in (("created_at:desc", expected[::-1]), ("created_at:asc", expected)):
        seen: list[str] = []
        for page in (1, 2, 3):
            body = fetch(org, order=order, page=page, per_page=5)
            assert body["meta"] == {
                "count": 13,
                "page_count": 3,
                "page_number": page,
                "page_size": 5,
            }
            seen.extend(r["id"] for r in body["results"])
        assert seen == ids
    past = fetch(org, page=4, per_page=5)
    assert past["results"] == [] and past["subscribed_events"] == {} and past["count"] == 13
    assert [r["id"] for r in fetch(org)["results"]] == expected[::-1][:13]
    assert fetch(org, per_page=500)["meta"]["page_size"] == 200  # clamped, as Kantata does


def test_limit_and_offset_win_over_page_when_both_are_given(org: Org, tree: Tree) -> None:
    make_history(org, tree, 3)  # 10 events
    ids = [str(e["id"]) for e in reversed(native(org))]
    body = fetch(org, limit=3, offset=4, page=3, per_page=2)
    assert [r["id"] for r in body["results"]] == ids[4:7]
    assert body["meta"] == {"count": 10, "page_count": 4, "page_number": 2, "page_size": 3}
    ascending = fetch(org, limit=3, offset=8, order="created_at:asc")
    assert [r["id"] for r in ascending["results"]] == ids[::-1][8:]
    # one of the two alone: Kantata falls back to page/per_page
    alone = fetch(org, limit=3, page=2, per_page=4)
    assert [r["id"] for r in alone["results"]] == ids[4:8]
    assert [r["id"] for r in fetch(org, offset=5)["results"]] == ids


# -- filters -------------------------------------------------------------------------------


def test_created_after_and_before_bound_the_recorded_time(org: Org, tree: Tree) -> None:
    first = native(org)
    time.sleep(0.01)
    make_history(org, tree, 2)
    later = native(org)[len(first) :]
    boundary = first[-1]["recorded_at"]
    after = listed(org, created_after=boundary)
    assert [e["id"] for e in after] == [str(e["id"]) for e in reversed(later)]
    before = listed(org, created_before=later[0]["recorded_at"])
    assert [e["id"] for e in before] == [str(e["id"]) for e in reversed(first)]
    assert listed(org, created_after=boundary, created_before=later[-1]["recorded_at"]) == [
        e for e in after if e["id"] == str(later[0]["id"])
    ]
    assert listed(org, created_after=later[-1]["recorded_at"]) == []
    # an offset written with an unencoded + (a space once decoded), and a time without a zone
    # (read in the account's time zone, UTC here)
    at = dt.datetime.fromisoformat(boundary.replace("Z", "+00:00")).astimezone(
        dt.timezone(dt.timedelta(hours=2))
    )
    assert listed(org, created_after=at.isoformat().replace("+", " ")) == after
    naive = boundary.replace("Z", "")
    assert listed(org, created_after=naive) == after


def test_event_types(org: Org, tree: Tree) -> None:
    make_history(org, tree, 2)
    org.delete(f"/api/v1/comments/{tree.comment}")
    assert kinds(listed(org, event_types="story:updated")) == [("story:updated", tree.task)] * 2
    assert kinds(listed(org, event_types="post:deleted,workspace:created")) == [
        ("post:deleted", tree.comment),
        ("workspace:created", tree.project),
    ]
    both = listed(org, **{"event_types[]": ["post:deleted", "workspace:created"]})
    assert kinds(both) == kinds(listed(org, event_types="post:deleted,workspace:created"))
    # Kantata event types worktrail never emits match nothing
    assert fetch(org, event_types="time_entry:created,story:status_selected")["count"] == 0
    assert kinds(listed(org, event_types="time_entry:created,post:deleted")) == [
        ("post:deleted", tree.comment)
    ]


def test_subject_type_and_subject_id(org: Org, tree: Tree) -> None:
    make_history(org, tree, 1)
    stories = listed(org, subject_type="Story")
    assert {e["subject_id"] for e in stories} == {tree.task, tree.subtask}
    one = listed(org, subject_type="Story", subject_id=str(tree.subtask))
    assert kinds(one) == [("story:created", tree.subtask)]
    two = listed(org, subject_type="Story", subject_id=f"{tree.task},{tree.subtask}")
    assert len(two) == 3
    # an id of another type is no Story
    assert listed(org, subject_type="Story", subject_id=str(tree.project)) == []
    assert kinds(listed(org, subject_type="WorkspaceGroup")) == [
        ("workspace_group:created", tree.workspace)
    ]
    assert fetch(org, subject_type="TimeEntry")["count"] == 0  # Kantata's, never emitted


def test_user_ids(org: Org, tree: Tree) -> None:
    admin_id, admin_token = org.user("Ada Admin", "admin")
    headers = {"Authorization": f"Bearer {admin_token}"}
    org.client.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "by ada"}, headers=headers)
    assert kinds(listed(org, user_ids=str(admin_id))) == [("story:updated", tree.task)]
    mine = listed(org, user_ids=f"{org.owner_id}")
    assert mine and all(e["user_id"] == org.owner_id for e in mine)
    assert len(listed(org, user_ids=f"{org.owner_id},{admin_id}")) == len(mine) + 1
    assert listed(org, user_ids="987654") == []


def test_only(org: Org, other_org: Org, tree: Tree) -> None:
    ids = [str(e["id"]) for e in native(org)]
    picked = listed(org, only=f"{ids[2]},{ids[4]}")
    assert [e["id"] for e in picked] == [ids[4], ids[2]]
    assert listed(org, only=ids[2], subject_type="Story") == []  # filters still apply
    foreign = str(native(other_org)[0]["id"])
    assert listed(org, only=foreign) == []
    assert [e["id"] for e in listed(org, only=f"{foreign},{ids[0]}")] == [ids[0]]


# -- most_recent -----------------------------------------------------------------------------


def test_most_recent_keeps_the_newest_event_of_each_subject(org: Org, tree: Tree) -> None:
    make_history(org, tree, 3)
    org.patch(f"/api/v1/projects/{tree.project}", json={"description": "now"})
    newest = listed(org, most_recent="true")
    assert kinds(newest) == [
        ("workspace:updated", tree.project),
        ("story:updated", tree.task),
        ("post:created", tree.comment),
        ("story:created", tree.subtask),
        ("workspace_group:created", tree.workspace),
        ("user:created", org.owner_id),
        ("account:created", org.id),
    ]
    task_events = [e for e in native(org) if e["subject"]["id"] == tree.task]
    assert next(e for e in newest if e["subject_id"] == tree.task)["id"] == str(
        task_events[-1]["id"]
    )
    body = fetch(org, most_recent=1, per_page=3, page=2)
    assert body["meta"] == {"count": 7, "page_count": 3, "page_number": 2, "page_size": 3}
    assert [e["subject_id"] for e in body["subscribed_events"].values()] == [
        tree.subtask,
        tree.workspace,
        org.owner_id,
    ]
    ascending = listed(org, most_recent="true", order="created_at:asc", limit=2, offset=0)
    assert kinds(ascending) == [("account:created", org.id), ("user:created", org.owner_id)]


def test_most_recent_applies_the_other_filters_first(org: Org, tree: Tree) -> None:
    make_history(org, tree, 2)
    # the newest *created* event of each story, not "the newest event, if it is a create"
    created = listed(org, most_recent="true", event_types="story:created")
    assert kinds(created) == [("story:created", tree.subtask), ("story:created", tree.task)]
    one = listed(org, most_recent="true", subject_type="Story", subject_id=str(tree.task))
    assert len(one) == 1 and one[0]["event_type"] == "story:updated"
    first = native(org)
    boundary = first[-1]["recorded_at"]
    time.sleep(0.01)
    org.patch(f"/api/v1/tasks/{tree.subtask}", json={"notes": "late"})
    late = listed(org, most_recent="true", created_after=boundary)
    assert kinds(late) == [("story:updated", tree.subtask)]
    early = listed(org, most_recent="true", created_before=native(org)[-1]["recorded_at"])
    assert ("story:created", tree.subtask) in kinds(early)


def test_most_recent_by_event_type(org: Org, tree: Tree) -> None:
    # Kantata's own example: created, updated three times, deleted -> created, the newest
    # updated and deleted
    project = org.create("projects", name="Example", workspace=tree.workspace)["id"]
    for i in range(3):
        org.patch(f"/api/v1/projects/{project}", json={"description": f"v{i}"})
    org.delete(f"/api/v1/projects/{project}")
    events = listed(org, most_recent_by_event_type="true", subject_type="Workspace")
    assert kinds(events) == [
        ("workspace:deleted", project),
        ("workspace:updated", project),
        ("workspace:created", project),
        ("workspace:created", tree.project),
    ]
    updates = [e for e in native(org) if e["subject"]["id"] == project and e["action"] == "updated"]
    assert events[1]["id"] == str(updates[-1]["id"])
    # closing, reopening and restoring are updates: one class with them
    org.post(f"/api/v1/tasks/{tree.task}/close")
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "after closing"})
    org.post(f"/api/v1/tasks/{tree.task}/reopen")
    story = listed(
        org, most_recent_by_event_type="1", subject_type="Story", subject_id=str(tree.task)
    )
    assert kinds(story) == [("story:updated", tree.task), ("story:created", tree.task)]
    reopened = [e for e in native(org) if e["action"] == "reopened"][-1]
    assert story[0]["id"] == str(reopened["id"])
    counted = fetch(org, most_recent_by_event_type="true", per_page=1)
    assert counted["count"] == 11 and counted["meta"]["page_count"] == 11
    narrowed = listed(org, most_recent_by_event_type="true", event_types="story:updated")
    assert kinds(narrowed) == [("story:updated", tree.task)]


# -- include and optional fields -------------------------------------------------------------


def test_include_subject_side_loads_the_current_state(org: Org, tree: Tree) -> None:
    org.patch(f"/api/v1/tasks/{tree.task}", json={"name": "Renamed"})
    org.delete(f"/api/v1/comments/{tree.comment}")
    body = fetch(org, include="subject", per_page=4)
    events = [body["subscribed_events"][r["id"]] for r in body["results"]]
    assert [e["subject_ref"] for e in events] == [
        None,  # the comment is deleted
        {"key": "stories", "id": str(tree.task)},
        None,
        {"key": "stories", "id": str(tree.subtask)},
    ]
    assert list(events[1])[-2:] == ["subject_ref", "user_id"]
    assert set(body) == {"count", "meta", "results", "subscribed_events", "stories"}
    task = body["stories"][str(tree.task)]
    assert task["id"] == str(tree.task) and task["title"] == "Renamed"
    assert task["workspace_id"] == str(tree.project)
    assert TIME.match(task["created_at"]) and TIME.match(task["updated_at"])
    assert body["stories"][str(tree.subtask)]["parent_id"] == str(tree.task)
    everything = fetch(org, include="subject")
    assert everything["workspaces"][str(tree.project)]["title"] == "Launch"
    assert everything["workspace_groups"][str(tree.workspace)]["name"] == "Engineering"
    assert everything["users"][str(org.owner_id)]["full_name"] == "Acme Owner"
    assert everything["accounts"][str(org.id)]["name"] == "Acme"
    assert "posts" not in everything
    assert "subject_ref" not in listed(org)[0]


def test_optional_fields(org: Org, tree: Tree) -> None:
    org.patch(f"/api/v1/tasks/{tree.task}", json={"name": "Final", "tags": ["a", "b"]})
    org.post(f"/api/v1/tasks/{tree.task}/followers", json={"add": [org.owner_id]})
    fields = "previous_payload,current_payload,payload_changes"
    followed, renamed = listed(org, optional_fields=fields, per_page=2)
    assert renamed["payload_changes"] == {
        "title": ["Draft plan", "Final"],
        "tags": [[], ["a", "b"]],
    }
    assert renamed["previous_payload"]["title"] == "Draft plan"
    assert renamed["current_payload"]["title"] == "Final"
    assert renamed["current_payload"]["id"] == str(tree.task)
    assert renamed["current_payload"]["workspace_id"] == str(tree.project)
    assert followed["payload_changes"] == {"follower_ids": [[], [str(org.owner_id)]]}
    only_changes = listed(org, optional_fields="payload_changes", per_page=1)[0]
    assert "previous_payload" not in only_changes and "current_payload" not in only_changes
    as_array = listed(org, **{"optional_fields[]": ["current_payload"]}, per_page=1)[0]
    assert set(as_array) & {"previous_payload", "payload_changes"} == set()
    assert as_array["current_payload"] == followed["current_payload"]
    created = listed(org, optional_fields=fields, event_types="post:created")[0]
    assert created["previous_payload"] is None
    assert created["current_payload"] == {
        "id": str(tree.comment),
        "story_id": str(tree.subtask),
        "message": "First!",
    }
    assert created["payload_changes"] == {
        "story_id": [None, str(tree.subtask)],
        "message": [None, "First!"],
    }
    org.delete(f"/api/v1/comments/{tree.comment}")
    deleted = listed(org, optional_fields=fields, per_page=1)[0]
    assert deleted["current_payload"] is None and deleted["payload_changes"] == {}
    assert deleted["previous_payload"] == created["current_payload"]
    project = listed(org, optional_fields="current_payload", subject_type="Workspace")[0]
    assert project["current_payload"]["workspace_group_ids"] == [str(tree.workspace)]


def test_payloads_as_json_strings_when_the_organization_asks(org: Org, tree: Tree) -> None:
    fields = "previous_payload,current_payload,payload_changes"
    as_objects = listed(org, optional_fields=fields)
    response = org.patch(
        "/api/v1/organization/settings", json={"kantata_payload_encoding": "string"}
    )
    assert response.status_code == 200, response.text
    as_strings = listed(org, optional_fields=fields)
    for obj, text in zip(as_objects, as_strings, strict=True):
        for name in ("current_payload", "payload_changes"):
            assert isinstance(text[name], str) and orjson.loads(text[name]) == obj[name]
        assert text["previous_payload"] is None  # every event here is a create


@pytest.mark.parametrize("path", [URL + "/event_types", URL + "/event_types.json"])
def test_event_types_endpoint(org: Org, path: str) -> None:
    body = fetch(org, path=path)
    types = body["subscribed_event_types"]
    assert "story:updated" in types and "workspace_group:deleted" in types
    assert len(types) == 18 and types == sorted(types)
    schemas = body["subscribed_event_type_schemas"]
    assert set(schemas) == set(types)
    story = schemas["story:updated"]
    assert story["name"] == "story:updated" and story["description"]
    assert story["fields"]["title"] == {
        "name": "title",
        "type": "string",
        "description": "The story's title.",
    }
    assert story["fields"]["follower_ids"]["type"] == "array"
