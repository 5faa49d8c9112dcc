"""worktrail's checkpoints and proofs as a third party checks them: tests/verifier is a Go
program on the Go team's golang.org/x/mod/sumdb/note and sumdb/tlog (the reference
implementations of C2SP signed notes and of RFC 6962 trees, from Debian's
golang-golang-x-mod-dev), sharing no code with worktrail. It asks a live server over HTTP,
trusting only the verifier key it is given and a checkpoint it kept from before."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from worktrail.testing.server import LiveServer, serve

from . import tamper
from .conftest import Org, Tree

SOURCE = Path(__file__).resolve().parent / "verifier"
GOPATH = Path("/usr/share/gocode")  # where Debian's golang-*-dev packages put their sources


@pytest.fixture(scope="session")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        reason = "needs Go and golang.org/x/mod (Debian: golang-go golang-golang-x-mod-dev)"
        if os.environ.get("WORKTRAIL_REQUIRE_GO"):
            pytest.fail(reason)
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("verifier")
    env = {
        **os.environ,
        "GO111MODULE": "off",  # build against the packaged sources, nothing fetched
        "GOPATH": str(GOPATH),
        "GOCACHE": str(out / "cache"),
    }
    built = subprocess.run(
        [go, "build", "-o", str(out / "verifier"), "."],
        cwd=SOURCE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    return out / "verifier"


def edit_notes(org: Org, tree: Tree, n: int) -> None:
    for i in range(n):
        response = org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"note {i}"})
        assert response.status_code == 200, response.text


def issue(server: LiveServer, org: Org) -> str:
    response = httpx.post(f"{server.base_url}/api/v1/integrity/checkpoint", headers=org.headers)
    assert response.status_code == 200, response.text
    return response.text


def event_ids(server: LiveServer, org: Org) -> list[int]:
    response = httpx.get(
        f"{server.base_url}/api/v1/events",
        params={"order": "oldest", "limit": 1000},
        headers=org.headers,
    )
    assert response.status_code == 200, response.text
    return [event["id"] for event in response.json()["data"]]


def check(
    verifier: Path,
    server: LiveServer,
    org: Org,
    key: str,
    ids: list[int],
    since: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    args = [str(verifier), "-url", server.base_url, "-token", org.token, "-key", key]
    args += ["-events", ",".join(map(str, ids))]
    if since is not None:
        args += ["-since", str(since)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def another_key(name: str) -> str:
    """A verifier key of the same name for a key the log never signed with."""
    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    data = base64.b64encode(b"\x01" + public).decode()
    return f"{name}+{key_id.hex()}+{data}"


def kept_checkpoint(server: LiveServer, org: Org, tree: Tree, tmp_path: Path, edits: int) -> Path:
    """Make `edits` changes, keep the checkpoint that covers them, and return its file."""
    edit_notes(org, tree, edits)
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(issue(server, org))
    return kept


def verifier_key(server: LiveServer, org: Org) -> str:
    key = httpx.get(f"{server.base_url}/api/v1/integrity/key", headers=org.headers).text
    return key.splitlines()[0]


@pytest.fixture
def server(org: Org, tree: Tree, tmp_path: Path) -> Iterator[LiveServer]:
    env = {"WORKTRAIL_INTEGRITY_KEY_FILE": org.services.settings.integrity_key_file}
    with serve(org.store.url, tmp_path, env=env) as live:
        yield live


def test_the_go_verifier_accepts_every_proof_and_refuses_another_key(
    verifier: Path, server: LiveServer, org: Org, tree: Tree, tmp_path: Path
) -> None:
    kept = kept_checkpoint(server, org, tree, tmp_path, 5)
    edit_notes(org, tree, 7)
    latest = issue(server, org)
    ids = event_ids(server, org)
    key = verifier_key(server, org)

    done = check(verifier, server, org, key, ids, since=kept)
    assert done.returncode == 0, done.stderr
    size = int(latest.splitlines()[1])
    kept_size = int(kept.read_text().splitlines()[1])
    assert size == len(ids) and kept_size < size
    assert f"of {size} events; {len(ids)} inclusion proofs" in done.stdout
    assert f"consistent with the kept checkpoint of {kept_size} events" in done.stdout

    refused = check(verifier, server, org, another_key(key.split("+")[0]), ids[:1])
    assert refused.returncode == 1
    assert "checkpoint signature" in refused.stderr


def test_the_go_verifier_catches_an_edited_event_and_a_rewritten_history(
    verifier: Path, server: LiveServer, org: Org, tree: Tree, tmp_path: Path
) -> None:
    kept = kept_checkpoint(server, org, tree, tmp_path, 6)
    key = verifier_key(server, org)
    ids = event_ids(server, org)
    victim = tamper.rows(org.store, org.id)[3]  # seq 4

    # one event's stored hash changed: its leaf is no longer the tree's
    forged = hashlib.sha256(b"forged").hexdigest()
    tamper.sql(
        org.store,
        "UPDATE events SET hash = :h WHERE org_id = :o AND seq = :s",
        h=forged,
        o=org.id,
        s=victim.seq,
    )
    caught = check(verifier, server, org, key, [ids[victim.seq - 1]])
    assert caught.returncode == 1
    assert f"event {ids[victim.seq - 1]}" in caught.stderr
    tamper.sql(
        org.store,
        "UPDATE events SET hash = :h WHERE org_id = :o AND seq = :s",
        h=victim.hash,
        o=org.id,
        s=victim.seq,
    )

    # an insider with the signing key rewrites the history end to end and signs it anew:
    # every proof checks against the new checkpoint, the kept one shows the fork
    tamper.rewrite(org.store, org.id, 2, "source", "rewritten")
    edit_notes(org, tree, 2)
    issue(server, org)
    ids = event_ids(server, org)
    assert check(verifier, server, org, key, ids).returncode == 0
    forked = check(verifier, server, org, key, ids, since=kept)
    assert forked.returncode == 1
    assert "is not a prefix of the tree" in forked.stderr
