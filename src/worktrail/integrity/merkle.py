"""The Merkle tree of an organization's events, as RFC 9162 (Certificate Transparency 2.0)
defines it: pure arithmetic over hashes, with no idea where they are kept.

Leaf i of the tree is the event of seq i + 1: leaf hash = SHA-256(0x00 ‖ the event's 32-byte
chain hash), interior node = SHA-256(0x01 ‖ left ‖ right). A tree of n leaves is not padded:
it is the complete subtrees of n's binary expansion, largest first, folded from the right.

A *node* (level, index) is the complete subtree of 2**level leaves that starts at leaf
index << level. Its hash never changes once the tree has grown past it, which is why the
store keeps exactly these (and the proofs of any tree size read only them): `append_leaves`
says which nodes an append completes; proofs are built from a `Fetch` of node hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat

HASH_SIZE = 32
NodeId = tuple[int, int]  # (level, index)
# the hashes of these nodes (all of them, or KeyError): one round trip for a whole proof
Fetch = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()  # the root of the empty tree


class ProofError(ValueError):
    """A proof that does not hold, or that is malformed: the message says which."""


def node_number(level: int, index: int) -> int:
    """A node's number in the order appends complete them: by its last leaf, then by its
    level (the store's key: every append's nodes come after all earlier ones)."""
    return ((((index + 1) << level) - 1) << 6) | level


def node_of(number: int) -> NodeId:
    """The (level, index) of a node_number."""
    level = number & 63
    return level, ((number >> 6) + 1 >> level) - 1


def leaf_hash(event_hash: bytes) -> bytes:
    """The leaf of an event: SHA-256(0x00 ‖ its 32-byte chain hash)."""
    return _sha256(b"\x00" + event_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


# hashes begun with a prefix, copied for each leaf and node: cheaper than new ones (hashing
# is the most of the tree's cost on the append path and of a bundle's verification)
_LEAF, _NODE = _sha256(b"\x00"), _sha256(b"\x01")


def leaf_hashes(event_hashes: Iterable[bytes]) -> list[bytes]:
    """leaf_hash of each."""
    out: list[bytes] = []
    append, leaf = out.append, _LEAF.copy
    for digest in event_hashes:
        hashed = leaf()
        hashed.update(digest)
        append(hashed.digest())
    return out


def hash_pairs(row: Sequence[bytes]) -> list[bytes]:
    """The node hashes of a row's pairs of siblings, (0, 1), (2, 3), … (an odd last one
    left out)."""
    out: list[bytes] = []
    append, node = out.append, _NODE.copy
    for left, right in zip(row[0::2], row[1::2], strict=False):
        hashed = node()
        hashed.update(left)
        hashed.update(right)
        append(hashed.digest())
    return out


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2): where RFC 9162 splits n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


# -- the shape of trees ---------------------------------------------------------------------


def frontier_ids(size: int) -> list[NodeId]:
    """The complete subtrees a tree of `size` leaves is made of, largest (leftmost) first:
    one per bit set in `size`."""
    return [
        (level, (size >> level) - 1)
        for level in reversed(range(size.bit_length()))
        if size >> level & 1
    ]


def range_ids(begin: int, end: int) -> list[NodeId]:
    """The complete subtrees that make up leaves [begin, end), left to right, each as large
    as its alignment allows. For the ranges of an RFC 9162 tree (begin aligned to a power of
    two at least end - begin) these are the subtrees whose fold is the range's hash."""
    ids: list[NodeId] = []
    while begin < end:
        level = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length() - 1
        while begin + (1 << level) > end:
            level -= 1
        ids.append((level, begin >> level))
        begin += 1 << level
    return ids


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of adjacent subtrees, largest first, folded from the right (the root of a
    tree from its frontier; an empty sequence is the empty tree)."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def root_hash(size: int, fetch: Fetch) -> bytes:
    """The root of the tree of the first `size` leaves."""
    ids = frontier_ids(size)
    found = fetch(ids)
    return fold([found[i] for i in ids])


# -- growing the tree -------------------------------------------------------------------------


def append_leaves(
    size: int, frontier: Sequence[bytes], leaves: Sequence[bytes]
) -> list[tuple[int, int, bytes]]:
    """The nodes (level, index, hash) completed by appending `leaves` to a tree of `size`
    leaves whose frontier (the hashes of frontier_ids(size)) is given: the leaves
    themselves and every subtree they complete, about two per leaf."""
    if len(frontier) != size.bit_count():
        raise ValueError(f"a tree of {size} leaves has {size.bit_count()} frontier nodes")
    # the frontier by level: a new node of odd index pairs with the one at its left
    left_of = {level: h for (level, _), h in zip(frontier_ids(size), frontier, strict=True)}
    made: list[tuple[int, int, bytes]] = []
    level, first, row = 0, size, list(leaves)
    while row:
        made.extend(zip(repeat(level), range(first, first + len(row)), row))
        if first & 1:  # the first new node is a right child: its sibling is on the frontier
            parents = [node_hash(left_of[level], row[0]), *hash_pairs(row[1:])]
        else:
            parents = hash_pairs(row)
        level, first, row = level + 1, first >> 1, parents
    return made


