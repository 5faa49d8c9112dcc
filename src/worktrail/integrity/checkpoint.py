"""Checkpoints (c2sp.org/tlog-checkpoint): a signed note whose text is the log's origin,
its tree size and the base64 root hash of its RFC 9162 Merkle tree at that size.

    worktrail/audit.example.com/org/7
    1234
    pD8bRBdGE3CYv4SeUZ6M2bq8Va0VU2VKRqoWAd2DqSs=

    — worktrail/audit.example.com/org/7 ASd3qDPoWbd/…

worktrail issues no extension lines. Each organization's events are one log, and its
origin (which is also the key name its checkpoints are signed under) names the server and
the organization.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .merkle import HASH_SIZE
from .note import NoteError, VerifierKey, check_key_name, open_note, sign


def origin(host: str, org_id: int) -> str:
    """The origin of an organization's log on a server: worktrail/<host>/org/<id>."""
    return check_key_name(f"worktrail/{host}/org/{org_id}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    def sign(self, private_key: Ed25519PrivateKey) -> str:
        """The signed note of this checkpoint, under its origin as the key name."""
        return sign(self.text(), self.origin, private_key)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """A checkpoint's note text (without signatures), checked line by line."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("a checkpoint is an origin, a tree size and a root hash, one a line")
        name, size, root = lines[:3]
        if not size.isascii() or not size.isdigit() or (size.startswith("0") and size != "0"):
            raise NoteError(f"a checkpoint's tree size is a decimal number, got {size[:30]!r}")
        try:
            digest = base64.b64decode(root, validate=True)
        except binascii.Error:
            raise NoteError("a checkpoint's root hash is base64")
        if len(digest) != HASH_SIZE:
            raise NoteError(f"a checkpoint's root hash is {HASH_SIZE} bytes")
        return cls(name, int(size), digest)


def open_checkpoint(note: str, keys: Iterable[VerifierKey]) -> Checkpoint:
    """The checkpoint of a signed note, once a signature by one of `keys` under the
    checkpoint's own origin has verified; NoteError otherwise."""
    text, good = open_note(note, keys)
    checkpoint = Checkpoint.parse(text)
    if not any(k.name == checkpoint.origin for k in good):
        raise NoteError(f"no known key of {checkpoint.origin} signed this checkpoint")
    return checkpoint
