"""The database's limit for worktrail's own rows: the baseline batch ingest is compared to.

For each event of a source history, the rows the store writes for it, built before the
clock starts:

- the event row (schema version 1, so no personal values' salts);
- its scope rows, each with its rank (and on PostgreSQL its event's recorded_at, the
  partition key);
- its subject's entity row as the event leaves it (the first event of a subject inserts
  it, later ones update it; one row per entity per batch, as a transaction writes it);
- the Merkle tree nodes its leaf completes;

and per batch of 1,000 events, one transaction, as ingest commits them: the organization's
head. They are written by the driver's plainest fast path, with no worktrail code between:
`executemany` on SQLite; `COPY` for the appended rows and one pipelined `executemany`
upsert for the entities on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from worktrail.config import Settings
from worktrail.integrity.merkle import append_leaves, frontier_ids, leaf_hash, node_number
from worktrail.model import Event, EventQuery
from worktrail.store import Store, open_store
from worktrail.store import schema as t

BATCH = 1000
ORG = 1

EVENT_COLUMNS = (
    "org_id, seq, occurred_at, recorded_at, actor_id, action, subject_type, subject_id, "
    "idempotency_key, schema_version, prev_hash, hash, data"
)
SCOPE_COLUMNS = "org_id, scope_type, scope_id, seq, subject_type, n"
ENTITY_COLUMNS = (
    "id, org_id, type, container_id, external_id, state, deleted, version, created_at, updated_at"
)
ENTITY_UPSERT = (
    "INSERT INTO entities (" + ENTITY_COLUMNS + ") VALUES ({marks}) "
    "ON CONFLICT ({key}) DO UPDATE SET state = excluded.state, deleted = excluded.deleted, "
    "version = excluded.version, updated_at = excluded.updated_at"
)
NODE_COLUMNS = "org_id, node, hash"
HEAD = "UPDATE orgs SET last_seq = {m}, last_hash = {m} WHERE id = {m}"


@dataclass
class Batch:
    """One transaction's rows."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    scopes: list[tuple[Any, ...]] = field(default_factory=list)
    entities: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    nodes: list[tuple[Any, ...]] = field(default_factory=list)
    head: tuple[int, str] = (0, "")


def batches(source: Store, org_id: int, n: int) -> list[Batch]:
    """The rows of the source organization's first `n` events, a batch per transaction."""
    events = source.fetch_events(EventQuery(org_id=org_id, ascending=True, limit=n))[:n]
    entity_rows = _entity_rows(source, org_id)
    ranks: dict[tuple[str, int, str], int] = {}
    versions: dict[int, int] = {}
    size, frontier = 0, dict[tuple[int, int], bytes]()
    out = []
    for start in range(0, len(events), BATCH):
        batch = Batch()
        chunk = events[start : start + BATCH]
        for e in chunk:
            batch.events.append(_event_row(e))
            for s in e.scopes:  # with the rank each scope row carries (store/seek.py)
                key = (s.type.value, s.id, e.subject_type.value)
                ranks[key] = ranks.get(key, 0) + 1
                batch.scopes.append(
                    (
                        ORG,
                        s.type.value,
                        s.id,
                        e.seq,
                        e.subject_type.value,
                        ranks[key],
                        e.recorded_at,
                    )
                )
            known = entity_rows.get(e.subject_id)
            if known is not None:
                versions[e.subject_id] = versions.get(e.subject_id, 0) + 1
                state = orjson.dumps(e.after or e.before or {}).decode()
                deleted = e.action.value == "deleted"
                batch.entities[e.subject_id] = (
                    *known[:5],
                    state,
                    deleted,
                    versions[e.subject_id],
                    known[8],
                    e.recorded_at,
                )
        leaves = [leaf_hash(bytes.fromhex(e.hash)) for e in chunk]
        made = append_leaves(size, [frontier[i] for i in frontier_ids(size)], leaves)
        batch.nodes = sorted((ORG, node_number(lv, ix), h) for lv, ix, h in made)
        frontier.update(((lv, ix), h) for lv, ix, h in made)
        size += len(chunk)
        frontier = {i: frontier[i] for i in frontier_ids(size)}
        batch.head = (chunk[-1].seq, chunk[-1].hash)
        out.append(batch)
    return out


