"""The hot loop of bundle verification, over one byte range of a bundle's event lines
(a process of its own each, for large bundles): every event's hash recomputed from its
canonical body, its seq and prev_hash read, the links between consecutive events checked,
and the leaves of each run of consecutive events folded into their compact range.

It reads seq and prev_hash from the end of the canonical body, where sorted keys put the
top-level ones last (`…,"prev_hash":"…","recorded_at":…,"scopes":[…],"seq":N,"subject":[…]}`):
no key of the nested documents can follow them there."""

from __future__ import annotations

import hashlib
from binascii import hexlify
from dataclasses import dataclass, field

from .multiproof import compact_range

BLOCK = 8 << 20  # bytes read at a time
HASH_START, HASH_END, BODY_START = 9, 73, 83
PREFIX = b'{"hash":"'
INFIX = b'","event":'
SEQ_KEY = b',"seq":'
PREV_KEY = b'"prev_hash":"'
GENESIS = b"0" * 64  # the prev_hash of seq 1


@dataclass
class Chunk:
    """What one byte range of event lines holds; `error` names the first event that broke."""

    count: int = 0
    first_seq: int = 0
    first_prev: bytes = b""
    last_seq: int = 0
    last_hash: bytes = b""
    known: list[tuple[int, int, bytes]] = field(default_factory=list)
    error: str = ""


def _lines(path: str, begin: int, end: int):  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        f.seek(begin)
        rest = b""
        left = end - begin
        while left > 0:
            block = f.read(min(BLOCK, left))
            if not block:
                break
            left -= len(block)
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            yield lines
        if rest:
            yield [rest]


def scan_range(path: str, begin: int, end: int) -> Chunk:
    """Check the event lines in bytes [begin, end) of the bundle at `path`."""
    sha256 = hashlib.sha256
    chunk = Chunk()
    run_first, run = 0, list[bytes]()
    last_seq, last_hash = 0, GENESIS
    for lines in _lines(path, begin, end):
        for line in lines:
            if (
                line[:HASH_START] != PREFIX
                or line[HASH_END:BODY_START] != INFIX
                or line[-1:] != b"}"
            ):
                chunk.error = f"after event seq {last_seq}: a line that is not an event line"
                return chunk
            digest = sha256(memoryview(line)[BODY_START:-1]).digest()
            claimed = line[HASH_START:HASH_END]
            try:  # _seq_and_prev, inline: this runs for every event
                at = line.rfind(SEQ_KEY, BODY_START) + 7
                seq = int(line[at : line.index(b",", at)])
                at = line.rfind(PREV_KEY, BODY_START) + 13
                prev = line[at : at + 64]
            except ValueError:
                chunk.error = f"after event seq {last_seq}: an event without a seq"
                return chunk
            if hexlify(digest) != claimed:
                chunk.error = f"event seq {seq}: its content does not match its hash"
                return chunk
            if chunk.count and seq <= last_seq:
                chunk.error = f"event seq {seq} comes after seq {last_seq}: out of order"
                return chunk
            if seq == last_seq + 1 and (chunk.count or seq == 1):
                if prev != last_hash:
                    chunk.error = (
                        f"event seq {seq}: its prev_hash is not the hash of seq {last_seq}"
                    )
                    return chunk
            elif run:  # a gap: the run of consecutive events so far is complete
                chunk.known += compact_range(run_first, run)
                run = []
            if not run:
                run_first = seq - 1
            if not chunk.count:
                chunk.first_seq, chunk.first_prev = seq, prev
            run.append(sha256(b"\x00" + digest).digest())
            chunk.count += 1
            last_seq, last_hash = seq, claimed
    if run:
        chunk.known += compact_range(run_first, run)
    chunk.last_seq, chunk.last_hash = last_seq, last_hash
    return chunk
