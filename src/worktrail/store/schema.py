"""Table definitions (SQLAlchemy Core). Every key leads with org_id (the organization's
own table with its id), so no query has to cross organizations and Citus can distribute
the tables by organization as they are; the few global tables are reference tables
(distribution.py says which and why).

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
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid).
Id = BigInteger().with_variant(Integer(), "sqlite")

# entities and webhook_attempts number their rows across organizations (an entity's id is
# public), and key them by (org_id, id) on PostgreSQL; on SQLite their key is `id` alone,
# its rowid, which numbers them (migration 0011 says why).

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
    Column("id", Id, nullable=False, autoincrement=True),
    Column("org_id", BigInteger, nullable=False),
    Column("type", String(20), nullable=False),
    Column("container_id", BigInteger, nullable=True),
    Column("external_id", String(200), nullable=True),
    Column("state", Text, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id", name="pk_entities"),
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
    # the salts of its personal values, or the commitments of erased ones, by JSON pointer
    # (integrity/commitments.py); NULL when it has none
    Column("personal", Text, nullable=True),
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

# On PostgreSQL, events and event_scopes are partitioned by month of recorded_at (migration
# 0009, partitions.py): event_scopes has its event's recorded_at there too, both primary keys
# end with recorded_at, and the idempotency key's index is not unique (the append lock keeps
# keys unique). The tables below are SQLite's, and what the code reads on both.

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

# When each token last wrote, set by write transactions only when the store reads from
# replicas (replicas.py). Apart from api_tokens, which is global (a reference table): this
# is written with every write, in the writing organization.
token_writes = Table(
    "token_writes",
    metadata,
    Column("org_id", BigInteger, nullable=False),
    Column("token_id", BigInteger, nullable=False),
    Column("last_write_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "token_id", name="pk_token_writes"),
)

# -- webhooks ---------------------------------------------------------------------------
# A subscription's settings are a `webhook` entity (its changes are history); what is
# secret or only bookkeeping lives here, out of the history.

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("org_id", BigInteger, nullable=False),
    Column("webhook_id", BigInteger, nullable=False),
    # the signing secret (Standard Webhooks `whsec_…`, Asana's X-Hook-Secret, Worksection's
    # Basic credentials as JSON), and the one it replaced, still signing until `previous_until`
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text, nullable=True),
    Column("previous_until", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "webhook_id", name="pk_webhook_secrets"),
)

# Where each subscription's dispatch stands: every event of its organization up to
# `position` that matches its filter has a message. Events commit in seq order (the
# ordering rule, Store.write), so an event past the position can only be owed, never lost.
webhook_cursors = Table(
    "webhook_cursors",
    metadata,
    Column("org_id", BigInteger, nullable=False),
    Column("webhook_id", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # the subscription's (delivery style)
    # the subscription is active (not paused, disabled or deleted): dispatched and delivered
    Column("active", Boolean, nullable=False),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_success_at", BigInteger, nullable=True),
    Column("last_failure_at", BigInteger, nullable=True),
    Column("last_failure", Text, nullable=True),
    Column("failing_since", BigInteger, nullable=True),
    # when the last heartbeat went out, for styles that send them (null: none yet)
    Column("heartbeat_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "webhook_id", name="pk_webhook_cursors"),
)

# What is owed to an endpoint: one message per (subscription, event). Its id is stable, so
# a retry and a replay of the same event carry the same `webhook-id`.
webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("org_id", BigInteger, nullable=False),
    Column("webhook_id", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("state", String(12), nullable=False),  # pending, delivered, failed, cancelled
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    # a worker holds a message while it delivers it, until then; after a crash it expires
    Column("leased_until", BigInteger, nullable=True),
    # counts the leases: an outcome settles its message only under the lease it was sent
    # under, so a replay or an expired lease makes a late outcome harmless
    Column("lease", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "webhook_id", "seq", name="pk_webhook_messages"),
    # a subscription's pending messages in the order they go out (WebhookStore.claim);
    # partial, so it holds only what is still owed, however long the delivered history
    Index(
        "ix_webhook_messages_next",
        "org_id",
        "webhook_id",
        "next_attempt_at",
        "seq",
        sqlite_where=text("state = 'pending'"),
        postgresql_where=text("state = 'pending'"),
    ),
)

# The delivery log: one row per attempt.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Id, nullable=False, autoincrement=True),
    Column("org_id", BigInteger, nullable=False),
    Column("webhook_id", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=True),  # null: a ping or a heartbeat
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", BigInteger, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("next_attempt_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "id", name="pk_webhook_attempts"),
    Index("ix_webhook_attempts_log", "org_id", "webhook_id", "id"),
)

# -- integrity ----------------------------------------------------------------------------
# Each organization's events are the leaves of an RFC 9162 Merkle tree in seq order (leaf
# seq - 1). Every complete subtree's hash is kept, once, as the append that completes it
# writes it: node (level, index) covers leaves [index << level, (index + 1) << level), and is
# keyed by its number in completion order (integrity.merkle.node_number: last leaf, then
# level), so that every append adds keys at the end of its organization's range instead of
# one place per level. A proof of any tree size is a handful of point reads here, and never
# reads an event, so events a retention policy removes leave the subtrees over them behind.
merkle_nodes = Table(
    "merkle_nodes",
    metadata,
    Column("org_id", BigInteger, nullable=False),
    Column("node", BigInteger, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    PrimaryKeyConstraint("org_id", "node", name="pk_merkle_nodes"),
    sqlite_with_rowid=False,
)

# Every checkpoint issued, one per tree size: the signed note as it was served, so a proof
# of any issued size comes with the very checkpoint a client may already hold.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("org_id", BigInteger, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("key", String(64), nullable=False),  # the signing key's fingerprint
    Column("issued_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "tree_size", name="pk_checkpoints"),
)

# The public halves of the keys that sign checkpoints (the private key is a file, never
# here): the current one has no retired_at; retired ones stay to verify what they signed.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("fingerprint", String(64), primary_key=True),  # SHA-256 of the public key, hex
    Column("public_key", LargeBinary(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("retired_at", BigInteger, nullable=True),
    # 1 for the current key, NULL for retired ones: unique, so two servers starting at once
    # on a new store cannot both make theirs current
    Column("current", SmallInteger, nullable=True, unique=True),
)

# -- retention ----------------------------------------------------------------------------
# The events retention removed, as runs of consecutive seqs (store/retention.py): the run
# that starts at seq 1 is the pruned prefix (its last_seq is the organization's
# `pruned_through`), the others are holes that per-subject-type retention or legal holds
# left. `last_hash` is the chain hash of event last_seq, which the next event's prev_hash
# must equal, so the chain is checked across every run (verify.py); the Merkle tree keeps
# the leaves and subtrees over them (merkle_nodes is never pruned).
pruned_ranges = Table(
    "pruned_ranges",
    metadata,
    Column("org_id", BigInteger, nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("last_recorded", BigInteger, nullable=False),  # recorded_at of event last_seq
    Column("pruned_at", BigInteger, nullable=False),  # when the run last grew
    PrimaryKeyConstraint("org_id", "first_seq", name="pk_pruned_ranges"),
)
