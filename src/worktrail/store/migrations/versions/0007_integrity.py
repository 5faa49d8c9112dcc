"""Integrity: the Merkle tree of each organization's events, checkpoints, signing keys.

merkle_nodes keeps every complete subtree of each organization's RFC 9162 tree (its events
in seq order as leaves); checkpoints keeps every signed checkpoint; signing_keys the public
keys that signed them. The tree of the events already stored is built here, a batch of
events at a time, as the write path would have built it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from worktrail.integrity.merkle import append_leaves, frontier_ids, leaf_hash, node_number

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 10_000  # events read, and their nodes written, at a time

_nodes = sa.table(
    "merkle_nodes",
    sa.column("org_id", sa.BigInteger),
    sa.column("node", sa.BigInteger),
    sa.column("hash", sa.LargeBinary),
)


def upgrade() -> None:
    op.create_table(
        "merkle_nodes",
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("node", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "node", name="pk_merkle_nodes"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "checkpoints",
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "tree_size", name="pk_checkpoints"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("retired_at", sa.BigInteger, nullable=True),
        sa.Column("current", sa.SmallInteger, nullable=True, unique=True),
    )
    conn = op.get_bind()
    for org_id in conn.execute(sa.text("SELECT id FROM orgs ORDER BY id")).scalars().all():
        build_tree(conn, int(org_id))


def build_tree(conn: sa.Connection, org_id: int) -> None:
    """The tree of an organization's stored events, written a batch at a time."""
    size, frontier = 0, {}
    select = sa.text(
        "SELECT seq, hash FROM events WHERE org_id = :org AND seq > :after ORDER BY seq LIMIT :n"
    )
    while True:
        rows = conn.execute(select, {"org": org_id, "after": size, "n": BATCH}).all()
        if not rows:
            return
        if rows[-1].seq != size + len(rows):
            raise RuntimeError(
                f"organization {org_id} has a hole in its history after seq {size}: "
                "run `worktrail verify` on the store before upgrading it"
            )
        leaves = [leaf_hash(bytes.fromhex(row.hash)) for row in rows]
        made = append_leaves(size, [frontier[i] for i in frontier_ids(size)], leaves)
        conn.execute(
            _nodes.insert(),
            sorted(
                ({"org_id": org_id, "node": node_number(lv, ix), "hash": h} for lv, ix, h in made),
                key=lambda row: row["node"],
            ),
        )
        frontier.update(((lv, ix), h) for lv, ix, h in made)
        size += len(rows)
        frontier = {i: frontier[i] for i in frontier_ids(size)}


def downgrade() -> None:
    op.drop_table("signing_keys")
    op.drop_table("checkpoints")
    op.drop_table("merkle_nodes")
