"""Write transactions: entity state and event appends of one organization, under its lock.

`WriteTransaction` buffers what a command or an ingest batch writes (new entities, entity
states, events and their scope rows) and writes it in one batch when the transaction ends,
through the driver with prebuilt SQL (`WriteSQL`): SQLAlchemy's per-row parameter handling
of an executemany costs more than the database's insert. A store may write the batch its
own way (COPY on PostgreSQL) and allocate entity ids its own way, in a subclass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sqlalchemy import Connection, bindparam, select

from ..chain import event_hash, hash_body
from ..diff import now_micros
from ..integrity.commitments import Salts, seal
from ..integrity.merkle import leaf_hashes
from ..model import MAX_ID, EntityRow, EntityType, Event, NewEvent, Scope, State
from . import schema as t
from .rows import (
    ENTITY_COLUMN_NAMES,
    EVENT_READ_COLUMNS,
    EVENT_READ_NAMES,
    entity_from_row,
    event_from_row,
)

if TYPE_CHECKING:
    from .base import Store

# Hot statements built once: constructing SQLAlchemy expressions per row costs more than
# executing them.
_E = t.entities.c
_SELECT_ENTITY = select(t.entities).where(
    _E.org_id == bindparam("org_id"), _E.id == bindparam("entity_id")
)
_SELECT_EXTERNAL = select(t.entities).where(
    _E.org_id == bindparam("org_id"),
    _E.type == bindparam("entity_type"),
    _E.external_id == bindparam("external_id"),
)
_SELECT_BY_KEY = select(*EVENT_READ_COLUMNS).where(
    t.events.c.org_id == bindparam("org_id"), t.events.c.idempotency_key == bindparam("key")
)


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


# Events written now: their personal values are hashed as salted commitments
# (integrity/commitments.py); those of version 1, written before, hash them as they are.
SCHEMA_VERSION = 2

# The columns of the rows a write transaction inserts, in the order of the tuples it builds.
EVENT_INSERT_COLUMNS = (
    "org_id",
    "seq",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "action",
    "subject_type",
    "subject_id",
    "idempotency_key",
    "schema_version",
    "prev_hash",
    "hash",
    "data",
    "personal",
)
SCOPE_INSERT_COLUMNS = ("org_id", "scope_type", "scope_id", "seq", "subject_type", "n")
NODE_INSERT_COLUMNS = ("org_id", "node", "hash")
_SEQ, _HASH = EVENT_INSERT_COLUMNS.index("seq"), EVENT_INSERT_COLUMNS.index("hash")
ENTITY_INSERT_COLUMNS = ENTITY_COLUMN_NAMES


@dataclass(frozen=True)
class WriteSQL:
    """The write path's SQL in one paramstyle ("?", sqlite3's; see `with_placeholder`)."""

    insert_events: str = _insert_sql("events", EVENT_INSERT_COLUMNS)
    insert_scopes: str = _insert_sql("event_scopes", SCOPE_INSERT_COLUMNS)
    insert_entities: str = _insert_sql("entities", ENTITY_INSERT_COLUMNS)
    insert_nodes: str = _insert_sql("merkle_nodes", NODE_INSERT_COLUMNS)
    insert_entity_returning: str = (
        _insert_sql("entities", ENTITY_INSERT_COLUMNS[1:]) + " RETURNING id"
    )
    update_entity: str = (
        "UPDATE entities SET state = ?, container_id = ?, deleted = ?, version = ?, "
        "updated_at = ? WHERE org_id = ? AND id = ?"
    )
    move_head: str = "UPDATE orgs SET last_seq = ?, last_hash = ? WHERE id = ?"
    # the last rank n of one (scope, subject type): a seek on ix_event_scopes_kind
    last_rank: str = (
        "(SELECT n FROM event_scopes WHERE org_id = ? AND scope_type = ? AND scope_id = ? "
        "AND subject_type = ? ORDER BY seq DESC LIMIT 1)"
    )

    # lookups of a batch's idempotency keys and external ids: each is followed by a list of
    # `mark`s in parentheses
    events_by_key: str = (
        f"SELECT {', '.join(EVENT_READ_NAMES)} FROM events WHERE org_id = ? AND idempotency_key IN "
    )
    entities_by_external: str = (
        f"SELECT {', '.join(ENTITY_INSERT_COLUMNS)} FROM entities "
        "WHERE org_id = ? AND type = ? AND external_id IN "
    )
    mark: str = "?"

    def in_list(self, count: int) -> str:
        return f"({', '.join([self.mark] * count)})"

    def with_placeholder(self, mark: str) -> WriteSQL:
        return WriteSQL(**{k: v.replace("?", mark) for k, v in self.__dict__.items()})


_T = TypeVar("_T")


def _chunks(items: list[_T], size: int = 500) -> Iterator[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class WriteTransaction:
    """Entity reads and writes plus event appends inside one locked write transaction.

    Appended events, their scope rows, new entities (when their ids were reserved up front)
    and entity updates are buffered and written in one batch when the transaction ends,
    through the driver with prebuilt SQL. A store may write the batch its own way (COPY on
    PostgreSQL) and allocate entity ids its own way, in a subclass (see Store._transaction).
    """

    SQL = WriteSQL()

    def __init__(
        self, store: Store, conn: Connection, org_id: int, last_seq: int, last_hash: str
    ) -> None:
        self.store = store
        self.conn = conn
        self.org_id = org_id
        self.last_seq = last_seq
        self.last_hash = last_hash
        self.now = now_micros()
        self._cache: dict[int, EntityRow] = {}
        self._external: dict[tuple[EntityType, str], int] = {}
        self._dirty: dict[int, EntityRow] = {}
        self._new: dict[int, EntityRow] = {}  # inserted in this transaction, not yet written
        self._id_pool: list[int] = []  # reserved entity ids, the next one last
        self._event_rows: list[tuple[Any, ...]] = []
        # per event: its scopes' types and its scopes, its seq and subject type
        self._scope_rows: list[tuple[list[str], tuple[Scope, ...], int, str]] = []
        self._ranks: dict[tuple[str, int, str], int] = {}  # last n per scope and subject type
        # scopes of entities created in this transaction: no scope rows before theirs
        self._fresh_scopes: set[tuple[str, int]] = set()
        self._pending_keys: dict[str, Event] = {}
        self._absent_keys: set[str] = set()
        self._absent_external: set[tuple[EntityType, str]] = set()
        self._salts = Salts()

    # entities

    def get_entity(self, entity_id: int) -> EntityRow | None:
        cached = self._cache.get(entity_id)
        if cached is not None:
            return cached
        if not 0 < entity_id <= MAX_ID:
            return None
        row = self.conn.execute(
            _SELECT_ENTITY, {"org_id": self.org_id, "entity_id": entity_id}
        ).first()
        if row is None:
            return None
        return self._remember(entity_from_row(row))

    def _remember(self, entity: EntityRow) -> EntityRow:
        self._cache[entity.id] = entity
        if entity.external_id is not None:
            self._external[(entity.type, entity.external_id)] = entity.id
        return entity

    def get_entity_by_external(self, entity_type: EntityType, external_id: str) -> EntityRow | None:
        known = self._external.get((entity_type, external_id))
        if known is not None:
            return self._cache[known]
        if (entity_type, external_id) in self._absent_external:
            return None
        row = self.conn.execute(
            _SELECT_EXTERNAL,
            {"org_id": self.org_id, "entity_type": entity_type.value, "external_id": external_id},
        ).first()
        return self._remember(entity_from_row(row)) if row is not None else None

    def reserve_entity_ids(self, count: int) -> None:
        """Allocate ids for about `count` entity inserts to come, so that the inserts are
        written in one batch at the end instead of one statement each. A hint: inserts
        beyond it are written one by one."""
        if count > 0:
            ids = self._allocate_entity_ids(count)
            self._id_pool[:0] = sorted(ids, reverse=True)

    def _allocate_entity_ids(self, count: int) -> list[int]:
        """`count` fresh entity ids; none where the database assigns them only as it inserts."""
        return []

    def insert_entity(
        self,
        entity_type: EntityType,
        state: State,
        container_id: int | None,
        external_id: str | None = None,
    ) -> EntityRow:
        now = self.now
        reserved = bool(self._id_pool)
        if reserved:
            entity_id = self._id_pool.pop()
        else:
            self._write_new_entities()  # so that the database's next id is past theirs
            entity_id = self.conn.exec_driver_sql(
                self.SQL.insert_entity_returning,
                (
                    self.org_id,
                    entity_type.value,
                    container_id,
                    external_id,
                    orjson.dumps(state).decode(),
                    False,
                    1,
                    now,
                    now,
                ),
            ).scalar_one()
        org_id = self.org_id
        entity = EntityRow(
            entity_id, org_id, entity_type, container_id, external_id, state, False, 1, now, now
        )
        if reserved:  # inserted with the transaction's other new entities, in one batch
            self._new[entity.id] = entity
        # ids are never reused (entities are never removed), so no scope rows precede these
        self._fresh_scopes.add((entity_type.value, entity.id))
        return self._remember(entity)

    def update_entity(
        self, entity: EntityRow, state: State, container_id: int | None, deleted: bool
    ) -> EntityRow:
        """New state for an entity; written in one batch when the transaction ends."""
        updated = EntityRow(
            entity.id,
            self.org_id,
            entity.type,
            container_id,
            entity.external_id,
            state,
            deleted,
            entity.version + 1,
            entity.created_at,
            self.now,
        )
        if entity.id in self._new:  # not written yet: it is inserted as it is now
            self._new[entity.id] = updated
        else:
            self._dirty[entity.id] = updated
        return self._remember(updated)

    # events

    def event_by_key(self, key: str) -> Event | None:
        if key in self._pending_keys:
            return self._pending_keys[key]
        if key in self._absent_keys:
            return None
        row = self.conn.execute(_SELECT_BY_KEY, {"org_id": self.org_id, "key": key}).first()
        return event_from_row(row) if row else None

    def prefetch(self, keys: Sequence[str], external: Sequence[tuple[EntityType, str]]) -> None:
        """Look up a batch's idempotency keys and external ids in a few queries up front."""
        wanted = sorted(set(keys) - set(self._pending_keys))
        for chunk in _chunks(wanted):
            rows = self._events_by_keys(chunk)
            for row in rows:
                self._pending_keys[row.idempotency_key] = event_from_row(row)
            self._absent_keys.update(set(chunk) - {r.idempotency_key for r in rows})
        by_type: dict[EntityType, set[str]] = {}
        for entity_type, external_id in external:
            if (entity_type, external_id) not in self._external:
                by_type.setdefault(entity_type, set()).add(external_id)
        for entity_type, ids in by_type.items():
            for chunk in _chunks(sorted(ids)):
                rows = self._entities_by_external(entity_type.value, chunk)
                for row in rows:
                    self._remember(entity_from_row(row))
                found = {r.external_id for r in rows}
                self._absent_external.update((entity_type, x) for x in chunk if x not in found)

    def _events_by_keys(self, keys: list[str]) -> Sequence[Any]:
        """The events of this organization with these idempotency keys (columns as
        WriteSQL.events_by_key selects them)."""
        sql = self.SQL
        return self.conn.exec_driver_sql(
            sql.events_by_key + sql.in_list(len(keys)), (self.org_id, *keys)
        ).all()

    def _entities_by_external(self, entity_type: str, external_ids: list[str]) -> Sequence[Any]:
        """The entities of this organization of a type with these external ids."""
        sql = self.SQL
        return self.conn.exec_driver_sql(
            sql.entities_by_external + sql.in_list(len(external_ids)),
            (self.org_id, entity_type, *external_ids),
        ).all()

    def append(self, new: NewEvent) -> Event:
        """Give `new` the next seq and its hash link; it is written when the transaction ends."""
        org_id = self.org_id
        seq = self.last_seq + 1
        now = self.now
        prev_hash = self.last_hash
        new_actor = new.actor
        actor = new_actor.to_json() if new_actor else None
        # Enum members hash and give their value in Python code: on this path, read the
        # plain `_value_` and compare scopes by their text.
        subject_type = new.subject_type._value_
        scope_types = [s.type._value_ for s in new.scopes]
        scopes = [f"{kind}:{s.id}" for kind, s in zip(scope_types, new.scopes, strict=True)]
        unique_scopes = tuple(new.scopes)
        if len(set(scopes)) < len(scopes):  # a move names some scopes twice: keep the first
            first = {text: i for i, text in reversed(list(enumerate(scopes)))}
            keep = sorted(first.values())
            scopes = [scopes[i] for i in keep]
            scope_types = [scope_types[i] for i in keep]
            unique_scopes = tuple(unique_scopes[i] for i in keep)
        changes, before, after, context = new.changes, new.before, new.after, new.context
        key = new.idempotency_key
        data: dict[str, Any] = {
            "actor": actor,
            "changes": changes,
            "before": before,
            "after": after,
            "context": context,
            "scopes": scopes,
        }
        # personal values enter the hash as salted commitments
        personal, (h_actor, h_changes, h_before, h_after) = seal(
            subject_type, actor, changes, before, after, self._salts
        )
        digest = event_hash(
            hash_body(
                org_id=org_id,
                seq=seq,
                occurred_at=new.occurred_at,
                recorded_at=now,
                actor=h_actor,
                action=new.action._value_,
                subject_type=subject_type,
                subject_id=new.subject_id,
                changes=h_changes,
                before=h_before,
                after=h_after,
                context=context,
                scopes=scopes,
                idempotency_key=key,
                schema_version=SCHEMA_VERSION,
                prev_hash=prev_hash,
            )
        )
        self._event_rows.append(
            (
                org_id,
                seq,
                new.occurred_at,
                now,
                new_actor.id if new_actor else None,
                new.action._value_,
                subject_type,
                new.subject_id,
                key,
                SCHEMA_VERSION,
                prev_hash,
                digest,
                orjson.dumps(data).decode(),
                orjson.dumps(personal).decode() if personal else None,
            )
        )
        self._scope_rows.append((scope_types, unique_scopes, seq, subject_type))
        # Event is a frozen dataclass, whose __init__ sets each field through
        # object.__setattr__; filling its __dict__ at once is the same object, made faster.
        event = Event.__new__(Event)
        event.__dict__.update(
            org_id=org_id,
            seq=seq,
            occurred_at=new.occurred_at,
            recorded_at=now,
            actor=new_actor,
            action=new.action,
            subject_type=new.subject_type,
            subject_id=new.subject_id,
            changes=tuple(changes),
            before=before,
            after=after,
            context=context,
            scopes=unique_scopes,
            idempotency_key=key,
            prev_hash=prev_hash,
            hash=digest,
            schema_version=SCHEMA_VERSION,
            personal=personal or None,
        )
        if key:
            self._pending_keys[key] = event
        self.last_seq = seq
        self.last_hash = digest
        return event

    def _ranked_scope_rows(self) -> list[tuple[Any, ...]]:
        """The buffered scope rows, each with its rank `n` among its scope's events of its
        subject type: the last rank of each (scope, subject type) is read once per
        transaction (a seek on ix_event_scopes_kind, many per statement) and counted on from
        there; a scope of an entity created in this transaction counts from 0."""
        ranks = self._ranks
        fresh = self._fresh_scopes
        keys = {
            (st, s.id, subject)
            for types, scopes, _, subject in self._scope_rows
            for st, s in zip(types, scopes, strict=True)
        }
        missing = sorted(k for k in keys - ranks.keys() if (k[0], k[1]) not in fresh)
        org_id = self.org_id
        for chunk in _chunks(missing, 200):
            sql = "SELECT " + ", ".join([self.SQL.last_rank] * len(chunk))
            params = tuple(v for st, sid, subject in chunk for v in (org_id, st, sid, subject))
            row = self._last_ranks(sql, params, len(chunk))
            ranks.update(zip(chunk, (int(n or 0) for n in row), strict=True))
        out = []
        for types, scopes, seq, subject in self._scope_rows:
            for st, s in zip(types, scopes, strict=True):
                key = (st, s.id, subject)
                n = ranks[key] = ranks.get(key, 0) + 1
                out.append((org_id, st, s.id, seq, subject, n))
        return out

    def _last_ranks(self, sql: str, params: tuple[Any, ...], count: int) -> Sequence[Any]:
        """The row of `count` last ranks that `sql` reads."""
        return self.conn.exec_driver_sql(sql, params).one()

    def flush(self) -> None:
        """Write new entities and entity states, insert buffered events, their scopes and the
        Merkle tree nodes they complete, move the head."""
        self._write_new_entities()
        if self._dirty:
            self._update_entities(
                [
                    (
                        orjson.dumps(e.state).decode(),
                        e.container_id,
                        e.deleted,
                        e.version,
                        e.updated_at,
                        self.org_id,
                        e.id,
                    )
                    for e in self._dirty.values()
                ]
            )
            self._dirty.clear()
        if not self._event_rows:
            return
        self._insert_events(self._event_rows, self._ranked_scope_rows())
        nodes = self._tree_nodes()
        if nodes:
            self._insert_nodes(nodes)
        self.conn.exec_driver_sql(self.SQL.move_head, (self.last_seq, self.last_hash, self.org_id))
        self._event_rows.clear()
        self._scope_rows.clear()

    def _tree_nodes(self) -> list[tuple[Any, ...]]:
        """The Merkle tree nodes the buffered events complete (their leaves among them):
        the events are the tree's next leaves, in seq order."""
        rows = self._event_rows
        leaves = leaf_hashes([bytes.fromhex(row[_HASH]) for row in rows])
        return self.store.integrity.grow(self.conn, self.org_id, rows[0][_SEQ] - 1, leaves)

    def _write_new_entities(self) -> None:
        if not self._new:
            return
        self._insert_entities(
            [
                (
                    e.id,
                    e.org_id,
                    e.type.value,
                    e.container_id,
                    e.external_id,
                    orjson.dumps(e.state).decode(),
                    e.deleted,
                    e.version,
                    e.created_at,
                    e.updated_at,
                )
                for e in self._new.values()
            ]
        )
        self._new.clear()

    # The batch writes, as tuples in the column orders of ENTITY_INSERT_COLUMNS,
    # EVENT_INSERT_COLUMNS, SCOPE_INSERT_COLUMNS and NODE_INSERT_COLUMNS (and
    # WriteSQL.update_entity's parameters).

    def _insert_entities(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.exec_driver_sql(self.SQL.insert_entities, rows)

    def _update_entities(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.exec_driver_sql(self.SQL.update_entity, rows)

    def _insert_events(self, events: list[tuple[Any, ...]], scopes: list[tuple[Any, ...]]) -> None:
        self.conn.exec_driver_sql(self.SQL.insert_events, events)
        if scopes:
            self.conn.exec_driver_sql(self.SQL.insert_scopes, scopes)

    def _insert_nodes(self, nodes: list[tuple[Any, ...]]) -> None:
        self.conn.exec_driver_sql(self.SQL.insert_nodes, nodes)
