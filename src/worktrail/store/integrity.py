"""What integrity keeps: the Merkle tree's nodes, the checkpoints issued and the public
keys that signed them (`Store.integrity`).

The tree grows in the append transaction (WriteTransaction.flush calls `grow`): one
statement reads the frontier of the tree as it was, one batch writes every node the
appended events complete. A proof is one statement: the point reads of the subtrees it is
made of, on the primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select, update

from ..integrity.merkle import (
    NodeId,
    append_leaves,
    consistency_proof,
    frontier_ids,
    inclusion_proof,
    node_number,
    node_of,
    root_hash,
)
from . import schema as t
from .location import sqlite_path

if TYPE_CHECKING:
    from .base import Store

# node ids per statement: a few statements for a bundle's thousands, one for any proof
NODES_PER_STATEMENT = 400


@dataclass(frozen=True)
class CheckpointRecord:
    """A checkpoint as issued: the tree size, its root, the signed note, who signed it."""

    org_id: int
    tree_size: int
    root_hash: bytes
    note: str
    key: str  # the signing key's fingerprint
    issued_at: int


@dataclass(frozen=True)
class SigningKey:
    fingerprint: str
    public_key: bytes
    created_at: int
    retired_at: int | None


_cp = t.checkpoints.c
_k = t.signing_keys.c


class IntegrityStore:
    """The integrity tables of one store."""

    def __init__(self, store: Store, upsert: Any, mark: str = "?") -> None:
        self._store = store
        self._upsert = upsert
        self._mark = mark

    def default_key_path(self) -> Path | None:
        """Where the checkpoint signing key lives when no setting names a file: beside an
        SQLite store's file; None for a server database (whose hosts must be given one)."""
        path = sqlite_path(self._store.url)
        return path.with_name(path.name + ".integrity.key") if path else None

    # -- the tree -------------------------------------------------------------------------

    def _select_nodes(self, count: int) -> str:
        m = self._mark
        return (
            f"SELECT node, hash FROM merkle_nodes WHERE org_id = {m} "
            f"AND node IN ({', '.join([m] * count)})"
        )

    def fetch_nodes(
        self, conn: Connection, org_id: int, ids: Sequence[NodeId]
    ) -> dict[NodeId, bytes]:
        """The hashes of these nodes (those that exist): one statement of point reads on
        the primary key for a proof, a few for a bundle's thousands."""
        found: dict[NodeId, bytes] = {}
        ordered = sorted({node_number(level, index) for level, index in ids})
        for start in range(0, len(ordered), NODES_PER_STATEMENT):
            chunk = ordered[start : start + NODES_PER_STATEMENT]
            sql = self._select_nodes(len(chunk))
            for number, digest in conn.exec_driver_sql(sql, (org_id, *chunk)):
                found[node_of(int(number))] = bytes(digest)
        return found

    def grow(
        self, conn: Connection, org_id: int, size: int, leaves: Sequence[bytes]
    ) -> list[tuple[Any, ...]]:
        """The node rows that appending `leaves` to the organization's tree of `size`
        leaves completes (to be written by the caller, in the same transaction)."""
        ids = frontier_ids(size)
        found = self.fetch_nodes(conn, org_id, ids) if ids else {}
        made = append_leaves(size, [found[i] for i in ids], leaves)
        # in key order: the batch goes in at the end of the organization's range
        return sorted((org_id, node_number(level, index), digest) for level, index, digest in made)

    def _fetcher(self, conn: Connection, org_id: int) -> Any:
        def fetch(ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
            found = self.fetch_nodes(conn, org_id, ids)
            missing = [i for i in ids if i not in found]
            if missing:
                raise KeyError(f"the tree of organization {org_id} lacks nodes {missing[:3]}")
            return found

        return fetch

    def root(self, org_id: int, size: int) -> bytes:
        with self._store.read() as conn:
            return root_hash(size, self._fetcher(conn, org_id))

    def head(self, org_id: int) -> tuple[int, bytes]:
        """The organization's tree size now and its root, read in one snapshot."""
        with self._store.read() as conn:
            size = conn.scalar(select(t.orgs.c.last_seq).where(t.orgs.c.id == org_id))
            size = int(size or 0)
            return size, root_hash(size, self._fetcher(conn, org_id))

    def inclusion(self, org_id: int, index: int, size: int) -> list[bytes]:
        with self._store.read() as conn:
            return inclusion_proof(index, size, self._fetcher(conn, org_id))

    def consistency(self, org_id: int, first: int, second: int) -> list[bytes]:
        with self._store.read() as conn:
            return consistency_proof(first, second, self._fetcher(conn, org_id))

    def fetch_all(self, org_id: int, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """The hashes of those of these nodes that exist."""
        with self._store.read() as conn:
            return self.fetch_nodes(conn, org_id, ids)

    def nodes(self, org_id: int, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """The hashes of these nodes; KeyError naming the first missing ones."""
        with self._store.read() as conn:
            return self._fetcher(conn, org_id)(ids)  # type: ignore[no-any-return]

    # -- checkpoints -------------------------------------------------------------------

    def latest_checkpoint(self, org_id: int) -> CheckpointRecord | None:
        stmt = (
            select(t.checkpoints)
            .where(_cp.org_id == org_id)
            .order_by(_cp.tree_size.desc())
            .limit(1)
        )
        with self._store.read() as conn:
            row = conn.execute(stmt).first()
        return _record(row) if row else None

    def checkpoint(self, org_id: int, tree_size: int) -> CheckpointRecord | None:
        stmt = select(t.checkpoints).where(_cp.org_id == org_id, _cp.tree_size == tree_size)
        with self._store.read() as conn:
            row = conn.execute(stmt).first()
        return _record(row) if row else None

    def add_checkpoint(self, record: CheckpointRecord) -> CheckpointRecord:
        """Keep a checkpoint; one of its size kept already (another process issued it
        first) wins, and is returned."""
        values = {
            "org_id": record.org_id,
            "tree_size": record.tree_size,
            "root_hash": record.root_hash,
            "note": record.note,
            "key": record.key,
            "issued_at": record.issued_at,
        }
        stmt = self._upsert(t.checkpoints).values(**values)
        stmt = stmt.on_conflict_do_nothing(index_elements=[_cp.org_id, _cp.tree_size])
        with self._store.write_connection() as conn:
            conn.execute(stmt)
            row = conn.execute(
                select(t.checkpoints).where(
                    _cp.org_id == record.org_id, _cp.tree_size == record.tree_size
                )
            ).one()
        return _record(row)

    def checkpoint_heads(self) -> dict[int, tuple[int, int]]:
        """Each organization's latest checkpoint: (tree size, when it was issued)."""
        latest = (
            select(_cp.org_id, func.max(_cp.tree_size).label("size"))
            .group_by(_cp.org_id)
            .subquery()
        )
        stmt = select(_cp.org_id, _cp.tree_size, _cp.issued_at).join(
            latest, (latest.c.org_id == _cp.org_id) & (latest.c.size == _cp.tree_size)
        )
        with self._store.read() as conn:
            return {r.org_id: (r.tree_size, r.issued_at) for r in conn.execute(stmt)}

    # -- signing keys ------------------------------------------------------------------

    def signing_keys(self) -> list[SigningKey]:
        """Every key that signed checkpoints here: the current one first, then the retired
        ones, the most recently retired first."""
        stmt = select(_k.fingerprint, _k.public_key, _k.created_at, _k.retired_at)
        with self._store.read() as conn:
            rows = conn.execute(stmt).all()
        keys = [
            SigningKey(r.fingerprint, bytes(r.public_key), r.created_at, r.retired_at) for r in rows
        ]
        return sorted(keys, key=lambda k: (k.retired_at is not None, -(k.retired_at or 0)))

    def register_key(self, fingerprint: str, public_key: bytes, now: int) -> None:
        """Make this the current key of a store that has none yet (Conflict if another
        process made its own current meanwhile)."""
        with self._store.write_connection() as conn:
            current = conn.scalar(select(_k.fingerprint).where(_k.current == 1))
            if current is None:
                conn.execute(
                    insert(t.signing_keys).values(
                        fingerprint=fingerprint, public_key=public_key, created_at=now, current=1
                    )
                )

    def replace_key(self, fingerprint: str, public_key: bytes, now: int) -> None:
        """Retire the current key (its signatures stay verifiable) and make this one current."""
        with self._store.write_connection() as conn:
            conn.execute(
                update(t.signing_keys).where(_k.current == 1).values(current=None, retired_at=now)
            )
            conn.execute(
                insert(t.signing_keys).values(
                    fingerprint=fingerprint, public_key=public_key, created_at=now, current=1
                )
            )


def _record(row: Any) -> CheckpointRecord:
    return CheckpointRecord(
        row.org_id, row.tree_size, bytes(row.root_hash), row.note, row.key, row.issued_at
    )
