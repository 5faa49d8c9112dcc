"""Rank each scope row among its scope's events of the same subject type.

event_scopes gains the event's subject type and `n`, its 1-based rank among the events of
that type indexed under the scope, and an index that seeks on them: the k-th newest event of
a scope, of some subject types, is then found with a few index seeks instead of a scan of k
rows (store/seek.py). The table is rebuilt with the ranks computed by a window function.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_scopes_new",
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("scope_type", sa.String(20), nullable=False),
        sa.Column("scope_id", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("subject_type", sa.String(20), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "scope_type", "scope_id", "seq", name="pk_event_scopes_n"
        ),
        sqlite_with_rowid=False,
    )
    op.execute(
        """
        INSERT INTO event_scopes_new (org_id, scope_type, scope_id, seq, subject_type, n)
        SELECT s.org_id, s.scope_type, s.scope_id, s.seq, e.subject_type,
               ROW_NUMBER() OVER (
                   PARTITION BY s.org_id, s.scope_type, s.scope_id, e.subject_type
                   ORDER BY s.seq)
        FROM event_scopes s JOIN events e ON e.org_id = s.org_id AND e.seq = s.seq
        """
    )
    op.drop_table("event_scopes")
    op.rename_table("event_scopes_new", "event_scopes")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE event_scopes RENAME CONSTRAINT pk_event_scopes_n TO pk_event_scopes"
        )
    op.create_index(
        "ix_event_scopes_kind",
        "event_scopes",
        ["org_id", "scope_type", "scope_id", "subject_type", "seq", "n"],
    )


def downgrade() -> None:
    op.drop_index("ix_event_scopes_kind", "event_scopes")
    with op.batch_alter_table("event_scopes") as batch:
        batch.drop_column("n")
        batch.drop_column("subject_type")
