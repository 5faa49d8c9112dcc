"""Signed checkpoints: the server's signature on an organization's Merkle tree head, and
the key that makes it.

The private key is a file (`integrity_key_file`, else beside an SQLite store's file),
made on first start; its public half is registered in the store as the current signing
key. A server whose key file holds another key than the store's current one signs
nothing and says why: two servers signing one history with different keys is a mistake
to catch, not a choice. `worktrail integrity rotate-key` makes a new key current; the
retired ones stay in the store, so what they signed still verifies.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..config import Settings
from ..diff import now_micros
from ..errors import Conflict
from ..integrity.checkpoint import Checkpoint, origin
from ..integrity.keys import KeyFileError, fingerprint, load_key, public_bytes, write_new_key
from ..store import CheckpointRecord, SigningKey, Store


class SigningUnavailable(Conflict):
    """This server cannot sign checkpoints: the detail says why and what to do."""

    title = "Signing unavailable"


class Notary:
    """Signs each organization's checkpoints with the server's key (thread-safe)."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], int] = now_micros):
        self.store = store
        self.clock = clock
        self.host = settings.integrity_host or socket.gethostname()
        configured = settings.integrity_key_file
        self.key_path = (
            Path(configured).expanduser() if configured else store.integrity.default_key_path()
        )
        self._key: Ed25519PrivateKey | None = None
        self._fingerprint = ""
        self._lock = threading.Lock()

    def origin(self, org_id: int) -> str:
        """The origin (and key name) of the organization's log: worktrail/<host>/org/<id>."""
        return origin(self.host, org_id)

    def prepare(self) -> str:
        """Load the key (making it if the store has none yet) and make sure it is the
        store's current key; its fingerprint, or SigningUnavailable."""
        with self._lock:
            current = _current(self.store.integrity.signing_keys())
            if self._key is not None and current and current.fingerprint == self._fingerprint:
                return self._fingerprint
            key = self._load(current)
            found = fingerprint(public_bytes(key))
            if current is None:
                self.store.integrity.register_key(found, public_bytes(key), self.clock())
                current = _current(self.store.integrity.signing_keys())
            if current is None or current.fingerprint != found:
                raise SigningUnavailable(self._mismatch(found, current))
            self._key, self._fingerprint = key, found
            return found

    def _load(self, current: SigningKey | None) -> Ed25519PrivateKey:
        path = self.key_path
        if path is None:
            raise SigningUnavailable(
                "no file for the checkpoint signing key: set integrity_key_file "
                "(WORKTRAIL_INTEGRITY_KEY_FILE), the same file on every server of this store"
            )
        try:
            if path.exists() or current is not None:
                return load_key(path)
            return write_new_key(path)
        except KeyFileError as exc:
            if current is not None and not path.exists():
                raise SigningUnavailable(
                    f"no signing key at {path}, but this store's checkpoints are signed with "
                    f"key {current.fingerprint[:16]}: copy that key's file here, or make a new "
                    "key with `worktrail integrity rotate-key`"
                )
            raise SigningUnavailable(str(exc))
        except OSError as exc:
            raise SigningUnavailable(f"cannot make the signing key {path}: {exc.strerror}")

    def _mismatch(self, found: str, current: SigningKey | None) -> str:
        retired = any(k.fingerprint == found for k in self.store.integrity.signing_keys())
        what = "a retired key" if retired else f"key {found[:16]}"
        theirs = current.fingerprint[:16] if current else "another"
        return (
            f"{self.key_path} holds {what}, but this store's checkpoints are signed with key "
            f"{theirs}: give this server that key's file, or make a new key with "
            "`worktrail integrity rotate-key`"
        )

    def issue(self, org_id: int) -> CheckpointRecord:
        """A checkpoint of the organization's tree as it is now; the latest one when the
        tree has not grown since."""
        key_fingerprint = self.prepare()
        size, root = self.store.integrity.head(org_id)
        latest = self.store.integrity.latest_checkpoint(org_id)
        if latest is not None and latest.tree_size >= size:
            return latest
        assert self._key is not None
        note = Checkpoint(self.origin(org_id), size, root).sign(self._key)
        record = CheckpointRecord(org_id, size, root, note, key_fingerprint, self.clock())
        return self.store.integrity.add_checkpoint(record)

    def rotate(self) -> tuple[str | None, str]:
        """Make a new key the store's current one and write it to the key file; the old
        one is retired (what it signed still verifies). (old fingerprint, new fingerprint)."""
        if self.key_path is None:
            raise SigningUnavailable("set integrity_key_file to name the signing key's file")
        with self._lock:
            before = _current(self.store.integrity.signing_keys())
            staged = self.key_path.with_name(self.key_path.name + ".next")
            key = write_new_key(staged, replace=True)
            found = fingerprint(public_bytes(key))
            self.store.integrity.replace_key(found, public_bytes(key), self.clock())
            staged.replace(self.key_path)
            self._key, self._fingerprint = key, found
        return (before.fingerprint if before else None), found


def _current(keys: list[SigningKey]) -> SigningKey | None:
    return keys[0] if keys and keys[0].retired_at is None else None
