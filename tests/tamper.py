"""What someone with write access to the database can do to a history, for the tests that
must catch it: edit, delete and swap event rows, cut the history short, and rewrite it end
to end (chain, Merkle tree and all), as SQL on the store's own engine (both databases)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy import text

from worktrail.chain import GENESIS_HASH, canonical_bytes
from worktrail.integrity.events import stored_body
from worktrail.integrity.merkle import append_leaves, leaf_hash, node_number
from worktrail.model import StoredEvent
from worktrail.store import Store

COLUMNS = (
    "org_id, seq, occurred_at, recorded_at, action, subject_type, subject_id, "
    "idempotency_key, schema_version, prev_hash, hash, data, personal"
)


def sql(store: Store, statement: str, **params: Any) -> Any:
    with store.writer.begin() as conn:
        return conn.execute(text(statement), params)


def rows(store: Store, org_id: int) -> list[StoredEvent]:
    with store.writer.begin() as conn:
        found = conn.execute(
            text(f"SELECT {COLUMNS} FROM events WHERE org_id = :o ORDER BY seq"), {"o": org_id}
        ).all()
    return [StoredEvent(*r) for r in found]


def set_data(store: Store, org_id: int, seq: int, data: str) -> None:
    sql(
        store, "UPDATE events SET data = :d WHERE org_id = :o AND seq = :s", d=data, o=org_id, s=seq
    )


def delete_event(store: Store, org_id: int, seq: int) -> None:
    sql(store, "DELETE FROM event_scopes WHERE org_id = :o AND seq = :s", o=org_id, s=seq)
    sql(store, "DELETE FROM events WHERE org_id = :o AND seq = :s", o=org_id, s=seq)


def swap_events(store: Store, org_id: int, a: int, b: int) -> None:
    """Two events trade places in seq order (their rows keep everything but the seq)."""
    params = {"o": org_id, "a": a, "b": b}
    sql(store, "UPDATE events SET seq = -1 WHERE org_id = :o AND seq = :a", **params)
    sql(store, "UPDATE events SET seq = :a WHERE org_id = :o AND seq = :b", **params)
    sql(store, "UPDATE events SET seq = :b WHERE org_id = :o AND seq = -1", **params)


def truncate(store: Store, org_id: int, keep: int, *, tidy: bool = False) -> None:
    """Cut the history to its first `keep` events, with a head and a tree that agree; a
    `tidy` insider drops the checkpoints that covered more too."""
    last = rows(store, org_id)[keep - 1]
    statements = [
        "DELETE FROM event_scopes WHERE org_id = :o AND seq > :k",
        "DELETE FROM events WHERE org_id = :o AND seq > :k",
    ]
    if tidy:
        statements.append("DELETE FROM checkpoints WHERE org_id = :o AND tree_size > :k")
    for statement in statements:
        sql(store, statement, o=org_id, k=keep)
    sql(
        store,
        "UPDATE orgs SET last_seq = :k, last_hash = :h WHERE id = :o",
        k=keep,
        h=last.hash,
        o=org_id,
    )
    rebuild(store, org_id)


def rewrite(store: Store, org_id: int, seq: int, field: str, value: Any) -> None:
    """Change one value in an event's document and make everything agree again: every
    hash from there on, the head, the Merkle tree; the checkpoints are dropped (the
    insider has the key and signs new ones)."""
    history = rows(store, org_id)
    prev = GENESIS_HASH if seq == 1 else history[seq - 2].hash
    for event in history[seq - 1 :]:
        data = orjson.loads(event.data)
        if event.seq == seq:
            data["context"][field] = value
        event = event._replace(prev_hash=prev, data=orjson.dumps(data).decode())
        digest = hashlib.sha256(canonical_bytes(stored_body(event))).hexdigest()
        sql(
            store,
            "UPDATE events SET prev_hash = :p, hash = :h, data = :d WHERE org_id = :o AND seq = :s",
            p=prev,
            h=digest,
            d=event.data,
            o=org_id,
            s=event.seq,
        )
        prev = digest
    sql(store, "UPDATE orgs SET last_hash = :h WHERE id = :o", h=prev, o=org_id)
    sql(store, "DELETE FROM checkpoints WHERE org_id = :o", o=org_id)
    rebuild(store, org_id)


def rebuild(store: Store, org_id: int) -> None:
    """The organization's Merkle tree made again from its events as they are now."""
    leaves = [leaf_hash(bytes.fromhex(e.hash)) for e in rows(store, org_id)]
    sql(store, "DELETE FROM merkle_nodes WHERE org_id = :o", o=org_id)
    nodes = [
        {"o": org_id, "n": node_number(level, index), "h": digest}
        for level, index, digest in append_leaves(0, [], leaves)
    ]
    with store.writer.begin() as conn:
        conn.execute(
            text("INSERT INTO merkle_nodes (org_id, node, hash) VALUES (:o, :n, :h)"),
            nodes,
        )
