"""Bundles: events with the proof that they are in an organization's signed log, in one
file that is checked with nothing but the file and the log's verifier key
(docs/integrity.md specifies the format).

    {"worktrail_bundle": 1, "origin": "...", "tree_size": N, "checkpoint": "<signed note>"}
    {"hash":"<64 hex>","event":<the event's hashed body, canonical JSON>}   one per event,
    {"personal":{"<pointer>":["<value>","<salt>"],...}}                     by seq, each with
    ...                                                                      its readable
                                                                             personal values
    {"events": K, "nodes": [[level, index, "<base64>"], ...]}

The event lines are written so that the canonical bytes whose SHA-256 is the event's hash
are a slice of the line: line[83:-1]. The last line holds the hashes of the subtrees that
hold no bundled event (none for a whole history): with the events' leaves they make the
checkpoint's root (multiproof.py).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from .checkpoint import Checkpoint, open_checkpoint
from .commitments import value_at
from .merkle import NodeId, ProofError
from .multiproof import root_from_known
from .note import NoteError, VerifierKey
from .scan import DISCLOSURE, INFIX, PREFIX, Chunk, scan_range

FORMAT_VERSION = 1


class BundleError(ValueError):
    """A bundle that does not verify; the message says what broke, naming the event."""


def header(checkpoint: Checkpoint, note: str) -> bytes:
    body = {
        "worktrail_bundle": FORMAT_VERSION,
        "origin": checkpoint.origin,
        "tree_size": checkpoint.size,
        "checkpoint": note,
    }
    return orjson.dumps(body) + b"\n"


def event_line(event_hash: str, canonical: bytes) -> bytes:
    """The line of one event: its hash, and its canonical hashed body as a slice."""
    return PREFIX + event_hash.encode() + INFIX + canonical + b"}\n"


def disclosure_line(document: dict[str, Any], personal: dict[str, Any] | None) -> bytes:
    """The line after an event's that gives its personal values that are not erased, each
    with its salt, so that a reader of the bundle can read them and check them against
    the commitments the hash covers (nothing when there are none)."""
    if not personal:
        return b""
    pairs = {
        pointer: [value_at(document, pointer), salt]
        for pointer, salt in personal.items()
        if isinstance(salt, str)
    }
    return orjson.dumps({"personal": pairs}) + b"\n" if pairs else b""


def trailer(count: int, nodes: dict[NodeId, bytes]) -> bytes:
    listed = [[lv, ix, base64.b64encode(nodes[(lv, ix)]).decode()] for lv, ix in sorted(nodes)]
    return orjson.dumps({"events": count, "nodes": listed}) + b"\n"


# -- verifying ---------------------------------------------------------------------------------


@dataclass
class BundleReport:
    origin: str
    tree_size: int
    events: int
    first_seq: int | None
    last_seq: int | None
    keys: list[str] = field(default_factory=list)


def _read_ends(path: Path) -> tuple[dict[str, Any], int, dict[str, Any], int]:
    """The header and trailer objects, and where the event lines begin and end."""
    with path.open("rb") as f:
        first = f.readline(1 << 20)
        size = f.seek(0, os.SEEK_END)
        tail_at = max(0, size - (64 << 20))
        f.seek(tail_at)
        tail = f.read()
    if not first.endswith(b"\n") or not tail.endswith(b"\n"):
        raise BundleError("not a bundle: its lines must end in newlines")
    cut = tail.rfind(b"\n", 0, len(tail) - 1) + 1
    if cut == 0 and tail_at:
        raise BundleError("the bundle's last line is too long")
    try:
        head = orjson.loads(first)
        last = orjson.loads(tail[cut:])
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"not a bundle: {exc}")
    if not isinstance(head, dict) or head.get("worktrail_bundle") != FORMAT_VERSION:
        raise BundleError(f"not a bundle of format {FORMAT_VERSION}: the first line says otherwise")
    if not isinstance(last, dict) or "nodes" not in last:
        raise BundleError("the bundle is cut short: its last line holds no nodes")
    return head, len(first), last, tail_at + cut


def _given(trail: dict[str, Any]) -> dict[NodeId, bytes]:
    try:
        return {
            (int(lv), int(ix)): base64.b64decode(h, validate=True) for lv, ix, h in trail["nodes"]
        }
    except (TypeError, ValueError, binascii.Error):
        raise BundleError("the bundle's nodes are not [level, index, base64 hash] triples")


def _spans(path: Path, begin: int, end: int, jobs: int) -> list[tuple[int, int]]:
    """`jobs` byte ranges of [begin, end), each made of whole lines, an event's personal
    values in the range of the event."""
    cuts = [begin]
    with path.open("rb") as f:
        for j in range(1, jobs):
            f.seek(max(begin + (end - begin) * j // jobs, cuts[-1]))
            f.readline()
            at = f.tell()
            if f.read(len(DISCLOSURE)) == DISCLOSURE:  # it stays with its event
                f.seek(at)
                f.readline()
            else:
                f.seek(at)
            cuts.append(min(f.tell(), end))
    cuts.append(end)
    return [(a, b) for a, b in pairwise(cuts) if b > a]


def _scan_all(path: Path, spans: Sequence[tuple[int, int]], jobs: int) -> list[Chunk]:
    if jobs <= 1 or len(spans) <= 1:
        return [scan_range(str(path), a, b) for a, b in spans]
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    # a fork starts in milliseconds where a fresh interpreter takes half a second to import
    # worktrail; forking is safe only while this process runs no other thread
    single = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if single else "spawn")
    with ProcessPoolExecutor(len(spans), mp_context=context) as pool:
        futures = [pool.submit(scan_range, str(path), a, b) for a, b in spans]
        return [f.result() for f in futures]


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# below this many bytes of events, starting processes costs more than it saves
PARALLEL_BYTES = 32 << 20


def verify_bundle(path: Path, keys: Iterable[VerifierKey], jobs: int | None = None) -> BundleReport:
    """Check a bundle with the log's verifier keys: the checkpoint's signature, each event's
    hash recomputed from its content, the chain links between consecutive events, and that
    the events' leaves with the bundle's subtree hashes make the checkpoint's root.
    BundleError naming what broke; `jobs` processes share the events (default: one per
    processor, for bundles large enough)."""
    head, begin, trail, end = _read_ends(path)
    try:
        checkpoint = open_checkpoint(str(head.get("checkpoint")), keys)
    except NoteError as exc:
        raise BundleError(f"the bundle's checkpoint does not verify: {exc}")
    if head.get("origin") != checkpoint.origin or head.get("tree_size") != checkpoint.size:
        raise BundleError("the bundle's first line names another log or size than its checkpoint")
    jobs = jobs or (default_jobs() if end - begin >= PARALLEL_BYTES else 1)
    chunks = _scan_all(path, _spans(path, begin, end, jobs), jobs)
    report = _join(chunks, checkpoint)
    if trail.get("events") != report.events:
        raise BundleError(
            f"the bundle holds {report.events} events, its last line says {trail.get('events')}"
        )
    try:
        root = root_from_known(checkpoint.size, (n for c in chunks for n in c.known), _given(trail))
    except ProofError as exc:
        raise BundleError(f"the bundle does not prove its events: {exc}")
    if root != checkpoint.root:
        raise BundleError(
            "the events and subtree hashes of the bundle do not make the checkpoint's root: "
            "an event or a hash was altered"
        )
    return report


def _join(chunks: Sequence[Chunk], checkpoint: Checkpoint) -> BundleReport:
    """The chunks' own errors, and what holds across them: seqs ascending within the tree,
    a link between consecutive events at each cut."""
    report = BundleReport(checkpoint.origin, checkpoint.size, 0, None, None)
    last_seq, last_hash = 0, b""
    for chunk in chunks:
        if chunk.first_seq:  # where it starts: after where the chunk before ended
            if chunk.first_seq <= last_seq:
                raise BundleError(
                    f"event seq {chunk.first_seq} comes after seq {last_seq}: out of order"
                )
            if last_seq and chunk.first_seq == last_seq + 1 and chunk.first_prev != last_hash:
                raise BundleError(
                    f"event seq {chunk.first_seq}: its prev_hash is not the hash of seq {last_seq}"
                )
        if chunk.error:
            raise BundleError(chunk.error)
        if not chunk.count:
            continue
        report.events += chunk.count
        report.first_seq = report.first_seq or chunk.first_seq
        last_seq, last_hash = chunk.last_seq, chunk.last_hash
    if last_seq > checkpoint.size:
        raise BundleError(
            f"event seq {last_seq} is beyond the checkpoint's tree size {checkpoint.size}"
        )
    report.last_seq = last_seq or None
    return report
