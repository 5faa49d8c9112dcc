"""Per-organization settings and an index on recorded_at.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orgs") as batch:
        batch.add_column(sa.Column("settings", sa.Text, nullable=False, server_default="{}"))
    op.create_index("ix_events_recorded", "events", ["org_id", "recorded_at", "seq"])


def downgrade() -> None:
    op.drop_index("ix_events_recorded", "events")
    with op.batch_alter_table("orgs") as batch:
        batch.drop_column("settings")
