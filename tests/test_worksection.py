"""Worksection get_events: authentication forms, period, project filter, rendering, errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.dialects.worksection import render as ws_render
from worktrail.dialects.worksection import routes as ws_routes
from worktrail.dialects.worksection.auth import md5_signature
from worktrail.diff import now_micros
from worktrail.model import Action, EntityType, Event, Scope
from worktrail.store import Store
from worktrail.write import create_organization

from .conftest import Org, Tree, new_org

DOC_KEY = "7776461cd931e7b1c8e9632ff8e979ce"
ANYONE = {"id": "2", "email": "ANY", "name": "Anyone"}


def admin_key(org: Org) -> str:
    key: str = org.get("/api/v1/organization/admin-api-key").json()["admin_api_key"]
    return key


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def sha(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed(query: str, key: str, path: str = "/api/admin/v2/") -> str:
    return f"{path}?{query}&hash={md5(query + key)}"


def ws(client: TestClient, url: str, **kw: Any) -> Any:
    response = client.request(kw.pop("method", "GET"), url, **kw)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def events(client: TestClient, query: str, key: str) -> list[dict[str, Any]]:
    body = ws(client, signed(query, key))
    assert body["status"] == "ok", body
    data: list[dict[str, Any]] = body["data"]
    return data


def error(body: Any, code: int, details: str | None = None) -> None:
    assert body["status"] == "error", body
    assert body["status_code"] == code, body
    if details is not None:
        assert body["message_details"] == details, body


def titles(data: list[dict[str, Any]]) -> list[str]:
    return [e["new"]["title"] for e in data if e["action"] == "post" and "title" in e["new"]]


# -- the v2 md5 hash ---------------------------------------------------------------------


def test_spec_test_vector() -> None:
    signature = md5_signature("action=get_tasks&id_project=26", DOC_KEY)
    assert signature == "ec3ab2c28f21b4a07424f8ed688d6644"


def test_documented_request_reads_the_history(org: Org, tree: Tree, store: Store) -> None:
    store.set_admin_api_key(org.id, DOC_KEY)
    query = "action=get_events&period=1d"
    url = f"/api/admin/v2/?{query}&hash={md5_signature(query, DOC_KEY)}"
    data = ws(org.client, url)["data"]
    assert [(e["action"], e["object"]["type"]) for e in data] == [
        ("post", "project"),
        ("post", "task"),
        ("post", "task"),
        ("post", "comment"),
    ]
    project, task, subtask, comment = data
    p, t, s = tree.project, tree.task, tree.subtask
    assert project["object"] == {"type": "project", "id": str(p), "page": f"/project/{p}/"}
    assert task["object"] == {"type": "task", "id": str(t), "page": f"/project/{p}/{t}/"}
    assert subtask["object"]["page"] == f"/project/{p}/{s}/"
    assert comment["object"] == {
        "type": "comment",
        "id": str(tree.comment),
        "page": f"/project/{p}/{s}/",
    }
    assert project["new"] == {"title": "Launch"}
    assert task["new"] == {"title": "Draft plan", "user_to": ANYONE}
    assert comment["new"] == {"text": "First!"}
    owner = {"id": str(org.owner_id), "email": "owner@acme.test", "name": "Acme Owner"}
    assert all(e["user_from"] == owner for e in data)
    assert all(len(e["date_added"]) == 16 for e in data)
    assert all("old" not in e for e in data)


def test_hash_over_the_raw_or_the_decoded_query(org: Org, tree: Tree) -> None:
    key = admin_key(org)
    raw = f"action=get_events&period=1d&id_project={tree.project}&note=a%20b%2Bc"
    decoded = f"action=get_events&period=1d&id_project={tree.project}&note=a b+c"
    for text in (raw, decoded):
        body = ws(org.client, f"/api/admin/v2/?{raw}&hash={md5(text + key)}")
        assert body["status"] == "ok" and len(body["data"]) == 4
    upper = md5(raw + key).upper()
    assert ws(org.client, f"/api/admin/v2/?{raw}&hash={upper}")["status"] == "ok"


def test_bad_missing_and_foreign_hashes(org: Org, other_org: Org, tree: Tree) -> None:
    key = admin_key(org)
    query = "action=get_events&period=1d"
    error(ws(org.client, f"/api/admin/v2/?{query}"), 2, "hash")
    error(ws(org.client, f"/api/admin/v2/?{query}&hash="), 2)
    error(ws(org.client, f"/api/admin/v2/?{query}&hash=nothex"), 2)
    error(ws(org.client, f"/api/admin/v2/?{query}&hash={'0' * 32}"), 2)
    error(ws(org.client, signed(query, "f" * 32)), 2)  # a key no organization has
    tampered = signed(query, key).replace("period=1d", "period=2d")
    error(ws(org.client, tampered), 2)
    # The message for a bad hash is Worksection's own.
    assert ws(org.client, f"/api/admin/v2/?{query}")["message"] == (
        "Action hash is missed or invalid"
    )
    # Each organization's key reads only that organization's history.
    assert len(events(org.client, query, key)) == 4
    assert events(org.client, query, admin_key(other_org)) == []


def test_two_organizations_with_one_key_are_refused(org: Org, other_org: Org, store: Store) -> None:
    store.set_admin_api_key(org.id, DOC_KEY)
    store.set_admin_api_key(other_org.id, DOC_KEY)
    error(ws(org.client, signed("action=get_events&period=1d", DOC_KEY)), 2)


def test_parameters_in_a_form_json_or_multipart_body(org: Org, tree: Tree) -> None:
    key = admin_key(org)
    form = f"period=1d&id_project={tree.project}"
    url = f"/api/admin/v2/?action=get_events&hash={md5('action=get_events&' + form + key)}"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    body = ws(org.client, url, method="POST", content=form, headers=headers)
    assert len(body["data"]) == 4
    # A form body with every parameter, hash included, and nothing in the query string.
    everything = f"action=get_events&period=1d&hash={md5('action=get_events&period=1d' + key)}"
    body = ws(org.client, "/api/admin/v2/", method="POST", content=everything, headers=headers)
    assert len(body["data"]) == 4
    signature = md5(f"action=get_events&period=1d&id_project={tree.project}{key}")
    json_body = {"period": "1d", "id_project": tree.project, "hash": signature}
    body = ws(org.client, "/api/admin/v2/?action=get_events", method="POST", json=json_body)
    assert len(body["data"]) == 4
    files = {"period": (None, "1d")}
    url = f"/api/admin/v2/?action=get_events&hash={md5('action=get_events&period=1d' + key)}"
    assert len(ws(org.client, url, method="POST", files=files)["data"]) == 4
    # Changing a signed body parameter breaks the signature.
    tampered = {**json_body, "period": "2d"}
    error(ws(org.client, "/api/admin/v2/?action=get_events", method="POST", json=tampered), 2)
    multipart = {"content-type": "multipart/form-data; boundary=zzz"}
    error(ws(org.client, url, method="POST", content=b"--x\r\nbad", headers=multipart), 10)
    bad = ws(org.client, url, method="POST", content=b"{", headers={"content-type": "text/json"})
    error(bad, 2)
    error(
        ws(
            org.client,
            url,
            method="POST",
            content=b"{",
            headers={"content-type": "application/json"},
        ),
        10,
    )


# -- the v2.1 HMAC hash and the SDK's Admin header --------------------------------------


def pin_clock(org: Org, monkeypatch: pytest.MonkeyPatch) -> int:
    """Stop the server's clock at the next whole second (after every event made so far, so
    that `period` windows still hold them) and return it in seconds. Signatures over the
    time are then checked against the very second they were made for, however long the
    requests take: the five-minute window's edges are exact."""
    second = now_micros() // 1_000_000 + 1
    monkeypatch.setattr(org.services, "clock", lambda: second * 1_000_000)
    return second


