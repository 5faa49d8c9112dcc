"""Nothing crosses organizations, and roles decide what a token may read and write."""

from __future__ import annotations

import re
from typing import Any

import pytest

from worktrail.auth import hash_token
from worktrail.store import Store

from .conftest import Org, Tree

WRITE_BODIES: dict[str, Any] = {
    "move": {"project": 1},
    "followers": {"add": [1]},
    "tags": {"add": ["x"]},
    "members": {"add": [1]},
}


def native_routes(org: Org) -> list[tuple[str, str]]:
    """Every native route and method, from the OpenAPI schema (so new routes are covered)."""
    schema = org.client.get("/openapi.json").json()
    routes = []
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/") or path.startswith("/api/v1/subscribed_events"):
            continue  # vendor dialects have their own tests
        routes.extend((method.upper(), path) for method in sorted(operations))
    return routes


def fill(path: str, ids: dict[str, int]) -> str | None:
    """Put the victim's id of the right kind into the path's parameter."""
    kind = path.split("/")[3]
    if "{event_id}" in path:
        return path.replace("{event_id}", str(ids["event"]))
    if "{webhook_id}" in path:
        return path.replace("{webhook_id}", str(ids["webhook"]))
    if "{entity_id}" in path:
        key = kind.rstrip("s")
        return path.replace("{entity_id}", str(ids[key])) if key in ids else None
    return path if "{" not in path else None


def test_another_organizations_ids_are_invisible_on_every_route(
    org: Org, other_org: Org, tree: Tree
) -> None:
    hook = org.post("/api/v1/webhooks", json={"url": "https://hooks.example.com/audit"})
    victim_event = org.get("/api/v1/events", params={"limit": 1}).json()["data"][0]["id"]
    ids = {
        "webhook": hook.json()["data"]["id"],
        "workspace": tree.workspace,
        "project": tree.project,
        "task": tree.task,
        "comment": tree.comment,
        "user": org.owner_id,
        "organization": org.id,
        "event": victim_event,
    }
    never = dict.fromkeys(ids, 987_654_321_000)  # ids that exist nowhere
    head = org.store.head_seq(org.id)
    checked = 0
    for method, template in native_routes(other_org):
        path, unknown_path = fill(template, ids), fill(template, never)
        if path is None or unknown_path is None or not re.search(r"/\d+", path):
            continue  # routes without an id are covered below
        body = WRITE_BODIES.get(path.rsplit("/", 1)[-1], {"name": "intruder"})
        responses = [
            other_org.client.request(
                method, p, headers=other_org.headers, json=body if method != "GET" else None
            )
            for p in (path, unknown_path)
        ]
        response, unknown = responses
        # refused, and just as an id that exists nowhere is: nothing tells the two apart
        assert response.status_code in (400, 404, 422), (method, path, response.text)
        assert response.status_code == unknown.status_code, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        checked += 1
    assert checked >= 50, checked  # the seven webhook routes among them
    assert org.store.head_seq(org.id) == head


def test_lists_and_feeds_never_show_another_organization(
    org: Org, other_org: Org, tree: Tree
) -> None:
    mine = {e["id"] for e in org.get("/api/v1/events", params={"limit": 1000}).json()["data"]}
    theirs = other_org.get("/api/v1/events", params={"limit": 1000}).json()["data"]
    assert theirs and not mine & {e["id"] for e in theirs}
    assert {e["org_id"] for e in theirs} == {other_org.id}
    for kind in ("workspaces", "projects", "tasks", "comments", "users", "organizations"):
        listed = other_org.get(f"/api/v1/{kind}").json()["data"]
        assert all(item["id"] not in vars(tree).values() for item in listed), kind
    assert other_org.get(f"/api/v1/tasks?project={tree.project}").status_code == 404
    assert (
        other_org.get("/api/v1/events", params={"scope": f"project:{tree.project}"}).status_code
        == 404
    )


def test_foreign_cursors_and_ingest_references_are_refused(
    org: Org, other_org: Org, tree: Tree
) -> None:
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "a"})
    cursor = org.get("/api/v1/events", params={"limit": 1}).json()["next_cursor"]
    response = other_org.get("/api/v1/events", params={"limit": 1, "cursor": cursor})
    assert response.status_code == 400 and "organization" in response.json()["detail"]
    heads = (org.store.head_seq(org.id), org.store.head_seq(other_org.id))
    attempts = [
        {
            "op": "change",
            "type": "task",
            "id": tree.task,
            "changes": [{"field": "name", "new": "x"}],
        },
        {"type": "task", "id": "new", "state": {"name": "x", "project": tree.project}},
        {"op": "delete", "type": "comment", "id": tree.comment},
    ]
    for record in attempts:
        bad = other_org.post("/api/v1/changes", json={"records": [record]})
        assert bad.status_code in (404, 422), bad.text
    assert (org.store.head_seq(org.id), org.store.head_seq(other_org.id)) == heads


@pytest.fixture
def second_workspace(org: Org) -> dict[str, Any]:
    ws = org.create("workspaces", name="Finance")
    project = org.create("projects", name="Budget", workspace=ws["id"])
    task = org.create("tasks", name="Close the books", project=project["id"])
    return {"workspace": ws["id"], "project": project["id"], "task": task["id"]}