class TreeBuilder:
    """A tree grown one leaf at a time, keeping only its frontier (a verifier's view); with
    `keep`, also every node it completes, in `made`, until the caller takes them."""

    def __init__(self, keep: bool = False) -> None:
        self.size = 0
        self._frontier: list[tuple[int, bytes]] = []  # (level, hash), largest first
        self._keep = keep
        self.made: list[tuple[int, int, bytes]] = []

    def append(self, leaf: bytes) -> None:
        self.append_subtree(0, leaf)

    def append_subtree(self, level: int, digest: bytes) -> None:
        """Append a complete subtree of 2**level leaves given by its hash (the leaves of
        events that are no longer there: retention keeps the subtrees over them). The tree's
        size must be a multiple of its size, as range_ids hands them out."""
        if self.size & ((1 << level) - 1):
            raise ValueError(f"a subtree of level {level} cannot follow {self.size} leaves")
        index = self.size >> level
        frontier = self._frontier
        if self._keep:
            self.made.append((level, index, digest))
        while frontier and frontier[-1][0] == level:
            digest = node_hash(frontier.pop()[1], digest)
            level, index = level + 1, index >> 1
            if self._keep:
                self.made.append((level, index, digest))
        frontier.append((level, digest))
        self.size = (index + 1) << level

    def root(self) -> bytes:
        return fold([digest for _, digest in self._frontier])


# -- proofs ---------------------------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make the audit path of leaf `index` in a tree of `size`
    leaves (RFC 9162 §2.1.3.1), bottom up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make the consistency proof from a tree of `first` leaves
    to one of `second` (RFC 9162 §2.1.4.1), bottom up."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    ranges: list[tuple[int, int]] = []
    lo, hi, whole = 0, second, True  # `whole`: [lo, hi) is the first tree's own subtree
    while first != hi:
        k = split_point(hi - lo)
        if first - lo <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, whole = lo + k, False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def hashes_of(ranges: Sequence[tuple[int, int]], fetch: Fetch) -> list[bytes]:
    """The hash of each range, from one fetch of the subtrees they are made of."""
    parts = [range_ids(lo, hi) for lo, hi in ranges]
    found = fetch(sorted({i for ids in parts for i in ids}))
    return [fold([found[i] for i in ids]) for ids in parts]


def inclusion_proof(index: int, size: int, fetch: Fetch) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `size` leaves."""
    return hashes_of(inclusion_ranges(index, size), fetch)


def consistency_proof(first: int, second: int, fetch: Fetch) -> list[bytes]:
    """The proof that the tree of `first` leaves is a prefix of the tree of `second`."""
    if first == second:
        return []
    return hashes_of(consistency_ranges(first, second), fetch)


# -- verifying (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------------------


def _check_hashes(**named: bytes) -> None:
    for name, value in named.items():
        if len(value) != HASH_SIZE:
            raise ProofError(f"{name} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` gives for `leaf` at `index` in a tree of `size` leaves, or
    ProofError when the proof cannot be one for that position."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below the tree size {size}")
    _check_hashes(leaf_hash=leaf)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check_hashes(proof_hash=p)
        if sn == 0:
            raise ProofError("the audit path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the audit path is shorter than the tree is deep")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """ProofError unless `proof` shows `leaf` at `index` in the tree of `size` with `root`."""
    _check_hashes(root_hash=root)
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError("the audit path leads to another root")


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """ProofError unless `proof` shows the tree of `first` leaves with `first_root` to be a
    prefix of the tree of `second` leaves with `second_root`."""
    if first < 1:
        raise ProofError("a consistency proof from an empty tree proves nothing")
    if second < first:
        raise ProofError(f"the second tree ({second}) is smaller than the first ({first})")
    if first == second:  # nothing to prove but that the roots are one
        if proof:
            raise ProofError("trees of one size need an empty proof")
        if first_root != second_root:
            raise ProofError("two different roots for one tree size")
        return
    _check_hashes(first_root=first_root, second_root=second_root)
    if not proof:
        raise ProofError("the proof is empty")
    for p in proof:
        _check_hashes(proof_hash=p)
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is itself a subtree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    if fr != first_root:
        raise ProofError("the proof does not lead to the first root")
    if sr != second_root:
        raise ProofError("the proof does not lead to the second root")
