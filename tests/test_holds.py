"""Legal holds: placing and lifting are events, owners only, scopes checked; the store's
one answer to "which holds hold these events"."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from worktrail.cli import app
from worktrail.ui.filters import TYPES

from .conftest import Org, Tree
from .shapes import assert_error


def place(org: Org, scope: Any, reason: str = "litigation 2026-17") -> dict[str, Any]:
    response = org.post("/api/v1/legal-holds", json={"scope": scope, "reason": reason})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def events_of(org: Org, subject: str) -> list[dict[str, Any]]:
    response = org.get("/api/v1/events", params={"scope": subject, "order": "oldest"})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]
    return events


def test_placing_and_lifting_a_hold_are_events(org: Org, tree: Tree) -> None:
    hold = place(org, f"project:{tree.project}")
    assert hold["scope"] == f"project:{tree.project}" and hold["status"] == "active"
    lifted = org.delete(f"/api/v1/legal-holds/{hold['id']}", params={"reason": "case closed"})
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["data"]["status"] == "lifted"
    events = events_of(org, f"legal_hold:{hold['id']}")
    assert [e["action"] for e in events] == ["created", "deleted"]
    assert events[0]["after"] == {
        "scope_type": "project",
        "scope_id": tree.project,
        "reason": "litigation 2026-17",
    }
    assert events[0]["actor"]["id"] == org.owner_id
    assert events[1]["context"]["lift_reason"] == "case closed"
    again = org.delete(f"/api/v1/legal-holds/{hold['id']}")
    assert "already lifted" in assert_error("native", again, 409)


def test_listing_shows_active_holds_and_lifted_ones_on_request(org: Org, tree: Tree) -> None:
    first = place(org, {"type": "task", "id": tree.task})
    second = place(org, f"organization:{org.id}", "regulator's request")
    org.delete(f"/api/v1/legal-holds/{first['id']}")
    active = org.get("/api/v1/legal-holds").json()["data"]
    assert [h["id"] for h in active] == [second["id"]]
    every = org.get("/api/v1/legal-holds", params={"include": "lifted"}).json()["data"]
    assert [(h["id"], h["status"]) for h in every] == [
        (first["id"], "lifted"),
        (second["id"], "active"),
    ]
    one = org.get(f"/api/v1/legal-holds/{second['id']}").json()["data"]
    assert one["reason"] == "regulator's request" and one["lifted_at"] is None


def test_only_owners_may_hold(org: Org, tree: Tree) -> None:
    hold = place(org, f"workspace:{tree.workspace}")
    for role in ("admin", "member", "guest"):
        _, token = org.user(f"A {role}", role)
        headers = {"Authorization": f"Bearer {token}"}
        calls = [
            org.client.post(
                "/api/v1/legal-holds",
                json={"scope": f"task:{tree.task}", "reason": "x"},
                headers=headers,
            ),
            org.client.get("/api/v1/legal-holds", headers=headers),
            org.client.get(f"/api/v1/legal-holds/{hold['id']}", headers=headers),
            org.client.delete(f"/api/v1/legal-holds/{hold['id']}", headers=headers),
        ]
        for response in calls:
            assert "owner" in assert_error("native", response, 403)
    assert org.get(f"/api/v1/legal-holds/{hold['id']}").json()["data"]["status"] == "active"


def test_a_scope_that_is_not_there_is_named(org: Org, tree: Tree) -> None:
    missing = org.post("/api/v1/legal-holds", json={"scope": "project:999999", "reason": "x"})
    assert "project 999999 does not exist" in assert_error("native", missing, 404)
    wrong_type = org.post(
        "/api/v1/legal-holds", json={"scope": f"task:{tree.project}", "reason": "x"}
    )
    assert "does not exist" in assert_error("native", wrong_type, 404)
    bad = org.post("/api/v1/legal-holds", json={"scope": "webhook:1", "reason": "x"})
    assert "scope" in assert_error("native", bad, 422)
    no_reason = org.post("/api/v1/legal-holds", json={"scope": f"task:{tree.task}"})
    assert "reason" in assert_error("native", no_reason, 422)
    other = org.post("/api/v1/legal-holds", json={"scope": "organization:999", "reason": "x"})
    assert "not this organization" in assert_error("native", other, 404)
    unknown = org.get("/api/v1/legal-holds/424242")
    assert "legal_hold 424242 does not exist" in assert_error("native", unknown, 404)


def test_the_store_says_which_holds_hold_which_events(org: Org, tree: Tree) -> None:
    hold = place(org, f"task:{tree.subtask}")
    by_seq = {e["subject"]["type"]: e["seq"] for e in events_of(org, f"workspace:{tree.workspace}")}
    holds = org.store.holds
    assert [h.id for h in holds.over(org.id, [by_seq["comment"]])] == [hold["id"]]
    assert holds.over(org.id, [by_seq["project"], by_seq["workspace"]]) == []
    assert holds.over(org.id, []) == []
    everything = place(org, f"organization:{org.id}")
    held = holds.over(org.id, [by_seq["workspace"]])
    assert [h.id for h in held] == [everything["id"]]
    org.delete(f"/api/v1/legal-holds/{everything['id']}")
    assert holds.over(org.id, [by_seq["workspace"]]) == []
    assert [h.id for h in holds.active(org.id)] == [hold["id"]]


def test_holds_are_not_entities_of_the_generic_api_or_ingest(org: Org, tree: Tree) -> None:
    generic = {"scope_type": "project", "scope_id": tree.project, "reason": "x"}
    assert_error("native", org.post("/api/v1/legal-holds", json=generic), 422)
    assert "legal_hold" not in TYPES
    response = org.post(
        "/api/v1/changes",
        json={"records": [{"type": "legal_hold", "id": "h1", "state": {"reason": "x"}}]},
    )
    assert response.status_code == 422, response.text


def test_the_cli_places_lists_and_lifts_holds(database_url: str, org: Org, tree: Tree) -> None:
    runner = CliRunner()
    db = ["--database-url", database_url, "--org", str(org.id)]

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, *db])
        assert result.exit_code == 0, result.output
        return result.output

    placed = run("holds", "place", f"project:{tree.project}", "--reason", "audit 2026")
    hold_id = int(placed.split()[2])
    assert f"project:{tree.project}" in run("holds", "list")
    assert "lifted" in run("holds", "lift", str(hold_id), "--reason", "done")
    assert f"project:{tree.project}" not in run("holds", "list")
    assert "lifted" in run("holds", "list", "--lifted")
    missing = runner.invoke(app, ["holds", "place", "task:999999", "--reason", "x", *db])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    events = events_of(org, f"legal_hold:{hold_id}")
    assert [e["action"] for e in events] == ["created", "deleted"]
    assert events[1]["context"]["lift_reason"] == "done"
