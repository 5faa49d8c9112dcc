"""The hot loop of bundle verification, over one byte range of a bundle's event lines
(a process of its own each, for large bundles): every event's hash recomputed from its
canonical body, its seq and prev_hash read, the links between consecutive events checked,
and the leaves of each run of consecutive events folded into their compact range.

The file is mapped, not read: each line is an offset range of the mapping. Seq and
prev_hash are read from the end of the canonical body, where sorted keys put the top-level
ones last (`…,"prev_hash":"…","recorded_at":…,"scopes":[…],"seq":N,"subject":[…]}`): no
key of the nested documents can follow them there."""

from __future__ import annotations

import hashlib
import mmap
from binascii import hexlify
from dataclasses import dataclass, field

import orjson

from .commitments import COMMITMENT, BadCommitment, commitment, unb64url, value_at
from .multiproof import compact_range

HASH_START, HASH_END, BODY_START = 9, 73, 83  # an event line's parts
PREFIX = b'{"hash":"'
INFIX = b'","event":'
SEQ_KEY = b',"seq":'
PREV_KEY = b'"prev_hash":"'
GENESIS = b"0" * 64  # the prev_hash of seq 1
DISCLOSURE = b'{"personal":'  # a line of an event's personal values, after the event


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


class _Broken(Exception):
    pass


@dataclass
class _State:
    """Where the scan stands between blocks."""

    last_seq: int = 0
    last_hash: bytes = GENESIS
    run_first: int = 0  # the first leaf index of the run of consecutive events so far
    run: list[bytes] = field(default_factory=list)  # its leaves


def scan_range(path: str, begin: int, end: int) -> Chunk:
    """Check the event lines in bytes [begin, end) of the bundle at `path`."""
    chunk = Chunk()
    state = _State()
    if end > begin:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            try:
                _scan(mapped, begin, end, chunk, state)
            except _Broken as exc:
                chunk.error = str(exc)
                return chunk
    if state.run:
        chunk.known += compact_range(state.run_first, state.run)
    chunk.last_seq, chunk.last_hash = state.last_seq, state.last_hash
    return chunk


def _scan(block: mmap.mmap, pos: int, stop: int, chunk: Chunk, state: _State) -> None:
    view = memoryview(block)
    try:
        _scan_lines(block, view, pos, stop, chunk, state)
    finally:
        view.release()  # the mapping closes only without views on it


def _scan_lines(
    block: mmap.mmap, view: memoryview, pos: int, stop: int, chunk: Chunk, state: _State
) -> None:
    sha256 = hashlib.sha256
    leaf = hashlib.sha256(b"\x00").copy  # cheaper than a new hash for each leaf
    last_seq, last_hash, run_first, run = (
        state.last_seq,
        state.last_hash,
        state.run_first,
        state.run,
    )
    count = chunk.count
    body: tuple[int, int] | None = None  # where the last event line's body is
    while pos < stop:
        eol = block.find(b"\n", pos, stop)
        if eol < 0:
            eol = stop  # the last line of the range, cut short of its newline
        if block[pos : pos + 12] == DISCLOSURE:
            if body is None:
                raise _Broken(f"after event seq {last_seq}: personal values without their event")
            check_disclosure(view[body[0] : body[1]], view[pos:eol], last_seq)
            pos = eol + 1
            continue
        if (
            block[pos : pos + HASH_START] != PREFIX
            or block[pos + HASH_END : pos + BODY_START] != INFIX
            or block[eol - 1] != 125  # }
        ):
            raise _Broken(f"after event seq {last_seq}: a line that is not an event line")
        digest = sha256(view[pos + BODY_START : eol - 1]).digest()
        claimed = block[pos + HASH_START : pos + HASH_END]
        at = block.rfind(SEQ_KEY, pos + BODY_START, eol) + 7
        prev = block.rfind(PREV_KEY, pos + BODY_START, eol) + 13
        try:
            seq = int(block[at : block.find(b",", at, eol)])
        except ValueError:
            raise _Broken(f"after event seq {last_seq}: an event without a seq")
        if hexlify(digest) != claimed:
            raise _Broken(f"event seq {seq}: its content does not match its hash")
        if not count:
            chunk.first_seq, chunk.first_prev = seq, block[prev : prev + 64]
        elif seq <= last_seq:
            raise _Broken(f"event seq {seq} comes after seq {last_seq}: out of order")
        follows = seq == last_seq + 1
        if follows and (count or seq == 1) and block[prev : prev + 64] != last_hash:
            raise _Broken(f"event seq {seq}: its prev_hash is not the hash of seq {last_seq}")
        if not (count and follows):  # the first event, or a gap: a new run of events
            if run:
                chunk.known += compact_range(run_first, run)
            run_first, run = seq - 1, []
        hashed = leaf()
        hashed.update(digest)
        run.append(hashed.digest())
        count += 1
        last_seq, last_hash = seq, claimed
        body = (pos + BODY_START, eol - 1)
        pos = eol + 1
    chunk.count = count
    state.last_seq, state.last_hash, state.run_first, state.run = (
        last_seq,
        last_hash,
        run_first,
        run,
    )


def check_disclosure(body: memoryview, line: memoryview, seq: int) -> None:
    """A line of personal values, `{"personal": {pointer: [value, salt], …}}`, held to the
    commitments of its event's hashed body: each value with its salt must make the
    commitment at its pointer."""
    try:
        hashed = orjson.loads(body)
        for pointer, (value, salt) in orjson.loads(line)["personal"].items():
            if not isinstance(salt, str):
                raise BadCommitment(f"{pointer} is not a [value, salt] pair")
            found = value_at(hashed, pointer)
            if type(found) is not dict or found.get(COMMITMENT) != commitment(
                unb64url(salt), value
            ):
                raise _Broken(
                    f"event seq {seq}: its personal value at {pointer} is not the one "
                    "its hash covers"
                )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise _Broken(f"event seq {seq}: its personal values are not readable: {exc}")