def test_members_see_and_change_only_their_workspaces(
    org: Org, tree: Tree, second_workspace: dict[str, Any]
) -> None:
    member_id, token = org.user("Mel Member", "member")
    org.post(f"/api/v1/workspaces/{tree.workspace}/members", json={"add": [member_id]})
    headers = {"Authorization": f"Bearer {token}"}
    client = org.client
    feed = client.get("/api/v1/events", params={"limit": 1000}, headers=headers).json()["data"]
    assert feed and all(f"workspace:{tree.workspace}" in e["scopes"] for e in feed)
    hidden = second_workspace
    assert client.get(f"/api/v1/tasks/{hidden['task']}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/tasks/{tree.task}", headers=headers).status_code == 200
    scope = {"scope": f"project:{hidden['project']}"}
    assert client.get("/api/v1/events", params=scope, headers=headers).status_code == 404
    listed = client.get("/api/v1/projects", headers=headers).json()["data"]
    assert [p["id"] for p in listed] == [tree.project]
    ok = client.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "mine"}, headers=headers)
    assert ok.status_code == 200 and ok.json()["event"]["actor"]["id"] == member_id
    no = client.patch(f"/api/v1/tasks/{hidden['task']}", json={"notes": "x"}, headers=headers)
    assert no.status_code == 404
    move = client.post(
        f"/api/v1/tasks/{tree.task}/move", json={"project": hidden["project"]}, headers=headers
    )
    assert move.status_code in (404, 422)
    assert (
        client.post("/api/v1/workspaces", json={"name": "Mine"}, headers=headers).status_code == 403
    )
    new_user = {"name": "X", "email": "x@example.test"}
    assert client.post("/api/v1/users", json=new_user, headers=headers).status_code == 403


def test_guests_read_but_never_write(org: Org, tree: Tree) -> None:
    guest_id, token = org.user("Gus Guest", "guest")
    org.post(f"/api/v1/workspaces/{tree.workspace}/members", json={"add": [guest_id]})
    headers = {"Authorization": f"Bearer {token}"}
    client = org.client
    assert client.get(f"/api/v1/tasks/{tree.task}", headers=headers).status_code == 200
    attempts = [
        ("POST", "/api/v1/tasks", {"name": "x", "project": tree.project}),
        ("PATCH", f"/api/v1/tasks/{tree.task}", {"name": "x"}),
        ("DELETE", f"/api/v1/tasks/{tree.task}", None),
        ("POST", f"/api/v1/tasks/{tree.task}/close", None),
        ("POST", "/api/v1/changes", {"records": [{"type": "task", "id": "g", "state": {}}]}),
    ]
    for method, path, body in attempts:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)


def test_admin_reads_everything_and_tokens_can_be_revoked(
    org: Org, tree: Tree, second_workspace: dict[str, Any]
) -> None:
    _, token = org.user("Ada Admin", "admin")
    headers = {"Authorization": f"Bearer {token}"}
    feed = org.client.get("/api/v1/events", params={"limit": 1000}, headers=headers).json()
    scopes = {s for e in feed["data"] for s in e["scopes"]}
    assert f"workspace:{second_workspace['workspace']}" in scopes
    found = org.store.find_token_user(hash_token(token))
    assert found is not None
    org.store.revoke_token(org.id, found.token.id)
    revoked = org.client.get("/api/v1/events", headers=headers)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    for bad in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = org.client.get("/api/v1/events", headers=bad)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
    owner_only = org.client.get("/api/v1/organization/admin-api-key", headers=headers)
    assert owner_only.status_code == 401  # the revoked token
    assert org.get("/api/v1/organization/admin-api-key").status_code == 200


def test_entities_looked_up_by_id_stay_in_their_organization(
    store: Store, org: Org, other_org: Org
) -> None:
    mine = org.create("workspaces", name="Mine")["id"]
    theirs = other_org.create("workspaces", name="Theirs")["id"]
    found = store.get_entities(org.id, [theirs, mine, theirs])
    assert list(found) == [mine]
    assert found[mine].org_id == org.id
    assert store.get_entities(other_org.id, [mine]) == {}


def test_integrity_routes_answer_for_the_tokens_own_organization(
    org: Org, other_org: Org, tree: Tree
) -> None:
    from worktrail.integrity.checkpoint import open_checkpoint
    from worktrail.integrity.note import parse_verifier_keys

    mine = org.post("/api/v1/integrity/checkpoint").text
    assert other_org.get("/api/v1/integrity/checkpoint").status_code == 404  # none of its own
    theirs = other_org.post("/api/v1/integrity/checkpoint").text
    assert theirs != mine
    for who, note in ((org, mine), (other_org, theirs)):
        keys = parse_verifier_keys(who.get("/api/v1/integrity/key").text)
        assert [k.name for k in keys] == [f"worktrail/{org.services.notary.host}/org/{who.id}"]
        assert open_checkpoint(note, keys).size == org.store.head_seq(who.id)
        assert who.get("/api/v1/integrity/checkpoint").text == note
    # another organization's key does not verify this one's checkpoint
    other_keys = parse_verifier_keys(other_org.get("/api/v1/integrity/key").text)
    with pytest.raises(ValueError):
        open_checkpoint(mine, other_keys)
    # sizes of the larger history are beyond the smaller one's tree
    big = org.store.head_seq(org.id)
    small = org.store.head_seq(other_org.id)
    assert big > small
    response = other_org.get("/api/v1/integrity/consistency", params={"first": 1, "second": big})
    assert response.status_code == 400 and str(small) in response.json()["detail"]
