"""Check an organization's stored history: recompute its hash chain, and its Merkle tree
against the latest checkpoint, and report the first thing that does not hold."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

import orjson

from .chain import GENESIS_HASH, canonical_bytes
from .diff import micros_to_iso
from .integrity.checkpoint import Checkpoint, open_checkpoint
from .integrity.events import UnreadableEvent, stored_body
from .integrity.merkle import TreeBuilder, leaf_hash, range_ids
from .integrity.note import NoteError, VerifierKey, split
from .model import EventQuery, PrunedRange, StoredEvent
from .query import Reader
from .store import CheckpointRecord, Store


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    ok: bool
    first_bad_seq: int | None = None
    reason: str = ""
    checkpoint: int | None = None  # the tree size of the checkpoint the tree was held to
    pruned: tuple[PrunedRange, ...] = ()  # the runs of events retention removed

    def pruned_summary(self) -> str:
        """What retention removed, in words ("" if nothing): the pruned prefix, and how many
        events in runs after it."""
        if not self.pruned:
            return ""
        first = self.pruned[0]
        parts = []
        if first.first_seq == 1:
            when = micros_to_iso(first.pruned_at)[:10]
            parts.append(f"events 1..{first.last_seq} pruned by retention on {when}")
        holes = [r for r in self.pruned if r.first_seq != 1]
        if holes:
            count = sum(r.last_seq - r.first_seq + 1 for r in holes)
            parts.append(f"{count} more in {len(holes)} pruned run(s) after it")
        return "; ".join(parts)


def _broken(checked: int, seq: int | None, reason: str) -> VerifyResult:
    return VerifyResult(checked, False, seq, reason)


def verify_chain(
    store: Store,
    org_id: int,
    progress: Callable[[int], None] | None = None,
    trusted: Checkpoint | None = None,
) -> VerifyResult:
    """Walk the organization's events in seq order: no holes, each link and hash intact;
    then their Merkle tree: the same as the stored one, with the root of the latest
    checkpoint (whose signature must verify with the store's keys) and of `trusted`, a
    checkpoint the caller kept from before."""
    return verify_history(Reader.whole(store, org_id), progress, trusted)


def verify_history(
    reader: Reader,
    progress: Callable[[int], None] | None = None,
    trusted: Checkpoint | None = None,
) -> VerifyResult:
    """verify_chain through a reader of the organization's whole history (the web UI's
    integrity badge runs it so). Events that retention removed are taken from its pruned
    runs: the chain resumes from each run's last hash, and the tree from the stored
    subtrees over it (the leaf of its last event among them)."""
    latest = reader.latest_checkpoint()
    if latest is not None:
        try:
            _opened(reader, latest)
        except NoteError as exc:
            return _broken(0, None, f"the latest checkpoint does not verify: {exc}")
    marks = {latest.tree_size if latest else 0, trusted.size if trusted else 0}
    walk = _Walk(reader, TreeBuilder(keep=True), marks, deque(reader.pruned_ranges()))
    query = EventQuery(org_id=reader.org_id, ascending=True, limit=1000)
    for chunk in reader.iter_stored(query, 2000):
        for event in chunk:
            problem = walk.skip_pruned(event.seq - 1)
            if problem:
                return _broken(walk.checked, None, problem)
            if event.seq != walk.position + 1:
                return _broken(
                    walk.checked, walk.position + 1, f"seq {walk.position + 1} is missing"
                )
            if event.prev_hash != walk.expected_prev:
                return _broken(walk.checked, event.seq, "prev_hash does not link")
            try:
                digest = hashlib.sha256(canonical_bytes(stored_body(event))).hexdigest()
            except UnreadableEvent as exc:
                return _broken(walk.checked, event.seq, str(exc))
            if digest != event.hash:
                return _broken(walk.checked, event.seq, _mismatch(event))
            walk.leaf(leaf_hash(bytes.fromhex(digest)))
            walk.expected_prev, walk.position = event.hash, event.seq
            walk.checked += 1
            if progress and walk.checked % 10_000 == 0:
                progress(walk.checked)
        altered = _altered_node(reader, walk.tree)
        if altered:
            return _broken(walk.checked, None, altered)
    org = reader.org_record()
    problem = walk.skip_pruned(org.last_seq) or _altered_node(reader, walk.tree)
    if problem:
        return _broken(walk.checked, None, problem)
    if org.last_seq != walk.position or org.last_hash != walk.expected_prev:
        return _broken(walk.checked, walk.position + 1, "head does not match the last event")
    problem = _tree_problem(reader, walk.tree, walk.roots, latest, trusted)
    if problem:
        return _broken(walk.checked, None, problem)
    return VerifyResult(
        walk.checked,
        True,
        checkpoint=latest.tree_size if latest else None,
        pruned=tuple(walk.pruned),
    )


@dataclass
class _Walk:
    """Where verify_history stands: the last seq accounted for (checked or pruned), the
    hash the next event must link to, the tree so far, and the roots at marked sizes."""

    reader: Reader
    tree: TreeBuilder
    marks: set[int]
    ranges: deque[PrunedRange]
    position: int = 0
    checked: int = 0
    expected_prev: str = GENESIS_HASH
    roots: dict[int, bytes] = field(default_factory=dict)
    pruned: list[PrunedRange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.roots[0] = self.tree.root()

    def leaf(self, digest: bytes) -> None:
        self.tree.append(digest)
        if self.tree.size in self.marks:
            self.roots[self.tree.size] = self.tree.root()

    def skip_pruned(self, through: int) -> str:
        """Account for the pruned runs that start right after the position, up to seq
        `through`: their subtrees into the tree, their last hash as the link (""), or what
        does not hold."""
        while self.ranges and self.ranges[0].first_seq == self.position + 1:
            run = self.ranges[0]
            if run.last_seq > through:
                return (
                    f"events {run.first_seq} to {run.last_seq} are recorded as pruned, but "
                    f"event {through + 1} is there or the head is {through}"
                )
            self.ranges.popleft()
            cuts = sorted(
                {run.first_seq - 1, run.last_seq}
                | {m for m in self.marks if run.first_seq - 1 < m < run.last_seq}
            )
            ids = [i for a, b in pairwise(cuts) for i in range_ids(a, b)]
            nodes = self.reader.tree_nodes([*ids, (0, run.last_seq - 1)])
            span = f"pruned events {run.first_seq} to {run.last_seq}"
            if any(i not in nodes for i in ids):
                return f"the stored Merkle tree lacks the subtrees over the {span}"
            if nodes.get((0, run.last_seq - 1)) != leaf_hash(bytes.fromhex(run.last_hash)):
                return f"the hash recorded for the last of the {span} is not the tree's leaf"
            for level, index in ids:
                self.tree.append_subtree(level, nodes[(level, index)])
                if self.tree.size in self.marks:
                    self.roots[self.tree.size] = self.tree.root()
            self.expected_prev, self.position = run.last_hash, run.last_seq
            self.pruned.append(run)
        return ""


def _mismatch(event: StoredEvent) -> str:
    """What to say of an event whose content does not match its hash."""
    if not event.personal:
        return "content does not match its hash"
    pointers = ", ".join(orjson.loads(event.personal))
    return (
        "content does not match its hash: its content, or the salt or commitment of one "
        f"of its personal values ({pointers}), was altered"
    )


def _altered_node(reader: Reader, tree: TreeBuilder) -> str:
    """The stored nodes of what `tree` completed since the last call, held to those it
    computed: a proof is served from them."""
    made, tree.made = tree.made, []
    stored = reader.tree_nodes([(level, index) for level, index, _ in made])
    for level, index, digest in made:
        if stored.get((level, index)) != digest:
            span = f"[{index << level}, {(index + 1) << level})"
            what = "lacks" if (level, index) not in stored else "has another hash for"
            return (
                f"the stored Merkle tree {what} the subtree of leaves {span}: "
                "it does not match the events (proofs from it would fail)"
            )
    return ""


def _opened(reader: Reader, record: CheckpointRecord) -> Checkpoint:
    """The checkpoint of a record, its signature verified with the store's keys."""
    text, _ = split(record.note)
    origin = text.split("\n", 1)[0]
    keys = [VerifierKey(origin, k.public_key) for k in reader.signing_keys()]
    return open_checkpoint(record.note, keys)


def _tree_problem(
    reader: Reader,
    tree: TreeBuilder,
    roots: dict[int, bytes],
    latest: CheckpointRecord | None,
    trusted: Checkpoint | None,
) -> str:
    """What is wrong with the Merkle tree of the events (nothing: "")."""
    for name, checkpoint in (("the latest checkpoint", latest), ("the checkpoint given", trusted)):
        if checkpoint is None:
            continue
        size = checkpoint.tree_size if isinstance(checkpoint, CheckpointRecord) else checkpoint.size
        root = checkpoint.root_hash if isinstance(checkpoint, CheckpointRecord) else checkpoint.root
        if size > tree.size:
            return (
                f"the history holds {tree.size} events but {name} covers {size}: "
                "events were removed since it was signed"
            )
        if roots[size] != root:
            return f"the first {size} events are not those {name} signed: the history was rewritten"
    try:
        stored = reader.tree_root(tree.size)
    except KeyError as exc:
        return f"the stored Merkle tree is incomplete: {exc.args[0]}"
    if stored != tree.root():
        return "the stored Merkle tree does not match the events (proofs from it would fail)"
    return ""
