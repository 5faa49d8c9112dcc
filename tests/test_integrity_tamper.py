"""Tampering with a stored history, each way an insider might, is caught and named:
`worktrail verify` on the store, and offline, a bundle or a checkpoint kept from before."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from worktrail.cli import app
from worktrail.integrity.checkpoint import Checkpoint
from worktrail.integrity.merkle import node_number
from worktrail.integrity.note import VerifierKey

from . import tamper
from .conftest import Org, Tree

runner = CliRunner()


@pytest.fixture
def history(org: Org, tree: Tree) -> Org:
    """An organization with a dozen events, a checkpoint of all of them."""
    for n in range(5):
        org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"note {n}"})
    org.post("/api/v1/integrity/checkpoint")
    return org


def verify(org: Org, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["verify", "--database-url", org.store.url, "--org", str(org.id), *extra]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def key_file(org: Org, tmp_path: Path) -> Path:
    path = tmp_path / "log.key"
    path.write_text(org.get("/api/v1/integrity/key").text)
    return path


def test_an_intact_history_verifies(history: Org) -> None:
    code, out = verify(history)
    assert code == 0, out
    size = history.store.head_seq(history.id)
    assert f"OK: {size} events" in out and f"checkpoint of tree size {size}" in out


def test_one_byte_that_breaks_the_stored_json_is_named_not_a_traceback(history: Org) -> None:
    event = tamper.rows(history.store, history.id)[3]
    tamper.set_data(history.store, history.id, 4, "x" + event.data[1:])  # { → x
    code, out = verify(history)
    assert code == 1, out
    assert "BROKEN at seq 4: its stored document is not valid JSON" in out
    assert "Traceback" not in out


def test_one_changed_byte_is_named(history: Org) -> None:
    event = tamper.rows(history.store, history.id)[5]
    at = event.data.index("note")
    tamper.set_data(history.store, history.id, 6, event.data[:at] + "m" + event.data[at + 1 :])
    code, out = verify(history)
    assert code == 1 and "BROKEN at seq 6: content does not match its hash" in out, out


def test_a_deleted_event_is_named(history: Org) -> None:
    tamper.delete_event(history.store, history.id, 7)
    code, out = verify(history)
    assert code == 1 and "BROKEN at seq 7: seq 7 is missing" in out, out


def test_two_swapped_events_are_named(history: Org) -> None:
    tamper.swap_events(history.store, history.id, 8, 9)
    code, out = verify(history)
    assert code == 1 and "BROKEN at seq 8: prev_hash does not link" in out, out


def test_a_truncated_history_is_caught_by_its_checkpoint(history: Org) -> None:
    size = history.store.head_seq(history.id)
    tamper.truncate(history.store, history.id, size - 2)
    code, out = verify(history)
    assert code == 1, out
    assert f"holds {size - 2} events but the latest checkpoint covers {size}" in out


def test_a_tidy_truncation_is_caught_by_a_checkpoint_kept_from_before(
    history: Org, tmp_path: Path
) -> None:
    size = history.store.head_seq(history.id)
    kept = tmp_path / "seen.checkpoint"
    kept.write_text(history.get("/api/v1/integrity/checkpoint").text)
    keys = key_file(history, tmp_path)
    tamper.truncate(history.store, history.id, size - 2, tidy=True)  # its checkpoints go too
    assert verify(history)[0] == 0  # consistent with itself: only what was kept tells
    code, out = verify(history, "--checkpoint", str(kept), "--key", str(keys))
    assert code == 1, out
    assert f"holds {size - 2} events but the checkpoint given covers {size}" in out


def test_a_rewritten_history_is_caught_by_a_checkpoint_kept_from_before(
    history: Org, tmp_path: Path
) -> None:
    kept = tmp_path / "seen.checkpoint"
    kept.write_text(history.get("/api/v1/integrity/checkpoint").text)
    keys = key_file(history, tmp_path)
    assert verify(history, "--checkpoint", str(kept), "--key", str(keys))[0] == 0
    # the insider rewrites an event, rebuilds chain and tree, and signs the same size anew
    tamper.rewrite(history.store, history.id, 3, "client_ip", "10.6.6.6")
    forged = history.post("/api/v1/integrity/checkpoint").text
    assert forged != kept.read_text()
    forged_size = int(forged.split("\n")[1])
    assert forged_size == int(kept.read_text().split("\n")[1])  # a fork: one size, two trees
    assert verify(history)[0] == 0  # consistent with itself: only what was kept tells
    code, out = verify(history, "--checkpoint", str(kept), "--key", str(keys))
    assert code == 1, out
    assert "are not those the checkpoint given signed: the history was rewritten" in out


def test_a_checkpoint_signed_by_another_key_is_caught(history: Org) -> None:
    origin = history.services.notary.origin(history.id)
    size = history.store.head_seq(history.id)
    root = history.store.integrity.root(history.id, size)
    forged = Checkpoint(origin, size, root).sign(Ed25519PrivateKey.generate())
    tamper.sql(
        history.store, "UPDATE checkpoints SET note = :n WHERE org_id = :o", n=forged, o=history.id
    )
    code, out = verify(history)
    assert (
        code == 1 and "the latest checkpoint does not verify: not signed by a known key" in out
    ), out


def test_an_altered_merkle_node_is_caught(history: Org) -> None:
    tamper.sql(
        history.store,
        "UPDATE merkle_nodes SET hash = :h WHERE org_id = :o AND node = :n",
        h=bytes(32),
        o=history.id,
        n=node_number(1, 0),  # leaves [0, 2)
    )
    code, out = verify(history)
    assert code == 1, out
    assert "has another hash for the subtree of leaves [0, 2)" in out
    # and a proof served from it fails where a client checks it: that of leaf 2 holds it
    listed = history.get("/api/v1/events", params={"order": "oldest", "limit": 3}).json()
    event = listed["data"][2]
    body = history.get(f"/api/v1/events/{event['id']}/proof").json()
    from worktrail.cli_integrity import check_proof

    with pytest.raises(ValueError, match="another root"):
        check_proof(body, [VerifierKey.parse(history.get("/api/v1/integrity/key").text)])
