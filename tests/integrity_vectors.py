"""The test vectors of docs/integrity.md (docs/integrity-vectors.json), built from first
principles with worktrail's own functions. test_integrity_vectors checks the file against
this and against independent references; regenerate it with

    PYTHONPATH=src python -m tests.integrity_vectors > docs/integrity-vectors.json
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from worktrail.chain import GENESIS_HASH, canonical_bytes, event_hash, hash_body
from worktrail.integrity.bundle import event_line, header, trailer
from worktrail.integrity.checkpoint import Checkpoint
from worktrail.integrity.merkle import (
    append_leaves,
    consistency_proof,
    frontier_ids,
    inclusion_proof,
    leaf_hash,
    root_hash,
)
from worktrail.integrity.multiproof import needed
from worktrail.integrity.note import VerifierKey

# JSON texts whose canonical form a verifier must reproduce (parsed, then serialized)
CANONICAL_INPUTS = [
    '{"b": 1, "a": [3, 2, 1], "c": {"z": null, "y": true, "x": false}}',
    '{"é": "café", "\\uffff": 2, "😀": "smile 😀", "B": "upper before lower", "a": 4}',
    '{"s": "quote \\" backslash \\\\ slash / tab \\t newline \\n '
    'nul \\u0000 del \\u007f ls \\u2028"}',
    '{"f": [0.1, 1.0, -0.0, 100.0, 1e-05, 1.25e-05, 1e-06, 1e15, 1e16, 1.5e300, 5e-324]}',
    '{"i": [0, -5, 9007199254740993, 9223372036854775807, -9223372036854775808]}',
]

SEED = bytes(range(32))  # a published key: for these vectors only, never for a log
HOST = "audit.example.com"
ORG = 1


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def events() -> list[dict[str, Any]]:
    """Five events of organization 1, chained, with values that test canonical JSON."""
    actor = {"id": 2, "name": "Zoë Ôwner", "email": "zoe@example.com"}
    specs = [
        (
            "created",
            "organization",
            1,
            [{"field": "name", "old": None, "new": "Acme"}],
            None,
            {"name": "Acme"},
        ),
        (
            "created",
            "user",
            2,
            [{"field": "name", "old": None, "new": "Zoë Ôwner"}],
            None,
            {"name": "Zoë Ôwner", "role": "owner"},
        ),
        (
            "created",
            "workspace",
            3,
            [{"field": "name", "old": None, "new": "Ünits 📦"}],
            None,
            {"name": "Ünits 📦", "members": [2]},
        ),
        (
            "updated",
            "workspace",
            3,
            [{"field": "custom_fields.points", "old": 0.1, "new": 1e-06}],
            {"name": "Ünits 📦"},
            {"name": "Ünits 📦", "custom_fields": {"points": 1e-06, "b": [1, 2], "a": "x\ny"}},
        ),
        (
            "updated",
            "workspace",
            3,
            [{"field": "members", "added": [5], "removed": [2]}],
            {"members": [2]},
            {"members": [5]},
        ),
    ]
    out = []
    prev = GENESIS_HASH
    for seq, (action, kind, ident, changes, before, after) in enumerate(specs, 1):
        scopes = [f"{kind}:{ident}"]
        body = hash_body(
            org_id=ORG,
            seq=seq,
            occurred_at=1_796_000_000_000_000 + seq * 1_000_123,
            recorded_at=1_796_000_000_500_000 + seq * 1_000_123,
            actor=actor if seq > 1 else None,
            action=action,
            subject_type=kind,
            subject_id=ident,
            changes=changes,
            before=before,
            after=after,
            context={"source": "api", "request_id": f"req-{seq}", "client_ip": "192.0.2.7"},
            scopes=scopes,
            idempotency_key=f"key-{seq}" if seq == 4 else None,
            schema_version=1,
            prev_hash=prev,
        )
        digest = event_hash(body)
        out.append(
            {
                "body": body,
                "canonical": canonical_bytes(body).decode(),
                "hash": digest,
                "leaf_hash": b64(leaf_hash(bytes.fromhex(digest))),
            }
        )
        prev = digest
    return out


def tree(size: int = 13) -> dict[str, Any]:
    leaves = [leaf_hash(hashlib.sha256(f"leaf {i}".encode()).digest()) for i in range(size)]
    nodes = {(lv, ix): h for lv, ix, h in append_leaves(0, [], leaves)}

    def fetch(ids: Any) -> dict[tuple[int, int], bytes]:
        return {i: nodes[i] for i in ids}

    return {
        "leaf_hashes": [b64(h) for h in leaves],
        "roots": [b64(root_hash(n, fetch)) for n in range(size + 1)],
        "nodes_of_size_13": [[lv, ix, b64(nodes[(lv, ix)])] for lv, ix in sorted(nodes)],
        "frontier_of_size_13": [list(i) for i in frontier_ids(size)],
        "inclusion": [
            {
                "leaf_index": i,
                "tree_size": n,
                "audit_path": [b64(h) for h in inclusion_proof(i, n, fetch)],
            }
            for i, n in ((0, 1), (0, 8), (5, 8), (12, 13), (6, 13), (2, 3))
        ],
        "consistency": [
            {"first": m, "second": n, "proof": [b64(h) for h in consistency_proof(m, n, fetch)]}
            for m, n in ((1, 1), (1, 8), (3, 7), (4, 13), (6, 8), (7, 13), (13, 13))
        ],
    }


def signing(chain: list[dict[str, Any]]) -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    public = key.public_key().public_bytes_raw()
    origin = f"worktrail/{HOST}/org/{ORG}"
    leaves = [leaf_hash(bytes.fromhex(e["hash"])) for e in chain]
    nodes = {(lv, ix): h for lv, ix, h in append_leaves(0, [], leaves)}
    root = root_hash(len(chain), lambda ids: {i: nodes[i] for i in ids})
    checkpoint = Checkpoint(origin, len(chain), root)
    verifier = VerifierKey(origin, public)
    note = checkpoint.sign(key)
    whole = _bundle(checkpoint, note, chain, range(1, len(chain) + 1), nodes)
    some = _bundle(checkpoint, note, chain, (2, 4), nodes)
    return {
        "private_key_seed": SEED.hex(),
        "public_key": b64(public),
        "key_name": origin,
        "key_id": verifier.id.hex(),
        "verifier_key": verifier.line(),
        "checkpoint_text": checkpoint.text(),
        "signed_checkpoint": note,
        "bundle_of_all_events": whole,
        "bundle_of_events_2_and_4": some,
    }


def _bundle(
    checkpoint: Checkpoint,
    note: str,
    chain: list[dict[str, Any]],
    seqs: Any,
    nodes: dict[tuple[int, int], bytes],
) -> str:
    seqs = list(seqs)
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and runs[-1][1] == seq - 1:
            runs[-1][1] = seq
        else:
            runs.append([seq - 1, seq])
    given = {i: nodes[i] for i in needed(checkpoint.size, [(a, b) for a, b in runs])}
    lines = header(checkpoint, note)
    for seq in seqs:
        lines += event_line(chain[seq - 1]["hash"], chain[seq - 1]["canonical"].encode())
    return (lines + trailer(len(seqs), given)).decode()


def build() -> dict[str, Any]:
    chain = events()
    canonical = []
    for text in CANONICAL_INPUTS:
        out = canonical_bytes(json.loads(text))
        canonical.append(
            {"input": text, "canonical": out.decode(), "sha256": hashlib.sha256(out).hexdigest()}
        )
    return {
        "about": "Test vectors of docs/integrity.md. Byte strings in base64 unless named *_hex; "
        "hashes of events in lowercase hex as the API shows them.",
        "canonical_json": canonical,
        "events": chain,
        "merkle_tree": tree(),
        "checkpoint": signing(chain),
    }


def dumps(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2) + "\n"


if __name__ == "__main__":
    print(dumps(build()), end="")
    with tempfile.TemporaryDirectory() as tmp:  # the bundles verify, or this fails loudly
        from worktrail.integrity.bundle import verify_bundle

        signed = build()["checkpoint"]
        for name in ("bundle_of_all_events", "bundle_of_events_2_and_4"):
            path = Path(tmp) / name
            path.write_text(signed[name])
            verify_bundle(path, [VerifierKey.parse(signed["verifier_key"])])
    orjson.dumps({})  # (orjson is what canonical_bytes uses)
