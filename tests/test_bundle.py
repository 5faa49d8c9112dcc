"""Bundles and single-event proofs, checked offline: with the file and the verifier key
only, no server and no database. Every way a bundle can be altered is caught and named."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worktrail.cli import app
from worktrail.integrity.bundle import BundleError, verify_bundle
from worktrail.integrity.merkle import ProofError, leaf_hash
from worktrail.integrity.multiproof import compact_range, needed, root_from_known
from worktrail.integrity.note import parse_verifier_keys

from .conftest import Org, Tree
from .test_merkle import Tree as Nodes
from .test_merkle import reference_root

runner = CliRunner()
DOC = Path(__file__).resolve().parent.parent / "docs" / "integrity.md"


@pytest.fixture
def history(org: Org, tree: Tree) -> Org:
    for n in range(12):
        org.patch(f"/api/v1/tasks/{tree.task if n % 2 else tree.subtask}", json={"notes": f"{n}"})
    return org


def export(org: Org, path: Path, *filters: str) -> str:
    db = ["--database-url", org.store.url, "--org", str(org.id)]
    env = {"WORKTRAIL_INTEGRITY_KEY_FILE": org.services.settings.integrity_key_file}
    result = runner.invoke(app, ["export", "--bundle", str(path), *db, *filters], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def keys_of(org: Org, tmp_path: Path) -> Path:
    path = tmp_path / "keys.txt"
    path.write_text(org.get("/api/v1/integrity/key").text)
    return path


def offline(bundle: Path, key: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["verify", "--bundle", str(bundle), "--key", str(key), *extra])
    return result.exit_code, result.output


def test_a_whole_history_bundle_verifies_offline(history: Org, tmp_path: Path) -> None:
    bundle = tmp_path / "all.bundle"
    size = history.store.head_seq(history.id)
    assert f"{size} events with their proof" in export(history, bundle)
    lines = event_lines(bundle)
    head, trailer = json.loads(lines[0]), json.loads(lines[-1])
    assert head["tree_size"] == size and trailer == {"events": size, "nodes": []}
    for seq, line in enumerate(lines[1:-1], 1):  # the hashed bytes are a slice of the line
        event = json.loads(line)
        assert event["event"]["seq"] == seq
        assert hashlib.sha256(line[83:-1]).hexdigest() == event["hash"]
    code, out = offline(bundle, keys_of(history, tmp_path))
    assert code == 0 and f"OK: {size} events (seq 1…{size}" in out, out


def test_a_filtered_bundle_proves_its_events_with_subtree_hashes(
    history: Org, tree: Tree, tmp_path: Path
) -> None:
    bundle = tmp_path / "task.bundle"
    export(history, bundle, "--scope", f"task:{tree.subtask}", "--descendants")
    lines = event_lines(bundle)
    seqs = [json.loads(line)["event"]["seq"] for line in lines[1:-1]]
    assert len(seqs) >= 6 and seqs == sorted(seqs) and seqs[-1] - seqs[0] >= len(seqs)
    assert json.loads(lines[-1])["nodes"]
    code, out = offline(bundle, keys_of(history, tmp_path))
    assert code == 0 and f"OK: {len(seqs)} events" in out, out
    # several processes check it the same way
    report = verify_bundle(bundle, parse_verifier_keys(keys_of(history, tmp_path).read_text()), 2)
    assert report.events == len(seqs)


def drop_sixth(lines: list[bytes]) -> list[bytes]:
    trailer = json.loads(lines[-1])
    trailer["events"] -= 1
    return [*lines[:6], *lines[7:-1], json.dumps(trailer).encode() + b"\n"]


def event_lines(bundle: Path, keepends: bool = False) -> list[bytes]:
    """The bundle's lines but those of personal values (test_erasure.py has them)."""
    lines = bundle.read_bytes().splitlines(keepends)
    return [line for line in lines if not line.startswith(b'{"personal":')]


def alter(bundle: Path, change: object) -> None:
    lines = event_lines(bundle, keepends=True)
    assert callable(change)
    bundle.write_bytes(b"".join(change(lines)))


@pytest.mark.parametrize(
    ("name", "change", "words"),
    [
        (
            "a changed byte",
            lambda ls: [*ls[:4], ls[4].replace(b'"seq":4', b'"seq":5'), *ls[5:]],
            "event seq 5: its content does not match its hash",
        ),
        (
            "a deleted event",
            lambda ls: [*ls[:6], *ls[7:]],
            "holds 18 events, its last line says 19",
        ),
        ("a deleted event, counted", drop_sixth, "the hash of leaves [5, 6) is missing"),
        (
            "a forged link",
            lambda ls: [*ls[:6], ls[6].replace(b'"prev_hash":"', b'"prev_hash":"0'), *ls[7:]],
            "event seq 6: its content does not match its hash",
        ),
        (
            "two swapped events",
            lambda ls: [*ls[:3], ls[4], ls[3], *ls[5:]],
            "event seq 3 comes after seq 4: out of order",
        ),
        ("a cut-off end", lambda ls: ls[:-1], "its last line holds no nodes"),
        ("an event too many", lambda ls: [*ls[:-1], ls[-2], ls[-1]], "out of order"),
        (
            "a wrong count",
            lambda ls: [*ls[:-1], ls[-1].replace(b'"events":', b'"events":1')],
            "its last line says",
        ),
    ],
)
def test_an_altered_bundle_is_named(
    history: Org, tmp_path: Path, name: str, change: object, words: str
) -> None:
    bundle = tmp_path / "all.bundle"
    export(history, bundle)
    alter(bundle, change)
    code, out = offline(bundle, keys_of(history, tmp_path))
    assert code == 1 and words in out, (name, out)


