"""Retention: the runs of events retention removed (pruned_ranges).

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pruned_ranges",
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("last_recorded", sa.BigInteger, nullable=False),
        sa.Column("pruned_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "first_seq", name="pk_pruned_ranges"),
    )


def downgrade() -> None:
    op.drop_table("pruned_ranges")
