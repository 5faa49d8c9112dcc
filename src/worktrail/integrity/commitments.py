"""Salted commitments: how personal values (model/personal.py) enter an event's hash, so
that erasing one leaves the hash, the chain and the Merkle tree as they were.

In the hashed body of an event of schema version 2, each personal value `v` is replaced
by `{"$c": base64url(SHA-256(salt ‖ canonical_json(v)))}` (no padding), with a random
32-byte salt of its own. The event's `personal` map names each one by its JSON pointer
(RFC 6901) into the event: its value is the salt (base64url) while the value is readable,
or the commitment object itself once the value was erased (the event then shows
"[erased]" there). Erasing deletes the value and the salt; the commitment stays.
"""

from __future__ import annotations

import hashlib
import os
from binascii import a2b_base64, b2a_base64
from functools import lru_cache
from typing import Any

from ..chain import canonical_bytes
from ..model.personal import ERASED, IDENTITY_FIELDS, PERSONAL_FIELDS

COMMITMENT = "$c"
SALT_BYTES = 32

# {pointer: salt (base64url) | {"$c": commitment}}
Personal = dict[str, Any]


class BadCommitment(ValueError):
    """A `personal` map that cannot be applied to its event: the message names the pointer."""


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url(raw: bytes) -> str:
    """base64url without padding (RFC 4648 §5)."""
    return b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def unb64url(text: str) -> bytes:
    """The bytes of base64url text, padded or not; ValueError if it is not base64url."""
    padded = text.encode().translate(_FROM_URLSAFE) + b"=" * (-len(text) % 4)
    return a2b_base64(padded, strict_mode=True)


def commitment(salt: bytes, value: Any) -> str:
    """base64url(SHA-256(salt ‖ canonical JSON of value)), without padding."""
    return b64url(hashlib.sha256(salt + canonical_bytes(value)).digest())


