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

import base64
import hashlib
import os
from typing import Any

from ..chain import canonical_bytes
from ..model.personal import ERASED, IDENTITY_FIELDS, PERSONAL_FIELDS

COMMITMENT = "$c"
SALT_BYTES = 32

# {pointer: salt (base64url) | {"$c": commitment}}
Personal = dict[str, Any]


class BadCommitment(ValueError):
    """A `personal` map that cannot be applied to its event: the message names the pointer."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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


def seal(values: list[tuple[str, str]]) -> tuple[Personal, dict[str, Any]]:
    """A fresh salt for each (pointer, value): the `personal` map to keep, and the
    commitment objects to hash in place of the values."""
    raw = os.urandom(SALT_BYTES * len(values))  # one system call for the event's salts
    personal: Personal = {}
    commits: dict[str, Any] = {}
    for i, (pointer, value) in enumerate(values):
        salt = raw[i * SALT_BYTES : (i + 1) * SALT_BYTES]
        personal[pointer] = b64url(salt)
        commits[pointer] = {COMMITMENT: commitment(salt, value)}
    return personal, commits


def _parts(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        raise BadCommitment(f"{pointer!r} is not a JSON pointer")
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def _step(node: Any, part: str, pointer: str) -> Any:
    if isinstance(node, dict) and part in node:
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
