"""Table definitions (SQLAlchemy Core). Every table leads with org_id, so no query has to
cross organizations and a sharded PostgreSQL can distribute by it.

Times are integer microseconds since the epoch (UTC): exact, compact and compared the same
way on every database.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid).
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

meta = Table(
    "wt_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row per organization: its settings and the head of its history. The row is the
# per-organization lock that orders appends (see Store.write).
orgs = Table(
    "orgs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("last_hash", String(64), nullable=False),
    Column("admin_api_key", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # per-organization options of the dialects (JSON object)
    Column("settings", Text, nullable=False, server_default="{}"),
)

# Current state of every entity, all types in one table (the state itself is JSON).
entities = Table(
    "entities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, nullable=False),
    Column("type", String(20), nullable=False),
    Column("container_id", BigInteger, nullable=True),
    Column("external_id", String(200), nullable=True),
    Column("state", Text, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_entities_org_type_id", "org_id", "type", "id"),
    Index("ix_entities_org_container", "org_id", "container_id", "type", "id"),
    Index("ux_entities_external", "org_id", "type", "external_id", unique=True),
)

events = Table(
    "events",
    metadata,
    Column("org_id", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    Column("actor_id", BigInteger, nullable=True),
    Column("action", String(16), nullable=False),
    Column("subject_type", String(20), nullable=False),
    Column("subject_id", BigInteger, nullable=False),
    Column("idempotency_key", String(200), nullable=True),
    Column("schema_version", SmallInteger, nullable=False, default=1),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # actor, changes, before, after, context and scopes as one JSON document.
    Column("data", Text, nullable=False),
    PrimaryKeyConstraint("org_id", "seq", name="pk_events"),
    # recorded_at and action too, so "newest event per subject" reads the index alone
    Index(
        "ix_events_subject_latest",
        "org_id",
        "subject_type",
        "subject_id",
        "seq",
        "recorded_at",
        "action",
    ),
    Index("ix_events_actor", "org_id", "actor_id", "seq"),
    Index("ix_events_occurred", "org_id", "occurred_at", "seq"),
    Index("ix_events_recorded", "org_id", "recorded_at", "seq"),
    Index("ux_events_idempotency", "org_id", "idempotency_key", unique=True),
)

# Each event indexed under every scope it belongs to at the time of the event (its subject
# and all ancestors), so an entity's history with descendants is one range scan in seq order.
event_scopes = Table(
    "event_scopes",
    metadata,
    Column("org_id", BigInteger, nullable=False),
    Column("scope_type", String(20), nullable=False),
    Column("scope_id", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    # the event's subject type, and its 1-based rank among the scope's events of that type:
    # the k-th newest event of a scope (of some types) is a few index seeks away (seek.py)
    Column("subject_type", String(20), nullable=False),
    Column("n", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "scope_type", "scope_id", "seq", name="pk_event_scopes"),
    Index("ix_event_scopes_kind", "org_id", "scope_type", "scope_id", "subject_type", "seq", "n"),
    sqlite_with_rowid=False,
)

tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("org_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # kept to the minute: authentication writes it only when it is older (auth.py)
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Index("ix_tokens_org_user", "org_id", "user_id"),
)