def personal_values(
    subject_type: str,
    actor: dict[str, Any] | None,
    changes: list[dict[str, Any]],
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> list[tuple[str, str]]:
    """(pointer, value) of every personal value of an event, in a fixed order."""
    found: list[tuple[str, str]] = []
    if actor:
        for key in IDENTITY_FIELDS:
            value = actor.get(key)
            if isinstance(value, str):
                found.append((f"/actor/{key}", value))
    fields = PERSONAL_FIELDS.get(subject_type)
    if not fields:
        return found
    for i, change in enumerate(changes):
        if change.get("field") in fields:
            for key in ("old", "new"):
                value = change.get(key)
                if isinstance(value, str):
                    found.append((f"/changes/{i}/{key}", value))
    for part, state in (("before", before), ("after", after)):
        if state:
            for name in fields:
                value = state.get(name)
                if isinstance(value, str):
                    found.append((f"/{part}/{name}", value))
    return found


class Salts:
    """Fresh 32-byte salts, drawn from the system's random source many at a time (one
    system call per 128 salts instead of one per event); one pool per write transaction,
    never shared between threads."""

    def __init__(self) -> None:
        self._buffer = b""
        self._at = 0

    def take(self) -> bytes:
        at = self._at
        if at >= len(self._buffer):
            self._buffer, at = os.urandom(SALT_BYTES * 128), 0
        self._at = at + SALT_BYTES
        return self._buffer[at : at + SALT_BYTES]


def seal(
    subject_type: str,
    actor: dict[str, Any] | None,
    changes: list[dict[str, Any]],
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    salts: Salts,
) -> tuple[Personal, tuple[Any, Any, Any, Any]]:
    """Commit a new event's personal values (those personal_values finds), each with a
    salt of its own: the `personal` map to keep, and the actor, changes, before and after
    to hash, with the commitments in place of the values (the parts without personal
    values are the event's own, not copies)."""
    personal: Personal = {}

    def commit(pointer: str, value: str) -> dict[str, str]:
        salt = salts.take()
        personal[pointer] = b64url(salt)
        return {COMMITMENT: commitment(salt, value)}

    if actor:
        actor = dict(actor)
        for key in IDENTITY_FIELDS:
            value = actor.get(key)
            if isinstance(value, str):
                actor[key] = commit(f"/actor/{key}", value)
    fields = PERSONAL_FIELDS.get(subject_type)
    if fields:
        hashed_changes = changes
        for i, change in enumerate(changes):
            if change.get("field") in fields:
                change = dict(change)
                for key in ("old", "new"):
                    value = change.get(key)
                    if isinstance(value, str):
                        change[key] = commit(f"/changes/{i}/{key}", value)
                if hashed_changes is changes:
                    hashed_changes = list(changes)
                hashed_changes[i] = change
        changes = hashed_changes
        states = []
        for part, state in (("before", before), ("after", after)):
            if state and any(isinstance(state.get(name), str) for name in fields):
                state = dict(state)
                for name in fields:
                    value = state.get(name)
                    if isinstance(value, str):
                        state[name] = commit(f"/{part}/{name}", value)
            states.append(state)
        before, after = states
    return personal, (actor, changes, before, after)


@lru_cache(maxsize=1024)
def _parts(pointer: str) -> tuple[str, ...]:
    """The reference tokens of a JSON pointer (the same few pointers recur event after
    event: /actor/name, /after/notes, …)."""
    if not pointer.startswith("/"):
        raise BadCommitment(f"{pointer!r} is not a JSON pointer")
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/"))


def _step(node: Any, part: str, pointer: str) -> Any:
    if type(node) is dict and part in node:
        return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise BadCommitment(f"{pointer} names no value of the event")


def value_at(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in _parts(pointer):
        node = _step(node, part, pointer)
    return node


def substitute(document: dict[str, Any], replacements: dict[str, Any]) -> dict[str, Any]:
    """A copy of `document` with the value at each pointer replaced; what is not on the
    way to a replaced value is shared, not copied."""
    out = dict(document)
    for pointer, new in replacements.items():
        parts = _parts(pointer)
        node: Any = out
        for part in parts[:-1]:
            child = _step(node, part, pointer)
            child = dict(child) if isinstance(child, dict) else list(child)
            if isinstance(node, dict):
                node[part] = child
            else:
                node[int(part)] = child
            node = child
        _step(node, parts[-1], pointer)
        if isinstance(node, dict):
            node[parts[-1]] = new
        else:
            node[int(parts[-1])] = new
    return out


def commitments_of(document: dict[str, Any], personal: Personal) -> dict[str, Any]:
    """The commitment object for each pointer of `personal`: computed from the value in
    `document` and its salt, or the one kept for an erased value."""
    commits: dict[str, Any] = {}
    for pointer, entry in personal.items():
        if isinstance(entry, str):
            try:
                salt = unb64url(entry)
            except ValueError:
                raise BadCommitment(f"the salt of {pointer} is not base64url") from None
            commits[pointer] = {COMMITMENT: commitment(salt, value_at(document, pointer))}
        elif isinstance(entry, dict) and set(entry) == {COMMITMENT}:
            commits[pointer] = entry
        else:
            raise BadCommitment(f"the personal entry of {pointer} is neither a salt nor a $c")
    return commits


def committed(document: dict[str, Any], personal: Personal | None) -> dict[str, Any]:
    """`document` as its event's hash covers it: each personal value replaced by its
    commitment (the document itself when there are none)."""
    if not personal:
        return document
    if not isinstance(personal, dict):
        raise BadCommitment("the personal map is not a JSON object")
    return substitute(document, commitments_of(document, personal))


def redact(
    document: dict[str, Any], personal: Personal, pointers: list[str]
) -> tuple[dict[str, Any], Personal]:
    """Erase the values at `pointers`: each reads ERASED in the document, and its salt
    gives way to its commitment, so the event's hash stays what it was."""
    commits = {
        pointer: {COMMITMENT: commitment(unb64url(personal[pointer]), value_at(document, pointer))}
        for pointer in pointers
    }
    return substitute(document, dict.fromkeys(commits, ERASED)), {**personal, **commits}
