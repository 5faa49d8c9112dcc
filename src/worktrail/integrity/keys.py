"""The Ed25519 key that signs checkpoints, kept in a file of its own (PKCS#8 PEM, readable
by its owner only): never in the database, so that whoever can write the database cannot
sign a history of their own making."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class KeyFileError(ValueError):
    """The key file cannot be used: the message says why and what to do."""


def fingerprint(public_key: bytes) -> str:
    """A key's name in the store and in messages: SHA-256 of its 32 public bytes, in hex."""
    return hashlib.sha256(public_key).hexdigest()


def public_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes_raw()


def load_key(path: Path) -> Ed25519PrivateKey:
    """The private key in `path`; KeyFileError if it is missing, others may read it, or it
    is not an Ed25519 key."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no signing key at {path}")
    except OSError as exc:
        raise KeyFileError(f"cannot read the signing key {path}: {exc.strerror}")
    if mode & 0o077:
        raise KeyFileError(
            f"the signing key {path} may be read by others (mode {mode & 0o777:o}): "
            f"chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} holds no usable private key: {exc}")
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a key of another kind than Ed25519")
    return key


def pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_new_key(path: Path, *, replace: bool = False) -> Ed25519PrivateKey:
    """A new key written to `path` with mode 0600, complete or not at all. Without
    `replace`, a key already there wins (another process made it first) and is returned."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem(key))
            out.flush()
            os.fsync(out.fileno())
        if replace:
            partial.replace(path)
            return key
        try:
            os.link(partial, path)  # fails if the file exists: never two keys
        except FileExistsError:
            return load_key(path)
        return key
    finally:
        partial.unlink(missing_ok=True)
