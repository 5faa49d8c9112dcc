"""Initial schema: organizations, entities, events, event scopes, tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wt_meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "orgs",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("admin_api_key", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "entities",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("container_id", sa.BigInteger, nullable=True),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_entities_org_type_id", "entities", ["org_id", "type", "id"])
    op.create_index(
        "ix_entities_org_container", "entities", ["org_id", "container_id", "type", "id"]
    )
    op.create_index(
        "ux_entities_external", "entities", ["org_id", "type", "external_id"], unique=True
    )
    op.create_table(
        "events",
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("occurred_at", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.Column("actor_id", sa.BigInteger, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("subject_type", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.BigInteger, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("schema_version", sa.SmallInteger, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "seq", name="pk_events"),
    )
    op.create_index("ix_events_subject", "events", ["org_id", "subject_type", "subject_id", "seq"])
    op.create_index("ix_events_actor", "events", ["org_id", "actor_id", "seq"])
    op.create_index("ix_events_occurred", "events", ["org_id", "occurred_at", "seq"])
    op.create_index("ux_events_idempotency", "events", ["org_id", "idempotency_key"], unique=True)
    op.create_table(
        "event_scopes",
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("scope_type", sa.String(20), nullable=False),
        sa.Column("scope_id", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "scope_type", "scope_id", "seq", name="pk_event_scopes"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_tokens_org_user", "api_tokens", ["org_id", "user_id"])


def downgrade() -> None:
    for table in ("api_tokens", "event_scopes", "events", "entities", "orgs", "wt_meta"):
        op.drop_table(table)
