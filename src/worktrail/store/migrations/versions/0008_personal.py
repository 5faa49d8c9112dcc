"""Personal values as salted commitments: events.personal keeps, by JSON pointer, the salt
of each personal value of an event (or the commitment of an erased one). Events written
before keep schema version 1 and no salts; they verify as they always did. Going back
before this revision drops the salts, and with them what the events of version 2 need to
verify.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("personal", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("personal")
