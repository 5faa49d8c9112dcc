"""The Merkle math of worktrail.integrity: RFC 9162 trees grown incrementally, proofs built
from stored subtrees, and the verifier, which must answer every probe of the
transparency-dev/merkle reference suite (tests/data/transparency-dev-merkle) as expected."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from worktrail.integrity.merkle import (
    EMPTY_ROOT,
    NodeId,
    ProofError,
    append_leaves,
    consistency_proof,
    fold,
    frontier_ids,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "data" / "transparency-dev-merkle" / "testdata"


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH as RFC 9162 §2.1.1 writes it, recursively (the tests' independent reference)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


class Tree:
    """A tree grown through append_leaves, its nodes kept as the store keeps them."""

    def __init__(self) -> None:
        self.size = 0
        self.nodes: dict[NodeId, bytes] = {}
        self.reads = 0

    def append(self, leaves: Sequence[bytes]) -> None:
        frontier = [self.nodes[i] for i in frontier_ids(self.size)]
        for level, index, digest in append_leaves(self.size, frontier, leaves):
            assert (level, index) not in self.nodes  # a node is written once
            self.nodes[(level, index)] = digest
        self.size += len(leaves)

    def fetch(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        self.reads += len(ids)
        return {i: self.nodes[i] for i in ids}


def leaves_of(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


@pytest.mark.parametrize("batches", [[1] * 70, [3, 1, 8, 17, 2, 40], [70], [64, 6]])
def test_appends_in_any_batches_keep_every_root(batches: list[int]) -> None:
    leaves = leaves_of(sum(batches))
    tree = Tree()
    for size in batches:
        tree.append(leaves[tree.size : tree.size + size])
    for n in range(tree.size + 1):
        assert root_hash(n, tree.fetch) == reference_root(leaves[:n]), n
    # every complete subtree is kept, and nothing else: about two nodes per leaf
    assert len(tree.nodes) == sum(tree.size >> level for level in range(tree.size.bit_length()))


def test_proofs_from_stored_subtrees_verify_for_every_position() -> None:
    leaves = leaves_of(67)
    tree = Tree()
    tree.append(leaves)
    for size in range(1, 68):
        root = reference_root(leaves[:size])
        for index in range(size):
            proof = inclusion_proof(index, size, tree.fetch)
            verify_inclusion(index, size, leaves[index], proof, root)
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaves[index - 1 if index else 1], proof, root)
        for first in range(1, size + 1):
            proof = consistency_proof(first, size, tree.fetch)
            verify_consistency(first, size, proof, reference_root(leaves[:first]), root)


def test_a_proof_reads_a_logarithmic_number_of_subtrees() -> None:
    tree = Tree()
    tree.append(leaves_of(1 << 12 | 5))
    tree.reads = 0
    inclusion_proof(1234, tree.size, tree.fetch)
    assert tree.reads <= 2 * tree.size.bit_length()
    tree.reads = 0
    consistency_proof(1000, tree.size, tree.fetch)
    assert tree.reads <= 2 * tree.size.bit_length()


def test_small_trees() -> None:
    assert fold([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    a, b, c = leaves_of(3)
    assert fold([node_hash(a, b), c]) == reference_root([a, b, c])
    assert frontier_ids(13) == [(3, 0), (2, 2), (0, 12)]
    with pytest.raises(ProofError):
        verify_consistency(2, 2, [a], a, a)


# -- the reference suite ----------------------------------------------------------------------


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def probes(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [pytest.param(json.loads(p.read_text()), id=str(p.relative_to(VECTORS))) for p in files]


def test_the_whole_reference_suite_is_here() -> None:
    assert len(probes("inclusion")) + len(probes("consistency")) == 196
    assert (VECTORS.parent / "LICENSE").read_text().lstrip().startswith("Apache License")


@pytest.mark.parametrize("probe", probes("inclusion"))
def test_inclusion_probe(probe: dict[str, Any]) -> None:
    def check() -> None:
        verify_inclusion(
            probe["leafIdx"],
            probe["treeSize"],
            _b64(probe["leafHash"]),
            [_b64(p) for p in probe["proof"] or []],
            _b64(probe["root"]),
        )

    if probe["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("probe", probes("consistency"))
def test_consistency_probe(probe: dict[str, Any]) -> None:
    def check() -> None:
        verify_consistency(
            probe["size1"],
            probe["size2"],
            [_b64(p) for p in probe["proof"] or []],
            _b64(probe["root1"]),
            _b64(probe["root2"]),
        )

    if probe["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()
