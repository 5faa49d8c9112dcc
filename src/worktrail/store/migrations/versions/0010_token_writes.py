"""API tokens remember when they last wrote.

api_tokens gains `last_write_at` (microseconds since the epoch; NULL: not since this
revision), which write transactions set when the store reads from replicas: a token that
wrote a moment ago reads only from replicas that have replayed its write
(store/replicas.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("last_write_at", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_write_at")