def test_v21_hash_with_time(org: Org, tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    key = admin_key(org)
    now = pin_clock(org, monkeypatch)
    for path in ("/api/admin/v2.1", "/api/admin/v2.1/", "/api/admin/v2/"):
        url = f"{path}?action=get_events&period=1d&time={now}&hash={sha(key, f'get_events:{now}')}"
        assert len(ws(org.client, url)["data"]) == 4, path
    base = "/api/admin/v2.1?action=get_events&period=1d"
    for edge in (now - 300, now + 300):
        ok = f"{base}&time={edge}&hash={sha(key, f'get_events:{edge}')}"
        assert ws(org.client, ok)["status"] == "ok", edge
    for stale in (now - 301, now + 301):
        url = f"{base}&time={stale}&hash={sha(key, f'get_events:{stale}')}"
        error(ws(org.client, url), 2, "time")
    error(ws(org.client, f"{base}&hash={sha(key, f'get_events:{now}')}"), 2, "time")
    error(ws(org.client, f"{base}&time=soon&hash={sha(key, 'get_events:soon')}"), 2, "time")
    error(ws(org.client, f"{base}&time={now}&hash={sha('f' * 32, f'get_events:{now}')}"), 2)
    error(ws(org.client, f"{base}&time={now}&hash={sha(key, f'get_tasks:{now}')}"), 2)
    error(ws(org.client, f"{base}&time={now}&hash={'z' * 64}"), 2, "hash")
    error(ws(org.client, f"{base}&time={now}"), 2, "hash")


def admin_header(key: str, at: int, action: str = "get_events") -> dict[str, str]:
    return {"Authorization": f"Admin {at}_{sha(key, f'{action}:{at}')}"}


def test_admin_header_as_the_official_sdk_sends_it(
    org: Org, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = admin_key(org)
    now = pin_clock(org, monkeypatch)
    url = "/api/admin/v2?action=get_events"
    body = {"period": "1d", "id_project": tree.project}
    response = org.client.post(url, json=body, headers=admin_header(key, now))
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert len(response.json()["data"]) == 4
    for edge in (now - 300, now + 300):
        headers = admin_header(key, edge)
        assert ws(org.client, url, method="POST", json=body, headers=headers)["status"] == "ok"
    for headers in (
        admin_header(key, now - 301),
        admin_header(key, now + 301),
    ):
        error(ws(org.client, url, method="POST", json=body, headers=headers), 2, "time")
    for headers in (
        admin_header("f" * 32, now),
        admin_header(key, now, action="get_tasks"),
        {"Authorization": "Admin"},
        {"Authorization": f"Admin {now}"},
        {"Authorization": f"Admin {now}_nothex"},
    ):
        error(ws(org.client, url, method="POST", json=body, headers=headers), 2)
    error(ws(org.client, url, method="POST", json=body), 2, "hash")


def test_no_path_redirects(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    now = pin_clock(org, monkeypatch)
    schema = org.client.get("/openapi.json")
    assert schema.status_code == 200 and "/api/admin/v2/" in schema.json()["paths"]
    key = admin_key(org)
    paths = ("/api/admin/v2", "/api/admin/v2/", "/api/admin/v2.1", "/api/admin/v2.1/")
    for path in paths:
        for method in ("GET", "POST"):
            response = org.client.request(
                method,
                f"{path}?action=get_events&period=1d",
                headers=admin_header(key, now),
                follow_redirects=False,
            )
            assert response.status_code == 200, (method, path, response.status_code)
            assert response.json()["status"] == "ok"
    for path in ("/api/oauth2", "/api/oauth2/"):
        response = org.client.get(
            f"{path}?action=get_events&period=1d", headers=org.headers, follow_redirects=False
        )
        assert response.status_code == 200 and response.json()["status"] == "ok"


# -- OAuth -------------------------------------------------------------------------------


def test_oauth_bearer_and_access_token(org: Org, tree: Tree) -> None:
    url = "/api/oauth2?action=get_events&period=1d"
    assert len(ws(org.client, url, headers=org.headers)["data"]) == 4
    assert len(ws(org.client, f"{url}&access_token={org.token}")["data"]) == 4
    body = ws(
        org.client,
        "/api/oauth2?action=get_events",
        method="POST",
        json={"period": "1d", "access_token": org.token},
    )
    assert len(body["data"]) == 4
    for headers in ({}, {"Authorization": "Bearer wt_not-a-token"}):
        response = org.client.get(url, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        problem = response.json()
        assert problem["status"] == "error" and problem["status_code"] == 401
        assert problem["errorDescription"] == problem["message"]
    response = org.client.get(f"{url}&access_token=wt_nope")
    assert response.status_code == 401


def test_oauth_sees_only_the_token_users_workspaces(org: Org, tree: Tree) -> None:
    member_id, member_token = org.user("Mia Member")
    ws2 = org.create("workspaces", name="Ops", members=[member_id])
    ops = org.create("projects", name="Runbooks", workspace=ws2["id"])
    url = "/api/oauth2?action=get_events&period=1d"
    headers = {"Authorization": f"Bearer {member_token}"}
    data = ws(org.client, url, headers=headers)["data"]
    assert titles(data) == ["Runbooks"]
    error(ws(org.client, f"{url}&id_project={tree.project}", headers=headers), 4)
    assert titles(ws(org.client, f"{url}&id_project={ops['id']}", headers=headers)["data"]) == [
        "Runbooks"
    ]
    # The admin forms act as the owner and see every workspace.
    assert titles(events(org.client, "action=get_events&period=1d", admin_key(org))) == [
        "Launch",
        "Draft plan",
        "Outline",
        "Runbooks",
    ]


# -- period --------------------------------------------------------------------------------


def ingest_task_at(org: Org, project: int, name: str, ago: dt.timedelta) -> None:
    when = dt.datetime.now(dt.UTC) - ago
    record = {
        "type": "task",
        "id": name,
        "state": {"name": name, "project": project},
        "occurred_at": when.isoformat().replace("+00:00", "Z"),
    }
    response = org.post("/api/v1/changes", json={"records": [record]})
    assert response.status_code == 200, response.text


def test_period_bounds_the_window(org: Org, tree: Tree) -> None:
    offsets = {
        "30s": dt.timedelta(seconds=30),
        "90s": dt.timedelta(seconds=90),
        "350m": dt.timedelta(minutes=350),
        "370m": dt.timedelta(minutes=370),
        "71h": dt.timedelta(hours=71),
        "73h": dt.timedelta(hours=73),
        "29d": dt.timedelta(days=29),
        "31d": dt.timedelta(days=31),
    }
    for name, ago in offsets.items():
        ingest_task_at(org, tree.project, name, ago)
    key = admin_key(org)
    expected = {
        "1m": ["30s"],
        "360m": ["350m", "90s", "30s"],
        "6h": ["350m", "90s", "30s"],
        "72h": ["71h", "370m", "350m", "90s", "30s"],
        "30d": ["29d", "73h", "71h", "370m", "350m", "90s", "30s"],
    }
    for period, names in expected.items():
        data = events(org.client, f"action=get_events&period={period}", key)
        assert [t for t in titles(data) if t in offsets] == names, period
        dates = [e["date_added"] for e in data]
        assert dates == sorted(dates), period


@pytest.mark.parametrize(
    "period",
    [
        "361m",
        "73h",
        "31d",
        "0d",
        "0m",
        "01d",
        "1D",
        " 1d",
        "1d ",
        "-1d",
        "1.5h",
        "1w",
        "3",
        "d",
        "",
    ],
)
def test_bad_periods(org: Org, period: str) -> None:
    key = admin_key(org)
    body = ws(org.client, signed(f"action=get_events&period={quote(period)}", key))
    error(body, 10, "period")
    assert body["message"] == "Field is required"


def test_missing_period(org: Org) -> None:
    error(ws(org.client, signed("action=get_events", admin_key(org))), 10, "period")


# -- project filter ------------------------------------------------------------------------


def test_id_project_keeps_the_project_its_tasks_and_comments(
    org: Org, other_org: Org, tree: Tree
) -> None:
    other = org.create("projects", name="Elsewhere", workspace=tree.workspace)
    org.create("tasks", name="Unrelated", project=other["id"])
    key = admin_key(org)
    data = events(org.client, f"action=get_events&period=1d&id_project={tree.project}", key)
    assert [e["object"]["id"] for e in data] == [
        str(tree.project),
        str(tree.task),
        str(tree.subtask),
        str(tree.comment),
    ]
    data = events(org.client, f"action=get_events&period=1d&id_project={other['id']}", key)
    assert titles(data) == ["Elsewhere", "Unrelated"]
    foreign = other_org.create("workspaces", name="Theirs")
    theirs = other_org.create("projects", name="Theirs", workspace=foreign["id"])
    for bad in ("999999", str(tree.task), str(theirs["id"]), "abc", "-1", "1e3"):
        body = ws(org.client, signed(f"action=get_events&period=1d&id_project={bad}", key))
        error(body, 4)
        assert body["message"] == "Project is invalid"


# -- actions and fields --------------------------------------------------------------------


def test_all_five_actions_and_restore(org: Org, tree: Tree) -> None:
    assignee_id, _ = org.user("Frank Harper")
    org.patch(
        f"/api/v1/tasks/{tree.task}",
        json={
            "name": "Final plan",
            "assignee": assignee_id,
            "due_on": "2026-03-01",
            "priority": "high",
        },
    )
    org.patch(f"/api/v1/tasks/{tree.task}", json={"assignee": None})
    org.post(f"/api/v1/tasks/{tree.task}/tags", json={"add": ["urgent", "q1"]})
    org.post(f"/api/v1/tasks/{tree.task}/followers", json={"add": [assignee_id]})
    org.patch(f"/api/v1/tasks/{tree.task}", json={"status": "in_progress"})  # no counterpart
    org.post(f"/api/v1/tasks/{tree.task}/close")
    org.post(f"/api/v1/tasks/{tree.task}/reopen")
    org.patch(f"/api/v1/comments/{tree.comment}", json={"text": "Second!"})
    org.delete(f"/api/v1/comments/{tree.comment}")
    org.post(f"/api/v1/comments/{tree.comment}/restore")
    org.patch(f"/api/v1/projects/{tree.project}", json={"archived": True, "description": "Done"})
    org.patch(f"/api/v1/workspaces/{tree.workspace}", json={"name": "Eng"})  # not an object
    data = events(org.client, "action=get_events&period=1h", admin_key(org))[4:]
    assert [(e["action"], e["object"]["type"]) for e in data] == [
        ("update", "task"),
        ("update", "task"),
        ("update", "task"),
        ("update", "task"),
        ("close", "task"),
        ("reopen", "task"),
        ("update", "comment"),
        ("delete", "comment"),
        ("post", "comment"),
        ("update", "project"),
    ]
    frank = {"id": str(assignee_id), "email": data[0]["new"]["user_to"]["email"]}
    assert frank["email"].startswith("frank.harper")
    assert data[0]["new"] == {
        "title": "Final plan",
        "user_to": {**frank, "name": "Frank Harper"},
        "date_end": "2026-03-01",
        "priority": "7",
    }
    assert data[0]["old"] == {
        "title": "Draft plan",
        "user_to": ANYONE,
        "date_end": "",
        "priority": "",
    }
    assert data[1]["new"] == {"user_to": ANYONE}
    assert data[1]["old"]["user_to"]["id"] == str(assignee_id)
    assert data[2]["new"] == {"tags": "q1,urgent"} and data[2]["old"] == {"tags": ""}
    assert data[3]["new"]["subscribers"][0]["name"] == "Frank Harper"
    assert data[3]["old"] == {"subscribers": []}
    for record in data[4:6] + data[7:8]:
        assert "new" not in record and "old" not in record
    assert data[6]["new"] == {"text": "Second!"} and data[6]["old"] == {"text": "First!"}
    assert data[8]["new"] == {"text": "Second!"}  # restored: the object exists again
    assert data[9]["new"] == {"status": "archive", "text": "Done"}
    assert data[9]["old"] == {"status": "active", "text": ""}
    assert all(e["object"]["page"] == f"/project/{tree.project}/{tree.subtask}/" for e in data[6:9])


def test_custom_fields_and_due_times_in_the_org_time_zone(store: Store, client: TestClient) -> None:
    created = create_organization(store, "Tokyo", "Aiko", "aiko@tokyo.test", timezone="Asia/Tokyo")
    _, token = create_token(store, created.org_id, created.owner_id, "t")
    org = Org(created.org_id, created.owner_id, token, client, store)
    space = org.create("workspaces", name="W")
    project = org.create("projects", name="P", workspace=space["id"])
    task = org.create(
        "tasks",
        name="T",
        project=project["id"],
        due_at="2026-03-01T15:30:00Z",
        custom_fields={"cost": 5},
    )
    org.patch(f"/api/v1/tasks/{task['id']}", json={"custom_fields": {"cost": 7, "team": "a"}})
    data = events(client, "action=get_events&period=1h", admin_key(org))
    post, update = data[-2:]
    assert post["new"]["date_end"] == "2026-03-02" and post["new"]["time_end"] == "00:30"
    assert post["new"]["custom_fields"] == {"cost": 5}
    assert update["new"] == {"custom_fields": {"cost": 7, "team": "a"}}
    assert update["old"] == {"custom_fields": {"cost": 5, "team": ""}}
    native = org.get("/api/v1/events", params={"limit": 1}).json()["data"][0]
    occurred = dt.datetime.fromisoformat(native["occurred_at"].replace("Z", "+00:00"))
    tokyo = occurred.astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert update["date_added"] == tokyo.strftime("%Y-%m-%d %H:%M")


def test_changes_without_an_actor_name_a_system_user() -> None:
    event = Event(
        org_id=1,
        seq=9,
        occurred_at=0,
        recorded_at=0,
        actor=None,
        action=Action.CLOSED,
        subject_type=EntityType.TASK,
        subject_id=5,
        changes=({"field": "completed", "old": False, "new": True},),
        before=None,
        after=None,
        context={},
        scopes=(Scope(EntityType.TASK, 5), Scope(EntityType.PROJECT, 4)),
        idempotency_key=None,
        prev_hash="",
        hash="",
    )
    ctx = ws_render.RenderContext(tz=dt.UTC, users={})
    assert ws_render.render_event(event, ctx) == {
        "action": "close",
        "object": {"type": "task", "id": "5", "page": "/project/4/5/"},
        "date_added": "1970-01-01 00:00",
        "user_from": {"id": "0", "email": "", "name": "System"},
    }


# -- cap, errors, rate limit -------------------------------------------------------------


def test_the_cap_keeps_the_newest_events_oldest_first(
    org: Org, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"v{i}"})
    monkeypatch.setattr(ws_routes, "MAX_EVENTS", 3)
    data = events(org.client, "action=get_events&period=1h", admin_key(org))
    assert [e["new"]["text"] for e in data] == ["v2", "v3", "v4"]


def test_unknown_or_missing_action(org: Org) -> None:
    key = admin_key(org)
    for query in ("action=get_tasks&period=1d", "period=1d", "action=GET_EVENTS&period=1d"):
        body = ws(org.client, signed(query, key))
        error(body, 1)
        assert body["message"] == "Action is invalid"
    body = ws(org.client, "/api/oauth2?action=get_projects", headers=org.headers)
    error(body, 1)


def test_anything_under_the_prefixes_gets_the_envelope(
    org: Org, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    for method, path in (
        ("GET", "/api/admin/v3/"),
        ("GET", "/api/admin/"),
        ("PUT", "/api/admin/v2/"),
    ):
        response = org.client.request(method, path)
        assert response.status_code in (404, 405)
        error(response.json(), 1)
    response = org.client.delete("/api/oauth2")
    assert response.status_code == 405 and response.json()["status"] == "error"

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(ws_routes, "render_event", broken)
    response = org.client.get(signed("action=get_events&period=1d", admin_key(org)))
    assert response.status_code == 500
    body = response.json()
    assert body["status"] == "error" and body["status_code"] == 500 and "boom" not in response.text


def test_rate_limit_answers_429(settings: Settings, store: Store) -> None:
    limited = dataclasses.replace(settings, rate_limit_per_minute=2)
    with TestClient(create_app(limited, store), raise_server_exceptions=False) as client:
        org = new_org(store, client)
        url = signed("action=get_events&period=1d", admin_key(org))
        assert [client.get(url).status_code for _ in range(2)] == [200, 200]
        response = client.get(url)
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert response.json() == {
            "status": "error",
            "status_code": 429,
            "message": "Too many requests",
        }
        # Each token has its own budget on the OAuth endpoint.
        oauth = "/api/oauth2?action=get_events&period=1d"
        assert client.get(oauth, headers=org.headers).status_code == 200


# -- admin API key rotation ----------------------------------------------------------------


def test_owner_rotates_the_admin_api_key(org: Org, tree: Tree) -> None:
    old = admin_key(org)
    query = "action=get_events&period=1d"
    assert events(org.client, query, old)
    response = org.post("/api/v1/organization/admin-api-key/rotate")
    assert response.status_code == 200
    new = response.json()["admin_api_key"]
    assert len(new) == 32 and new != old and admin_key(org) == new
    error(ws(org.client, signed(query, old)), 2)
    assert len(events(org.client, query, new)) == 4
    for role in ("admin", "member"):
        _, token = org.user(f"Some {role}", role)
        headers = {"Authorization": f"Bearer {token}"}
        response = org.client.post("/api/v1/organization/admin-api-key/rotate", headers=headers)
        assert response.status_code == 403
    assert admin_key(org) == new


# -- rendering units -------------------------------------------------------------------------


def test_priority_scale_covers_every_worktrail_priority() -> None:
    from worktrail.model import PRIORITIES

    assert set(ws_render.PRIORITIES) == set(PRIORITIES)
    assert all(0 <= int(v) <= 10 for v in ws_render.PRIORITIES.values())


def test_responses_are_utf8_json(org: Org, tree: Tree) -> None:
    org.patch(f"/api/v1/comments/{tree.comment}", json={"text": "Привіт, світ"})
    response = org.client.get(signed("action=get_events&period=1d", admin_key(org)))
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert orjson.loads(response.content)["data"][-1]["new"]["text"] == "Привіт, світ"
