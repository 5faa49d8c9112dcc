"""docs/integrity-vectors.json, the test vectors docs/integrity.md gives third parties,
holds: worktrail makes exactly these bytes, and independent references (RFC 9162's
recursive definitions, the spec's float rule, a plain Ed25519 check) agree with them."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from worktrail.chain import canonical_bytes, event_hash
from worktrail.integrity.bundle import verify_bundle
from worktrail.integrity.checkpoint import open_checkpoint
from worktrail.integrity.merkle import verify_consistency, verify_inclusion
from worktrail.integrity.note import VerifierKey

from . import integrity_vectors
from .test_merkle import reference_root

DOCS = Path(__file__).resolve().parent.parent / "docs"
VECTORS: dict[str, Any] = json.loads((DOCS / "integrity-vectors.json").read_text())


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def test_the_file_is_what_worktrail_makes() -> None:
    assert (DOCS / "integrity-vectors.json").read_text() == integrity_vectors.dumps(
        integrity_vectors.build()
    )


@pytest.mark.parametrize("case", VECTORS["canonical_json"], ids=lambda c: c["input"][:20])
def test_canonical_json(case: dict[str, Any]) -> None:
    out = canonical_bytes(json.loads(case["input"]))
    assert out.decode() == case["canonical"]
    assert hashlib.sha256(out).hexdigest() == case["sha256"]


def spec_float(value: float) -> str:
    """A float as docs/integrity.md writes its rule: the shortest digits that read back as
    the same number; positional for decimal exponents -5 to 15 (with '.0' when there is no
    fraction), else d[.ddd]e±x with no padding of the exponent."""
    digits, exponent = _shortest(value)
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if -5 <= exponent <= 15:
        if exponent >= len(digits) - 1:
            return f"{sign}{digits}{'0' * (exponent - len(digits) + 1)}.0"
        if exponent >= 0:
            return f"{sign}{digits[: exponent + 1]}.{digits[exponent + 1 :]}"
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


def _shortest(value: float) -> tuple[str, int]:
    """The shortest round-trip decimal digits of |value| (as repr() finds them) and the
    decimal exponent of the first: 1500.0 is ("15", 3), 0.00012 is ("12", -4)."""
    if value == 0:
        return "0", 0
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    significant = digits.lstrip("0")
    exponent = int(exp or 0) + len(whole) - 1 - (len(digits) - len(significant))
    return significant.rstrip("0") or "0", exponent


def test_the_documented_float_rule_is_the_serializers() -> None:
    rng = random.Random(7)
    values = [0.0, -0.0, 1.0, 0.1, 1e-05, 1e-06, 1e15, 1e16, 5e-324, 1.7976931348623157e308]
    values += [
        struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(3000)
    ]
    values += [rng.uniform(-1e6, 1e6) for _ in range(2000)] + [
        rng.random() * 10.0 ** rng.randint(-12, 20) for _ in range(2000)
    ]
    for value in values:
        if math.isfinite(value):
            assert spec_float(value) == orjson.dumps(value).decode(), value


def test_events_chain_and_their_leaves() -> None:
    prev = "0" * 64
    for event in VECTORS["events"]:
        body = event["body"]
        assert canonical_bytes(body).decode() == event["canonical"]
        assert hashlib.sha256(event["canonical"].encode()).hexdigest() == event["hash"]
        assert event_hash(body) == event["hash"] and body["prev_hash"] == prev
        assert (
            b64(event["leaf_hash"])
            == hashlib.sha256(b"\x00" + bytes.fromhex(event["hash"])).digest()
        )
        prev = event["hash"]


def test_tree_roots_and_proofs() -> None:
    tree = VECTORS["merkle_tree"]
    leaves = [b64(h) for h in tree["leaf_hashes"]]
    for size, root in enumerate(tree["roots"]):
        assert b64(root) == reference_root(leaves[:size])
    for case in tree["inclusion"]:
        i, n = case["leaf_index"], case["tree_size"]
        verify_inclusion(
            i, n, leaves[i], [b64(h) for h in case["audit_path"]], reference_root(leaves[:n])
        )
    for case in tree["consistency"]:
        m, n = case["first"], case["second"]
        path = [b64(h) for h in case["proof"]]
        verify_consistency(m, n, path, reference_root(leaves[:m]), reference_root(leaves[:n]))
    for level, index, digest in tree["nodes_of_size_13"]:  # node (level, index): its leaves' root
        assert b64(digest) == reference_root(leaves[index << level : (index + 1) << level])


def test_the_signed_checkpoint_and_bundles(tmp_path: Path) -> None:
    signed = VECTORS["checkpoint"]
    name, public = signed["key_name"], b64(signed["public_key"])
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    assert key_id.hex() == signed["key_id"]
    data = base64.b64encode(b"\x01" + public).decode()
    assert signed["verifier_key"] == f"{name}+{key_id.hex()}+{data}"
    note = signed["signed_checkpoint"]
    text, _, signature_line = note.rpartition("\n\n")
    assert text + "\n" == signed["checkpoint_text"]
    assert re.fullmatch(rf"— {re.escape(name)} [A-Za-z0-9+/=]+\n", signature_line)
    raw = b64(signature_line.split(" ")[-1])
    assert raw[:4] == key_id
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], signed["checkpoint_text"].encode())
    key = VerifierKey.parse(signed["verifier_key"])
    checkpoint = open_checkpoint(note, [key])
    leaves = [b64(e["leaf_hash"]) for e in VECTORS["events"]]
    assert checkpoint.root == reference_root(leaves) and checkpoint.size == len(leaves)
    for bundle, count in (("bundle_of_all_events", 5), ("bundle_of_events_2_and_4", 2)):
        path = tmp_path / bundle
        path.write_text(signed[bundle])
        assert verify_bundle(path, [key]).events == count
