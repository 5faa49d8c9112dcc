"""Checkpoints, inclusion and consistency proofs over the native API, checked the way a
client without the database checks them: with the verifier keys and the Merkle math."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.integrity.checkpoint import Checkpoint, open_checkpoint
from worktrail.integrity.merkle import leaf_hash, verify_consistency, verify_inclusion
from worktrail.integrity.note import NoteError, VerifierKey, parse_verifier_keys
from worktrail.store import Store

from .conftest import Org, Tree, make_settings, new_org


def issue(org: Org) -> tuple[Checkpoint, str]:
    response = org.post("/api/v1/integrity/checkpoint")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return open_checkpoint(response.text, keys(org)), response.text


def keys(org: Org) -> list[VerifierKey]:
    response = org.get("/api/v1/integrity/key")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse_verifier_keys(response.text)


def b64(value: str) -> bytes:
    return base64.b64decode(value)


def proof(org: Org, event_id: int, **params: Any) -> dict[str, Any]:
    response = org.get(f"/api/v1/events/{event_id}/proof", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def check(body: dict[str, Any], checkpoint: Checkpoint) -> None:
    path = [b64(h) for h in body["audit_path"]]
    leaf = b64(body["leaf_hash"])
    verify_inclusion(body["leaf_index"], checkpoint.size, leaf, path, checkpoint.root)


def events(org: Org) -> list[dict[str, Any]]:
    response = org.get("/api/v1/events", params={"order": "oldest", "limit": 1000})
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_every_event_is_proven_in_a_signed_checkpoint(org: Org, tree: Tree) -> None:
    checkpoint, note = issue(org)
    assert checkpoint.origin == f"worktrail/{org.services.notary.host}/org/{org.id}"
    assert checkpoint.size == org.store.head_seq(org.id)
    assert org.get("/api/v1/integrity/checkpoint").text == note
    assert issue(org) == (checkpoint, note)  # nothing new: the same checkpoint
    listed = events(org)
    assert len(listed) == checkpoint.size
    for event in listed:
        body = proof(org, event["id"])
        assert body["leaf_index"] == event["seq"] - 1 and body["tree_size"] == checkpoint.size
        assert body["checkpoint"] == note and body["event"] == event
        assert b64(body["leaf_hash"]) == leaf_hash(bytes.fromhex(event["hash"]))
        check(body, checkpoint)


def test_old_checkpoints_keep_proving_and_new_ones_are_consistent(org: Org, tree: Tree) -> None:
    first, first_note = issue(org)
    for n in range(5):
        org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"note {n}"})
    second, _ = issue(org)
    assert second.size == first.size + 5
    event = events(org)[1]
    old = proof(org, event["id"], tree_size=first.size)
    assert old["checkpoint"] == first_note and old["tree_size"] == first.size
    check(old, first)
    check(proof(org, event["id"]), second)
    response = org.get(
        "/api/v1/integrity/consistency", params={"first": first.size, "second": second.size}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["first"], body["second"]) == (first.size, second.size)
    path = [b64(h) for h in body["proof"]]
    verify_consistency(first.size, second.size, path, first.root, second.root)


def test_bad_sizes_are_clear_client_errors(org: Org, tree: Tree) -> None:
    checkpoint, _ = issue(org)
    last = events(org)[-1]["id"]
    cases = [
        (f"/api/v1/events/{last}/proof", {"tree_size": checkpoint.size - 1}, 400, "at least"),
        (f"/api/v1/events/{last}/proof", {"tree_size": checkpoint.size + 7}, 404, "no checkpoint"),
        (f"/api/v1/events/{last}/proof", {"tree_size": "big"}, 400, "integer"),
        (f"/api/v1/events/{last}/proof", {"size": 3}, 400, "unknown"),
        (f"/api/v1/events/{last + 1}/proof", {}, 404, "does not exist"),
        ("/api/v1/events/0/proof", {}, 404, "does not exist"),
        ("/api/v1/integrity/consistency", {"first": 3}, 400, "'second' is required"),
        ("/api/v1/integrity/consistency", {"first": 0, "second": 3}, 400, "at least 1"),
        ("/api/v1/integrity/consistency", {"first": 4, "second": 3}, 400, "at most"),
        ("/api/v1/integrity/consistency", {"first": 1, "second": 999}, 400, "beyond"),
    ]
    for path, params, status, words in cases:
        response = org.get(path, params=params)
        assert response.status_code == status, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert words in response.json()["detail"], (path, params, response.text)


def test_no_checkpoint_yet_is_a_404(org: Org) -> None:
    response = org.get("/api/v1/integrity/checkpoint")
    assert response.status_code == 404 and "no checkpoint" in response.json()["detail"]


def test_members_read_proofs_of_what_they_may_read_and_cannot_issue(org: Org, tree: Tree) -> None:
    hidden = org.create("workspaces", name="Finance")
    member_id, token = org.user("Mel Member")
    org.post(f"/api/v1/workspaces/{tree.workspace}/members", json={"add": [member_id]})
    issue(org)
    headers = {"Authorization": f"Bearer {token}"}
    client = org.client
    assert client.post("/api/v1/integrity/checkpoint", headers=headers).status_code == 403
    assert client.get("/api/v1/integrity/checkpoint", headers=headers).status_code == 200
    by_subject = {(e["subject"]["type"], e["subject"]["id"]): e["id"] for e in events(org)}
    seen = client.get(f"/api/v1/events/{by_subject[('task', tree.task)]}/proof", headers=headers)
    assert seen.status_code == 200
    unseen = by_subject[("workspace", hidden["id"])]
    assert client.get(f"/api/v1/events/{unseen}/proof", headers=headers).status_code == 404


def test_a_rotated_key_keeps_what_it_signed_verifiable(org: Org, tree: Tree) -> None:
    old, old_note = issue(org)
    notary = org.services.notary
    before, after = notary.rotate()
    assert before is not None and before != after
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "after the rotation"})
    new, new_note = issue(org)
    current, retired = keys(org)
    assert open_checkpoint(new_note, [current]) == new
    assert open_checkpoint(old_note, [retired]) == old
    with pytest.raises(NoteError):
        open_checkpoint(old_note, [current])
    # the retired key is of no use to this server any more: its file now holds the new one
    assert notary.key_path is not None and notary.key_path.stat().st_mode & 0o777 == 0o600


def test_a_key_file_that_is_not_the_stores_key_signs_nothing(
    org: Org, tree: Tree, tmp_path: Path
) -> None:
    issue(org)
    other = make_settings(org.store.url, integrity_key_file=str(tmp_path / "elsewhere.key"))
    with TestClient(create_app(other, org.store), raise_server_exceptions=False) as client:
        response = client.post("/api/v1/integrity/checkpoint", headers=org.headers)
    assert response.status_code == 409, response.text
    assert "rotate-key" in response.json()["detail"]


def test_a_server_database_needs_a_key_file(store: Store) -> None:
    if store.dialect_name != "postgresql":
        pytest.skip("an SQLite store keeps its key beside its file")
    with TestClient(create_app(make_settings(store.url), store)) as client:
        org = new_org(store, client)
        response = org.post("/api/v1/integrity/checkpoint")
    assert response.status_code == 409
    assert "integrity_key_file" in response.json()["detail"]


def test_the_background_worker_issues_checkpoints_as_events_come(
    store: Store, tmp_path: Path
) -> None:
    settings = make_settings(
        store.url,
        integrity_key_file=str(tmp_path / "k.key"),
        checkpoint_events=3,
        checkpoint_interval_seconds=3600,
    )
    with TestClient(create_app(settings, store)) as client:
        org = new_org(store, client)
        for n in range(4):
            org.create("workspaces", name=f"Team {n}")
        deadline = time.monotonic() + 20
        while org.get("/api/v1/integrity/checkpoint").status_code != 200:
            assert time.monotonic() < deadline, "no checkpoint was issued"
            time.sleep(0.1)
        checkpoint = open_checkpoint(org.get("/api/v1/integrity/checkpoint").text, keys(org))
    assert checkpoint.size >= 3


def test_worktrail_worker_issues_checkpoints_too(org: Org, tree: Tree, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "WORKTRAIL_DATABASE_URL": org.store.url,
        "WORKTRAIL_INTEGRITY_KEY_FILE": org.services.settings.integrity_key_file,
        "WORKTRAIL_CHECKPOINT_EVENTS": "2",
        "WORKTRAIL_CHECKPOINT_INTERVAL_SECONDS": "0",
        "WORKTRAIL_LOG_LEVEL": "warning",
    }
    with (tmp_path / "worker.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "worktrail.cli", "worker"], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while org.get("/api/v1/integrity/checkpoint").status_code != 200:
            assert process.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker issued no checkpoint"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, (tmp_path / "worker.log").read_text()
    checkpoint = open_checkpoint(org.get("/api/v1/integrity/checkpoint").text, keys(org))
    assert checkpoint.size == org.store.head_seq(org.id)


def test_concurrent_writers_grow_one_consistent_tree(org: Org, tree: Tree) -> None:
    import threading

    from worktrail.verify import verify_chain

    def write(n: int) -> None:
        for i in range(6):
            org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"writer {n} note {i}"})

    writers = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    checkpoint, _ = issue(org)
    assert checkpoint.size == org.store.head_seq(org.id) >= 36
    result = verify_chain(org.store, org.id)  # every stored node matches the events
    assert result.ok and result.checkpoint == checkpoint.size, result