def test_an_altered_subtree_hash_or_last_event_breaks_the_root(
    history: Org, tree: Tree, tmp_path: Path
) -> None:
    bundle = tmp_path / "task.bundle"
    export(history, bundle, "--scope", f"task:{tree.subtask}")
    keys = keys_of(history, tmp_path)
    trailer = json.loads(bundle.read_bytes().splitlines()[-1])
    trailer["nodes"][0][2] = trailer["nodes"][1][2]
    alter(bundle, lambda ls: [*ls[:-1], json.dumps(trailer).encode() + b"\n"])
    code, out = offline(bundle, keys)
    assert code == 1 and "do not make the checkpoint's root" in out, out
    # a missing subtree hash
    trailer["nodes"] = trailer["nodes"][1:]
    alter(bundle, lambda ls: [*ls[:-1], json.dumps(trailer).encode() + b"\n"])
    code, out = offline(bundle, keys)
    assert code == 1 and "is missing" in out, out


def test_a_bundle_checked_with_another_key_fails(
    history: Org, other_org: Org, tmp_path: Path
) -> None:
    bundle = tmp_path / "all.bundle"
    export(history, bundle)
    code, out = offline(bundle, keys_of(other_org, tmp_path))
    assert code == 1 and "checkpoint does not verify: not signed by a known key" in out, out
    assert offline(bundle, tmp_path / "nothing")[0] == 2  # a key that is neither a line nor a file


def test_one_event_and_its_proof_verify_offline(history: Org, tmp_path: Path) -> None:
    history.post("/api/v1/integrity/checkpoint")
    event = history.get("/api/v1/events", params={"limit": 1, "order": "oldest"}).json()["data"][0]
    proof = tmp_path / "proof.json"
    proof.write_bytes(history.get(f"/api/v1/events/{event['id']}/proof").content)
    key = history.get("/api/v1/integrity/key").text.splitlines()[0]
    result = runner.invoke(app, ["verify", "--proof", str(proof), "--key", key])
    assert result.exit_code == 0 and "OK: event seq 1 is in" in result.output, result.output
    body = json.loads(proof.read_text())
    # the verifier docs/integrity.md shows third parties agrees
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    names: dict[str, object] = {}
    exec(code, names)
    names["verify_proof"](body, key)  # type: ignore[operator]
    body["event"]["context"]["client_ip"] = "10.6.6.6"
    with pytest.raises(AssertionError):
        names["verify_proof"](body, key)  # type: ignore[operator]
    proof.write_text(json.dumps(body))
    result = runner.invoke(app, ["verify", "--proof", str(proof), "--key", key])
    assert result.exit_code == 1
    assert "event seq 1: its content does not match its hash" in result.output


def test_a_bundle_is_made_from_the_local_store_only(history: Org, tmp_path: Path) -> None:
    args = [
        "export",
        "--bundle",
        str(tmp_path / "b"),
        "--url",
        "http://127.0.0.1:1",
        "--token",
        "t",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "local store" in result.output
    with pytest.raises(OSError):
        verify_bundle(tmp_path / "nothing-here", [])
    (tmp_path / "not-a-bundle").write_text('{"hello": 1}\n{"nodes": []}\n')
    with pytest.raises(BundleError, match="not a bundle"):
        verify_bundle(tmp_path / "not-a-bundle", [])


# -- the multiproof, against a reference --------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_any_set_of_leaves_proves_the_root_with_the_subtrees_it_needs(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randint(1, 300)
    leaves = [leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(size)]
    stored = Nodes()
    stored.append(leaves)
    picked = sorted(rng.sample(range(size), rng.randint(0, min(size, 40))))
    if seed % 5 == 0:
        picked = list(range(rng.randint(0, size // 2), size))  # one long run
    runs: list[list[int]] = []
    for i in picked:
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    ids = needed(size, [(a, b) for a, b in runs])
    given = stored.fetch(ids)
    known = [node for a, b in runs for node in compact_range(a, leaves[a:b])]
    assert root_from_known(size, known, given) == reference_root(leaves)
    if ids:  # each subtree it names is needed
        missing = dict(given)
        del missing[rng.choice(ids)]
        with pytest.raises(ProofError, match="is missing"):
            root_from_known(size, known, missing)
    if known:  # a given hash never stands in for a leaf at hand
        level, index, digest = known[0]
        wrong = [(level, index, bytes(32)), *known[1:]]
        assert root_from_known(size, wrong, {**given, (level, index): digest}) != reference_root(
            leaves
        )