def _event_row(e: Event) -> tuple[Any, ...]:
    data = orjson.dumps(
        {
            "actor": e.actor.to_json() if e.actor else None,
            "changes": list(e.changes),
            "before": e.before,
            "after": e.after,
            "context": e.context,
            "scopes": [str(s) for s in e.scopes],
        }
    ).decode()
    actor = e.actor.id if e.actor else None
    return (
        ORG,
        e.seq,
        e.occurred_at,
        e.recorded_at,
        actor,
        e.action.value,
        e.subject_type.value,
        e.subject_id,
        e.idempotency_key,
        1,
        e.prev_hash,
        e.hash,
        data,
    )


def _entity_rows(source: Store, org_id: int) -> dict[int, tuple[Any, ...]]:
    """Each entity's row in the source store, by id (its organization made ORG)."""
    e = t.entities.c
    with source.read() as conn:
        rows = conn.execute(
            t.entities.select().with_only_columns(
                e.id,
                e.org_id,
                e.type,
                e.container_id,
                e.external_id,
                e.state,
                e.deleted,
                e.version,
                e.created_at,
                e.updated_at,
            )
        ).all()
    return {int(r[0]): (r[0], ORG, *r[2:]) for r in rows if r[1] == org_id}


def insert_rate(url: str, rows: list[Batch]) -> float:
    """Events a second written into the fresh, migrated store at `url`."""
    target = open_store(Settings(database_url=url))
    target.migrate()
    target.close()
    count = sum(len(b.events) for b in rows)
    if url.startswith("sqlite"):
        return count / _sqlite(url.removeprefix("sqlite:///"), rows)
    return count / _postgres(url, rows)


def _org_row() -> tuple[Any, ...]:
    return (ORG, 0, "0" * 64, "raw", 0, "{}")


def _sqlite(path: str, rows: list[Batch]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("INSERT INTO orgs VALUES (?, ?, ?, ?, ?, ?)", _org_row())
    upsert = ENTITY_UPSERT.format(marks=",".join("?" * 10), key="id")
    started = time.perf_counter()
    for b in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({','.join('?' * 13)})", b.events
        )
        conn.executemany(
            f"INSERT INTO event_scopes ({SCOPE_COLUMNS}) VALUES (?,?,?,?,?,?)",
            [s[:6] for s in b.scopes],
        )
        conn.executemany(upsert, list(b.entities.values()))
        conn.executemany(f"INSERT INTO merkle_nodes ({NODE_COLUMNS}) VALUES (?,?,?)", b.nodes)
        conn.execute(HEAD.format(m="?"), (*b.head, ORG))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def _postgres(url: str, rows: list[Batch]) -> float:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    upsert = ENTITY_UPSERT.format(marks=",".join(["%s"] * 10), key="org_id, id")
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO orgs VALUES (%s, %s, %s, %s, %s, %s)", _org_row())
        conn.commit()
        started = time.perf_counter()
        for b in rows:
            with conn.cursor() as cur:
                _copy(cur, f"COPY events ({EVENT_COLUMNS}) FROM STDIN", b.events)
                # partitioned by month there: each scope row carries its event's recorded_at
                _copy(cur, f"COPY event_scopes ({SCOPE_COLUMNS}, recorded_at) FROM STDIN", b.scopes)
                cur.executemany(upsert, list(b.entities.values()))
                _copy(cur, f"COPY merkle_nodes ({NODE_COLUMNS}) FROM STDIN", b.nodes)
                cur.execute(HEAD.format(m="%s"), (*b.head, ORG))
            conn.commit()
        return time.perf_counter() - started


def _copy(cur: Any, statement: str, rows: list[tuple[Any, ...]]) -> None:
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def rows_written(rows: list[Batch]) -> Iterator[tuple[str, int]]:
    """How many rows of each kind a run writes (printed beside the figure)."""
    yield "events", sum(len(b.events) for b in rows)
    yield "scope rows", sum(len(b.scopes) for b in rows)
    yield "entity upserts", sum(len(b.entities) for b in rows)
    yield "Merkle nodes", sum(len(b.nodes) for b in rows)
    yield "transactions", len(rows)
