"""One proof for many leaves: the root of a tree of `size` leaves from some of its
leaves (grouped in runs of consecutive ones) and the hashes of the complete subtrees that
hold none of them. Each subtree hash needed is given once, however many leaves it proves,
and a bundle of the whole history needs none at all.

The root is computed bottom up. At each level, every known node (one that covers given
leaves) whose parent is a complete subtree of the tree is paired with its sibling, which
is known too or must be among the given subtree hashes; a known node whose parent is not
complete is one of the tree's frontier subtrees. The frontier subtrees without given
leaves must be given; the root is the frontier folded from the right (merkle.fold). A
given subtree hash is never used for a subtree that holds a given leaf.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .merkle import NodeId, ProofError, fold, frontier_ids, hash_pairs, node_hash, range_ids

# a run of consecutive leaves: its first leaf index and its compact range, the largest
# complete subtrees it is made of, left to right, as (level, index, hash)
Known = Iterable[tuple[int, int, bytes]]


def compact_range(first: int, leaves: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
    """The complete subtrees that leaves [first, first + len(leaves)) make, with hashes
    (this folds every leaf of a bundle: its node hashes are made the cheapest way)."""
    out: list[tuple[int, int, bytes]] = []
    level, start, row = 0, first, list(leaves)
    while row:
        if start & 1:
            out.append((level, start, row[0]))
            row, start = row[1:], start + 1
        if len(row) & 1:
            out.append((level, start + len(row) - 1, row[-1]))
            row = row[:-1]
        row = hash_pairs(row)
        level, start = level + 1, start >> 1
    return out


def _parent_complete(level: int, index: int, size: int) -> bool:
    return ((index >> 1) + 1) << (level + 1) <= size


def root_from_known(size: int, known: Known, given: Mapping[NodeId, bytes]) -> bytes:
    """The root of the tree of `size` leaves from the known subtrees (those covering the
    leaves at hand) and the `given` hashes of subtrees without any; ProofError naming the
    first subtree that is missing or out of the tree."""
    levels: dict[int, dict[int, bytes]] = {}
    for level, index, digest in known:
        if (index + 1) << level > size:
            raise ProofError(
                f"leaves [{index << level}, {(index + 1) << level}) are not in a tree of {size}"
            )
        levels.setdefault(level, {})[index] = digest
    frontier: dict[NodeId, bytes] = {}
    for level in range(max(size.bit_length(), 1)):
        row = levels.get(level, {})
        up = levels.setdefault(level + 1, {})
        for index in sorted(row):
            if not _parent_complete(level, index, size):
                frontier[(level, index)] = row[index]
                continue
            if index & 1 and index - 1 in row:
                continue  # made with its left sibling
            sibling = index ^ 1
            other = row.get(sibling) or given.get((level, sibling))
            if other is None:
                raise ProofError(f"the hash of leaves {_span(level, sibling)} is missing")
            up[index >> 1] = (
                node_hash(other, row[index]) if index & 1 else node_hash(row[index], other)
            )
    hashes = []
    for node in frontier_ids(size):
        found = frontier.get(node) or given.get(node)
        if found is None:
            raise ProofError(f"the hash of leaves {_span(*node)} is missing")
        hashes.append(found)
    return fold(hashes)


def needed(size: int, runs: Iterable[tuple[int, int]]) -> list[NodeId]:
    """The subtrees whose hashes prove runs [begin, end) of leaves in a tree of `size`."""
    known: dict[int, set[int]] = {}
    for begin, end in runs:
        for level, index in range_ids(begin, end):
            known.setdefault(level, set()).add(index)
    wanted: list[NodeId] = []
    covered: set[NodeId] = set()
    for level in range(max(size.bit_length(), 1)):
        row = known.get(level, set())
        up = known.setdefault(level + 1, set())
        for index in row:
            if not _parent_complete(level, index, size):
                covered.add((level, index))
                continue
            if index ^ 1 not in row:
                wanted.append((level, index ^ 1))
            up.add(index >> 1)
    wanted += [node for node in frontier_ids(size) if node not in covered]
    return sorted(set(wanted))


def _span(level: int, index: int) -> str:
    return f"[{index << level}, {(index + 1) << level})"
