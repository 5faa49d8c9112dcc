"""Erasing a person: their name, email and free text read "[erased]" in every event, every
entity and every API, while the chain, the Merkle tree, proofs and bundles still verify;
held events refuse it and nothing is written; owners only; twice is once."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from worktrail.chain import event_hash
from worktrail.cli import app
from worktrail.integrity.bundle import verify_bundle
from worktrail.integrity.events import rendered_body
from worktrail.integrity.note import parse_verifier_keys
from worktrail.verify import verify_chain

from .conftest import Org, Tree
from .shapes import assert_error
from .tamper import rebuild, sql
from .test_asana import follow, subscribe
from .test_bundle import export, keys_of, offline
from .test_huddle import audits
from .test_kantata import fetch
from .test_tracker import relative
from .test_worksection import admin_key, events

DOC = Path(__file__).resolve().parent.parent / "docs" / "integrity.md"
runner = CliRunner()
NOTES, COMMENT = "GRACE-NOTES-compilers", "GRACE-COMMENT-nanoseconds"


@dataclass
class Person:
    id: int
    token: str
    email: str
    task: int
    comment: int

    @property
    def secrets(self) -> tuple[str, ...]:
        return ("Grace Hopper", self.email, NOTES, COMMENT)


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def grace(org: Org, tree: Tree) -> Person:
    """A member who writes a task and a comment; the owner then closes the task (its
    before and after hold her notes) and changes her role (her user's events)."""
    user_id, token = org.user("Grace Hopper", "member")
    email = org.get(f"/api/v1/users/{user_id}").json()["data"]["email"]
    org.patch(f"/api/v1/workspaces/{tree.workspace}", json={"members": [org.owner_id, user_id]})
    task = org.client.post(
        "/api/v1/tasks",
        json={"name": "Compiler", "project": tree.project, "notes": NOTES},
        headers=as_(token),
    )
    assert task.status_code == 201, task.text
    task_id = task.json()["data"]["id"]
    comment = org.client.post(
        "/api/v1/comments", json={"task": task_id, "text": COMMENT}, headers=as_(token)
    )
    assert comment.status_code == 201, comment.text
    assert org.post(f"/api/v1/tasks/{task_id}/close").status_code == 200
    assert org.patch(f"/api/v1/users/{user_id}", json={"role": "admin"}).status_code == 200
    return Person(user_id, token, email, task_id, comment.json()["data"]["id"])


def all_events(org: Org) -> list[dict[str, Any]]:
    params = {"order": "oldest", "limit": 1000}
    events: list[dict[str, Any]] = org.get("/api/v1/events", params=params).json()["data"]
    return events


def erase(org: Org, user_id: int) -> Any:
    return org.post(f"/api/v1/users/{user_id}/erase")


def assert_forgotten(text: str, person: Person) -> None:
    """None of the person's values is in `text`, and "[erased]" is where they were."""
    for secret in person.secrets:
        assert secret not in text, secret
    assert "[erased]" in text


def test_erasure_redacts_every_event_and_entity_and_keeps_the_history_valid(
    org: Org, tree: Tree
) -> None:
    person = grace(org, tree)
    before = all_events(org)
    assert all(e["schema_version"] == 2 for e in before[1:])
    response = erase(org, person.id)
    assert response.status_code == 200, response.text
    summary = response.json()["data"]
    # her user created and changed, her task and comment, the task closed by the owner
    assert summary["events_redacted"] == 5 and summary["legacy_events_kept"] == 0
    assert summary["entities_redacted"] == 3  # her user, her task's notes, her comment
    after = all_events(org)
    assert_forgotten(json.dumps(after), person)
    assert "Acme Owner" in json.dumps(after)  # nobody else's name went
    # the same events, hashes and links; the erasure is one more event, without her values
    assert [(e["seq"], e["hash"], e["prev_hash"]) for e in after[: len(before)]] == [
        (e["seq"], e["hash"], e["prev_hash"]) for e in before
    ]
    [erasure] = after[len(before) :]
    assert erasure["subject"] == {"type": "user", "id": person.id}
    assert erasure["action"] == "updated" and erasure["changes"] == []
    assert erasure["context"]["erasure"]["events_redacted"] == summary["events_redacted"]
    assert summary["event"] == erasure["id"]
    closed = next(e for e in after if e["action"] == "closed")
    assert closed["before"]["notes"] == closed["after"]["notes"] == "[erased]"
    assert closed["personal"]["/after/notes"]["$c"]  # the commitment in the salt's place
    assert isinstance(closed["personal"]["/actor/name"], str)  # the owner's, still a salt
    for path in (
        f"/api/v1/users/{person.id}",
        f"/api/v1/tasks/{person.task}",
        f"/api/v1/comments/{person.comment}",
    ):
        assert_forgotten(org.get(path).text, person)
    assert verify_chain(org.store, org.id).ok


def test_proofs_and_bundles_verify_after_erasure(org: Org, tree: Tree, tmp_path: Path) -> None:
    person = grace(org, tree)
    assert erase(org, person.id).status_code == 200
    org.post("/api/v1/integrity/checkpoint")
    key = org.get("/api/v1/integrity/key").text.splitlines()[0]
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    names: dict[str, Any] = {}
    exec(code, names)
    for event in all_events(org):
        if event["seq"] == 1:
            continue
        body = org.get(f"/api/v1/events/{event['id']}/proof").json()
        names["verify_proof"](body, key)  # the verifier the docs show third parties
        path = tmp_path / f"{event['seq']}.json"
        path.write_text(json.dumps(body))
        result = runner.invoke(app, ["verify", "--proof", str(path), "--key", key])
        assert result.exit_code == 0, result.output
    bundle = tmp_path / "all.bundle"
    export(org, bundle)
    text = bundle.read_text()
    for secret in person.secrets:  # erased: only its commitment is in the bundle
        assert secret not in text, secret
    # what is not erased comes readable, with its salt, on a line after its event's
    owner_names = [line for line in text.splitlines() if '["Acme Owner","' in line]
    assert owner_names and all(line.startswith('{"personal":') for line in owner_names)
    keys = keys_of(org, tmp_path)
    code, out = offline(bundle, keys)
    assert code == 0, out
    for jobs in (2, 3):  # the personal values stay with their events across the processes
        verify_bundle(bundle, parse_verifier_keys(keys.read_text()), jobs)
    # a disclosed value altered: the bundle no longer verifies, and says which
    bundle.write_text(text.replace('["Acme Owner","', '["Acme 0wner","', 1))
    code, out = offline(bundle, keys)
    assert code == 1 and "event seq 2: its personal value at /changes/0/new is not" in out, out


def dialect_views(org: Org, tree: Tree, sync: str) -> dict[str, str]:
    """What each vendor dialect shows of the project's history, as text."""
    fields = "previous_payload,current_payload,payload_changes"
    tracker = relative(org, tree.project, perPage=100)
    assert tracker.status_code == 200, tracker.text
    return {
        "asana": json.dumps(follow(org, tree.project, sync)[0]),
        "tracker": tracker.text,
        "worksection": json.dumps(
            events(org.client, "action=get_events&period=1d", admin_key(org))
        ),
        "huddle": audits(org, tree.workspace).text,
        "kantata": json.dumps(fetch(org, optional_fields=fields, per_page=100)),
    }


def test_every_dialect_renders_erased_values(org: Org, tree: Tree) -> None:
    sync = subscribe(org, tree.project)
    person = grace(org, tree)
    for dialect, text in dialect_views(org, tree, sync).items():
        assert any(secret in text for secret in person.secrets), dialect  # shown before
    assert erase(org, person.id).status_code == 200
    for dialect, text in dialect_views(org, tree, sync).items():
        for secret in person.secrets:
            assert secret not in text, (dialect, secret)
        assert "[erased]" in text, dialect


def test_a_hold_refuses_erasure_and_nothing_is_written(org: Org, tree: Tree) -> None:
    person = grace(org, tree)
    hold = org.post(
        "/api/v1/legal-holds", json={"scope": f"task:{person.task}", "reason": "case 7"}
    ).json()["data"]
    before = all_events(org)
    response = erase(org, person.id)
    detail = assert_error("native", response, 409)
    assert f"legal hold {hold['id']} on task:{person.task} (case 7)" in detail
    assert response.json()["holds"] == [
        {"id": hold["id"], "scope": f"task:{person.task}", "reason": "case 7"}
    ]
    assert all_events(org) == before
    assert "Grace Hopper" in org.get(f"/api/v1/users/{person.id}").text
    org.delete(f"/api/v1/legal-holds/{hold['id']}")
    assert erase(org, person.id).status_code == 200


def test_an_organization_hold_holds_everything(org: Org, tree: Tree) -> None:
    person = grace(org, tree)
    org.post("/api/v1/legal-holds", json={"scope": f"organization:{org.id}", "reason": "x"})
    assert "organization" in assert_error("native", erase(org, person.id), 409)


def test_a_second_erasure_has_nothing_more_to_do(org: Org, tree: Tree) -> None:
    person = grace(org, tree)
    assert erase(org, person.id).status_code == 200
    head = org.store.head_seq(org.id)
    again = erase(org, person.id)
    assert again.status_code == 200, again.text
    assert again.json()["data"] == {
        "user": person.id,
        "events_redacted": 0,
        "values_redacted": 0,
        "entities_redacted": 0,
        "legacy_events_kept": 0,
        "event": None,
    }
    assert org.store.head_seq(org.id) == head


def test_only_owners_erase(org: Org, tree: Tree) -> None:
    person = grace(org, tree)
    _, admin = org.user("An Admin", "admin")
    response = org.client.post(f"/api/v1/users/{person.id}/erase", headers=as_(admin))
    assert "owner" in assert_error("native", response, 403)
    assert "does not exist" in assert_error("native", erase(org, 999_999), 404)
    assert "does not exist" in assert_error("native", erase(org, tree.task), 404)


@pytest.mark.parametrize("part", ["salt", "commitment"])
def test_a_tampered_salt_or_commitment_is_named(org: Org, tree: Tree, part: str) -> None:
    person = grace(org, tree)
    assert erase(org, person.id).status_code == 200
    closed = next(e for e in all_events(org) if e["action"] == "closed")
    personal = dict(closed["personal"])
    if part == "salt":
        personal["/actor/name"] = "A" * 43
    else:
        personal["/after/notes"] = {"$c": "B" * 43}
    sql(
        org.store,
        "UPDATE events SET personal = :p WHERE org_id = :o AND seq = :s",
        p=json.dumps(personal),
        o=org.id,
        s=closed["seq"],
    )
    result = verify_chain(org.store, org.id)
    assert not result.ok and result.first_bad_seq == closed["seq"]
    assert "salt or commitment" in result.reason and "/after/notes" in result.reason


def test_the_cli_erases_after_asking(database_url: str, org: Org, tree: Tree) -> None:
    person = grace(org, tree)
    db = ["--database-url", database_url, "--org", str(org.id)]
    declined = runner.invoke(app, ["users", "erase", str(person.id), *db], input="n\n")
    assert declined.exit_code == 1
    assert "Grace Hopper" in org.get(f"/api/v1/users/{person.id}").text
    done = runner.invoke(app, ["users", "erase", str(person.id), "--yes", *db])
    assert done.exit_code == 0, done.output
    assert "events redacted" in done.output
    assert_forgotten(json.dumps(all_events(org)), person)


def test_events_of_version_1_are_left_as_they_were_and_counted(org: Org, tree: Tree) -> None:
    person = grace(org, tree)
    last_words = org.client.post(
        "/api/v1/comments",
        json={"task": person.task, "text": "LEGACY-words"},
        headers=as_(person.token),
    )
    assert last_words.status_code == 201
    last = all_events(org)[-1]
    legacy = {**last, "schema_version": 1}
    legacy.pop("personal")
    digest = event_hash(rendered_body(legacy))
    sql(
        org.store,
        "UPDATE events SET schema_version = 1, personal = NULL, hash = :h "
        "WHERE org_id = :o AND seq = :s",
        h=digest,
        o=org.id,
        s=last["seq"],
    )
    sql(org.store, "UPDATE orgs SET last_hash = :h WHERE id = :o", h=digest, o=org.id)
    rebuild(org.store, org.id)
    sql(org.store, "DELETE FROM checkpoints WHERE org_id = :o", o=org.id)
    summary = erase(org, person.id).json()["data"]
    assert summary["legacy_events_kept"] == 1 and summary["events_redacted"] == 5
    kept = org.get(f"/api/v1/events/{last['id']}").json()
    assert kept["after"]["text"] == "LEGACY-words" and kept["actor"]["name"] == "Grace Hopper"
    assert verify_chain(org.store, org.id).ok
