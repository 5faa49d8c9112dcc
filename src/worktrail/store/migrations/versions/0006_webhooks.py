"""Webhooks: secrets, dispatch positions, messages owed and the delivery log.

A subscription itself is a `webhook` entity (entities and events need no change); these
tables keep what is secret or bookkeeping. See store/schema.py.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("webhook_id", sa.BigInteger, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("previous_secret", sa.Text, nullable=True),
        sa.Column("previous_until", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("org_id", "webhook_id", name="pk_webhook_secrets"),
    )
    op.create_table(
        "webhook_cursors",
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("webhook_id", sa.BigInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("last_success_at", sa.BigInteger, nullable=True),
        sa.Column("last_failure_at", sa.BigInteger, nullable=True),
        sa.Column("last_failure", sa.Text, nullable=True),
        sa.Column("failing_since", sa.BigInteger, nullable=True),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("org_id", "webhook_id", name="pk_webhook_cursors"),
    )
    op.create_table(
        "webhook_messages",
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("webhook_id", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("leased_until", sa.BigInteger, nullable=True),
        sa.Column("lease", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("delivered_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("org_id", "webhook_id", "seq", name="pk_webhook_messages"),
    )
    op.create_index(
        "ix_webhook_messages_next",
        "webhook_messages",
        ["org_id", "webhook_id", "next_attempt_at", "seq"],
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("webhook_id", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("attempted_at", sa.BigInteger, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_webhook_attempts_log", "webhook_attempts", ["org_id", "webhook_id", "id"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_messages")
    op.drop_table("webhook_cursors")
    op.drop_table("webhook_secrets")
