"""Retention: the runs of events retention removed (pruned_ranges); on PostgreSQL, events
and event_scopes partitioned by month of recorded_at, so that retention drops a month whole.

The partitioned tables are made beside the old ones, filled from them (event_scopes with
its event's recorded_at, the partition key), and take their names; their keys and indexes
are those of the old tables with recorded_at added to the keys, and the idempotency key's
index is a plain one (store/partitions.py says why that keeps keys unique).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from worktrail.diff import now_micros
from worktrail.store.partitions import ahead, ensure_partitions

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

EVENT_COLUMNS = (
    "org_id, seq, occurred_at, recorded_at, actor_id, action, subject_type, subject_id, "
    "idempotency_key, schema_version, prev_hash, hash, data, personal"
)
SCOPE_COLUMNS = "org_id, scope_type, scope_id, seq, subject_type, n"


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
    if op.get_bind().dialect.name == "postgresql":
        _partition()


def _partition() -> None:
    conn = op.get_bind()
    op.execute(
        "CREATE TABLE events_partitioned (LIKE events INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (recorded_at)"
    )
    op.execute(
        "CREATE TABLE event_scopes_partitioned (LIKE event_scopes INCLUDING DEFAULTS, "
        "recorded_at BIGINT NOT NULL) PARTITION BY RANGE (recorded_at)"
    )
    op.execute("ALTER TABLE events RENAME TO events_plain")
    op.execute("ALTER TABLE event_scopes RENAME TO event_scopes_plain")
    op.execute("ALTER TABLE events_partitioned RENAME TO events")
    op.execute("ALTER TABLE event_scopes_partitioned RENAME TO event_scopes")
    now = now_micros()
    first = conn.scalar(sa.text("SELECT min(recorded_at) FROM events_plain")) or now
    ensure_partitions(conn, min(first, now), ahead(now))
    op.execute(f"INSERT INTO events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM events_plain")
    op.execute(
        f"INSERT INTO event_scopes ({SCOPE_COLUMNS}, recorded_at) "
        f"SELECT {', '.join('s.' + c for c in SCOPE_COLUMNS.split(', '))}, e.recorded_at "
        "FROM event_scopes_plain s JOIN events_plain e ON e.org_id = s.org_id AND e.seq = s.seq"
    )
    op.execute("DROP TABLE events_plain")
    op.execute("DROP TABLE event_scopes_plain")
    _keys_and_indexes(partitioned=True)
    op.execute("ANALYZE events")
    op.execute("ANALYZE event_scopes")


def _keys_and_indexes(partitioned: bool) -> None:
    extra = ", recorded_at" if partitioned else ""
    op.execute(f"ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (org_id, seq{extra})")
    op.execute(
        "ALTER TABLE event_scopes ADD CONSTRAINT pk_event_scopes "
        f"PRIMARY KEY (org_id, scope_type, scope_id, seq{extra})"
    )
    op.create_index(
        "ix_events_subject_latest",
        "events",
        ["org_id", "subject_type", "subject_id", "seq", "recorded_at", "action"],
    )
    op.create_index("ix_events_actor", "events", ["org_id", "actor_id", "seq"])
    op.create_index("ix_events_occurred", "events", ["org_id", "occurred_at", "seq"])
    op.create_index("ix_events_recorded", "events", ["org_id", "recorded_at", "seq"])
    op.create_index(
        "ux_events_idempotency",
        "events",
        ["org_id", "idempotency_key"],
        unique=not partitioned,
    )
    op.create_index(
        "ix_event_scopes_kind",
        "event_scopes",
        ["org_id", "scope_type", "scope_id", "subject_type", "seq", "n"],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unpartition()
    op.drop_table("pruned_ranges")


def _unpartition() -> None:
    op.execute("ALTER TABLE events RENAME TO events_partitioned")
    op.execute("ALTER TABLE event_scopes RENAME TO event_scopes_partitioned")
    for name in (
        "pk_events",
        "pk_event_scopes",
        "ix_events_subject_latest",
        "ix_events_actor",
        "ix_events_occurred",
        "ix_events_recorded",
        "ux_events_idempotency",
        "ix_event_scopes_kind",
    ):
        table = "event_scopes" if "scopes" in name else "events"
        if name.startswith("pk_"):
            op.execute(f"ALTER TABLE {table}_partitioned DROP CONSTRAINT {name}")
        else:
            op.execute(f"DROP INDEX {name}")
    op.execute("CREATE TABLE events (LIKE events_partitioned INCLUDING DEFAULTS)")
    op.execute("CREATE TABLE event_scopes (LIKE event_scopes_partitioned INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE event_scopes DROP COLUMN recorded_at")
    op.execute(
        f"INSERT INTO events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM events_partitioned"
    )
    op.execute(
        f"INSERT INTO event_scopes ({SCOPE_COLUMNS}) "
        f"SELECT {SCOPE_COLUMNS} FROM event_scopes_partitioned"
    )
    op.execute("DROP TABLE events_partitioned CASCADE")
    op.execute("DROP TABLE event_scopes_partitioned CASCADE")
    _keys_and_indexes(partitioned=False)
