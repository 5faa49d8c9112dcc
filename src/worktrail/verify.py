"""Check an organization's stored history: recompute its hash chain, and its Merkle tree
against the latest checkpoint, and report the first thing that does not hold."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from .chain import GENESIS_HASH, canonical_bytes
from .integrity.checkpoint import Checkpoint, open_checkpoint
from .integrity.events import UnreadableEvent, stored_body
from .integrity.merkle import TreeBuilder, leaf_hash
from .integrity.note import NoteError, VerifierKey, split
from .model import EventQuery, StoredEvent
from .query import Reader
from .store import CheckpointRecord, Store


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    ok: bool
    first_bad_seq: int | None = None
    reason: str = ""
    checkpoint: int | None = None  # the tree size of the checkpoint the tree was held to


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
    integrity badge runs it so)."""
    latest = reader.latest_checkpoint()
    if latest is not None:
        try:
            _opened(reader, latest)
        except NoteError as exc:
            return _broken(0, None, f"the latest checkpoint does not verify: {exc}")
    marks = {latest.tree_size if latest else 0, trusted.size if trusted else 0}
    tree = TreeBuilder(keep=True)
    roots = {0: tree.root()}  # the root at each size a checkpoint names
    expected_prev = GENESIS_HASH
    checked = 0
    query = EventQuery(org_id=reader.org_id, ascending=True, limit=1000)
    for chunk in reader.iter_stored(query, 2000):
        for event in chunk:
            if event.seq != checked + 1:
                return _broken(checked, checked + 1, f"seq {checked + 1} is missing")
            if event.prev_hash != expected_prev:
                return _broken(checked, event.seq, "prev_hash does not link")
            try:
                digest = hashlib.sha256(canonical_bytes(stored_body(event))).hexdigest()
            except UnreadableEvent as exc:
                return _broken(checked, event.seq, str(exc))
            if digest != event.hash:
                return _broken(checked, event.seq, _mismatch(event))
            tree.append(leaf_hash(bytes.fromhex(digest)))
            if tree.size in marks:
                roots[tree.size] = tree.root()
            expected_prev = event.hash
            checked += 1
            if progress and checked % 10_000 == 0:
                progress(checked)
        altered = _altered_node(reader, tree)
        if altered:
            return _broken(checked, None, altered)
    org = reader.org_record()
    if org.last_seq != checked or org.last_hash != expected_prev:
        return _broken(checked, checked + 1, "head does not match the last event")
    problem = _tree_problem(reader, tree, roots, latest, trusted)
    if problem:
        return _broken(checked, None, problem)
    return VerifyResult(checked, True, checkpoint=latest.tree_size if latest else None)


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
