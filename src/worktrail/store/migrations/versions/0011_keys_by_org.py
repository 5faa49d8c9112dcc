"""Keys by organization: every key of a table that belongs to an organization begins with
org_id, so that Citus can distribute the schema by organization as it stands
(store/distribution.py, docs/scaling.md).

- On PostgreSQL, `entities` and `webhook_attempts` are keyed by (org_id, id) instead of
  id. Their ids stay numbers unique across organizations, from the same sequences (an
  entity's id is public in every dialect). On SQLite their key stays `id INTEGER PRIMARY
  KEY`: there it is the rowid, which hands out the ids and addresses the row in one
  b-tree search; a composite key would cost a second b-tree for the key and leave the ids
  to be counted by hand, for a store that is one file and never distributed.
- A token's last write (read-your-writes on read replicas, migration 0010) moves from
  `api_tokens.last_write_at` to `token_writes` (org_id, token_id): api_tokens is global, a
  reference table, which must not be written with every write; token_writes is
  distributed with the organization that writes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KEYED_BY_ID = ("entities", "webhook_attempts")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for table in KEYED_BY_ID:
            _rekey(table, f"pk_{table}", "org_id, id")
    op.create_table(
        "token_writes",
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("token_id", sa.BigInteger, nullable=False),
        sa.Column("last_write_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "token_id", name="pk_token_writes"),
    )
    op.execute(
        "INSERT INTO token_writes (org_id, token_id, last_write_at) "
        "SELECT org_id, id, last_write_at FROM api_tokens WHERE last_write_at IS NOT NULL"
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_write_at")


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("last_write_at", sa.BigInteger, nullable=True))
    op.execute(
        "UPDATE api_tokens SET last_write_at = (SELECT w.last_write_at FROM token_writes w "
        "WHERE w.org_id = api_tokens.org_id AND w.token_id = api_tokens.id)"
    )
    op.drop_table("token_writes")
    if op.get_bind().dialect.name == "postgresql":
        for table in KEYED_BY_ID:
            _rekey(table, f"{table}_pkey", "id")


def _rekey(table: str, name: str, columns: str) -> None:
    """Replace the table's primary key (whatever its name) with one on `columns`."""
    old = sa.inspect(op.get_bind()).get_pk_constraint(table)["name"]
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {old}")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} PRIMARY KEY ({columns})")
