"""Widen the subject index so "the newest event of each subject" is one index-only pass.

The subject index grows recorded_at and action after its columns: grouping the events of a
time window by subject (Kantata's most_recent, most_recent_by_event_type) then reads the
index alone, in subject order, without a lookup or a sort per event. Its leading columns are
those of ix_events_subject, which it replaces.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_events_subject_latest",
        "events",
        ["org_id", "subject_type", "subject_id", "seq", "recorded_at", "action"],
    )
    op.drop_index("ix_events_subject", "events")


def downgrade() -> None:
    op.create_index("ix_events_subject", "events", ["org_id", "subject_type", "subject_id", "seq"])
    op.drop_index("ix_events_subject_latest", "events")
