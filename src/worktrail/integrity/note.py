"""Signed notes (c2sp.org/signed-note) with Ed25519 keys, and their verifier keys.

A note is text ending in a newline, a blank line, then signature lines:
``— <key name> <base64(4-byte key id ‖ 64-byte Ed25519 signature of the text)>``.
A verifier key is the line ``<key name>+<8 hex digits of the key id>+<base64(0x01 ‖
32-byte public key)>``; the key id is the first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖
public key), so one key pair signs under several names (one per organization here) with
a distinct id for each.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01  # the signature type byte of Ed25519 signatures
SIGNATURE_PREFIX = "— "  # em dash (U+2014) and a space
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, a signature or a verifier key that is malformed, or that does not verify."""


def check_key_name(name: str) -> str:
    """`name` if it can name a key: non-empty, no whitespace, no plus sign."""
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"{name!r} cannot name a key: it must be non-empty, without spaces or +")
    return name


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte id of an Ed25519 key under `name`."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A public key under a name: what a verifier needs to check a note's signature."""

    name: str
    public_key: bytes  # 32 bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def line(self) -> str:
        """The verifier key as text: name+hex key id+base64(0x01 ‖ public key)."""
        data = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.id.hex()}+{data}"

    @classmethod
    def parse(cls, line: str) -> VerifierKey:
        """A verifier key line, checked: its id must be the one its name and key give."""
        parts = line.strip().split("+", 2)  # base64 may hold + too; a name never does
        if len(parts) != 3:
            raise NoteError("a verifier key is <name>+<key id>+<key>")
        name, hex_id, data = parts
        check_key_name(name)
        try:
            raw = base64.b64decode(data, validate=True)
            wanted = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError):
            raise NoteError("a verifier key's id is hex and its key base64")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("only Ed25519 verifier keys (type 0x01, 32 bytes) are supported")
        key = cls(name, raw[1:])
        if len(hex_id) != 8 or key.id != wanted:
            raise NoteError(f"the key id {hex_id} is not the one of this name and key")
        return key

    def verifies(self, signature: bytes, text: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except (InvalidSignature, ValueError):
            return False
        return True


def parse_verifier_keys(text: str) -> list[VerifierKey]:
    """Verifier keys, one per line (blank lines and lines starting with # are skipped)."""
    lines = [line.strip() for line in text.splitlines()]
    keys = [VerifierKey.parse(line) for line in lines if line and not line.startswith("#")]
    if not keys:
        raise NoteError("no verifier key given")
    return keys


def sign(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note of `text` (which must end in a newline) under `name`."""
    _check_text(text)
    check_key_name(name)
    public = private_key.public_key().public_bytes_raw()
    signature = private_key.sign(text.encode())
    encoded = base64.b64encode(key_id(name, public) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


def split(note: str) -> tuple[str, list[Signature]]:
    """A note's text and its signature lines, parsed (not verified)."""
    if any(c < " " and c != "\n" for c in note):
        raise NoteError("a note holds no control characters but newlines")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError(
            "a note is text, a blank line and signature lines, each ending in a newline"
        )
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    _check_text(text)
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures")
    return text, [_signature(line) for line in lines]


def _signature(line: str) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError(f"a signature line starts with '{SIGNATURE_PREFIX}', got {line[:20]!r}")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    check_key_name(name)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteError(f"the signature of {name} is not base64")
    if len(raw) < 5:
        raise NoteError(f"the signature of {name} is too short")
    return Signature(name, raw[:4], raw[4:])


def open_note(note: str, keys: Iterable[VerifierKey]) -> tuple[str, list[VerifierKey]]:
    """The text of a note and the keys whose signatures on it verify. NoteError when none of
    `keys` signed it, or when a signature by one of them does not verify (other keys'
    signatures are ignored, as the spec says)."""
    text, signatures = split(note)
    known = {(k.name, k.id): k for k in keys}
    good: list[VerifierKey] = []
    for sig in signatures:
        key = known.get((sig.name, sig.key_id))
        if key is None:
            continue
        if not key.verifies(sig.signature, text.encode()):
            raise NoteError(f"the signature of {key.name} (key {key.id.hex()}) does not verify")
        good.append(key)
    if not good:
        names = ", ".join(sorted({f"{s.name} (key {s.key_id.hex()})" for s in signatures}))
        raise NoteError(f"not signed by a known key; signed by {names}")
    return text, good


def signers(note: str) -> Sequence[Signature]:
    """Who signed a note, as its signature lines say (nothing is verified)."""
    return split(note)[1]


def _check_text(text: str) -> None:
    if not text.endswith("\n") or text.startswith("\n"):
        raise NoteError("a note's text ends in a newline")
