"""The storage interface and its shared SQLAlchemy Core implementation.

`Store` is the one interface the rest of worktrail uses: read connections, write
transactions that append events under the per-organization lock, entity state, tokens and
event queries. SQLiteStore and PostgresStore (sqlite.py, postgres.py) differ only in how
they open connections; the SQL is shared.
"""

from __future__ import annotations

import secrets
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    ScalarSelect,
    Select,
    Subquery,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..chain import GENESIS_HASH, event_hash, hash_body
from ..config import Settings
from ..diff import now_micros
from ..errors import Conflict, NotFound, StoreError
from ..model import MAX_ID, Action, Actor, EntityType, Event, NewEvent, Scope, State, StoredEvent
from . import schema as t
from .seek import seek_offset

if TYPE_CHECKING:
    from ..query import EventQuery


@dataclass(frozen=True)
class EntityRow:
    id: int
    org_id: int
    type: EntityType
    container_id: int | None
    external_id: str | None
    state: State
    deleted: bool
    version: int
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class OrgRow:
    id: int
    last_seq: int
    last_hash: str
    admin_api_key: str
    created_at: int
    settings: dict[str, Any]


def _org(row: Any) -> OrgRow:
    values = dict(row._mapping)
    values["settings"] = orjson.loads(values.get("settings") or "{}")
    return OrgRow(**values)


@dataclass(frozen=True)
class TokenRow:
    id: int
    org_id: int
    user_id: int
    name: str
    prefix: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


def _entity(row: Any) -> EntityRow:
    return EntityRow(
        id=row.id,
        org_id=row.org_id,
        type=EntityType(row.type),
        container_id=row.container_id,
        external_id=row.external_id,
        state=orjson.loads(row.state),
        deleted=bool(row.deleted),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# Enum(value) is slow on hot paths (every event read); plain dict lookups are not.
_TYPES = {t.value: t for t in EntityType}
_ACTIONS = {a.value: a for a in Action}
_SCOPES: dict[str, Scope] = {}


def event_from_row(row: Any) -> Event:
    """Build the `Event` of a stored row (a StoredEvent or a result row of _EVENT_COLUMNS)."""
    data = orjson.loads(row.data)
    actor = data.get("actor")
    return Event(
        org_id=row.org_id,
        seq=row.seq,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        actor=Actor(**actor) if actor else None,
        action=_ACTIONS[row.action],
        subject_type=_TYPES[row.subject_type],
        subject_id=row.subject_id,
        changes=tuple(data.get("changes") or ()),
        before=data.get("before"),
        after=data.get("after"),
        context=data.get("context") or {},
        scopes=tuple(_scope(s) for s in data.get("scopes") or ()),
        idempotency_key=row.idempotency_key,
        prev_hash=row.prev_hash,
        hash=row.hash,
        schema_version=row.schema_version,
    )


def _scope(text: str) -> Scope:
    scope = _SCOPES.get(text)
    if scope is None:
        if len(_SCOPES) > 200_000:  # bounded: scopes repeat, but not without end
            _SCOPES.clear()
        kind, _, ident = text.partition(":")
        scope = _SCOPES[text] = Scope(_TYPES[kind], int(ident))
    return scope


_EVENT_COLUMNS = (
    t.events.c.org_id,
    t.events.c.seq,
    t.events.c.occurred_at,
    t.events.c.recorded_at,
    t.events.c.action,
    t.events.c.subject_type,
    t.events.c.subject_id,
    t.events.c.idempotency_key,
    t.events.c.schema_version,
    t.events.c.prev_hash,
    t.events.c.hash,
    t.events.c.data,
)


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
_SELECT_BY_KEY = select(*_EVENT_COLUMNS).where(
    t.events.c.org_id == bindparam("org_id"), t.events.c.idempotency_key == bindparam("key")
)
_e = t.events.c
_LAST_RECORDED = (
    select(_e.recorded_at)
    .where(_e.org_id == t.orgs.c.id, _e.seq == t.orgs.c.last_seq)
    .scalar_subquery()
)
_SELECT_HEAD = (
    select(t.orgs.c.last_seq, t.orgs.c.last_hash, _LAST_RECORDED.label("recorded"))
    .where(t.orgs.c.id == bindparam("org_id"))
    .with_for_update(of=t.orgs)
)


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


# The appends of a write transaction go to the driver as prebuilt SQL with plain tuples:
# SQLAlchemy's per-row parameter handling of an executemany costs more than the database's
# insert. Columns in the order of the tuples WriteTransaction builds.
EVENT_COLUMNS = (
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
)
# the columns of an event that event_from_row reads, as the lookups by key select them
KEY_LOOKUP_COLUMNS = tuple(c.name for c in _EVENT_COLUMNS)
SCOPE_COLUMNS = ("org_id", "scope_type", "scope_id", "seq", "subject_type", "n")
ENTITY_COLUMNS = (
    "id",
    "org_id",
    "type",
    "container_id",
    "external_id",
    "state",
    "deleted",
    "version",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class WriteSQL:
    """The write path's SQL in one paramstyle ("?", sqlite3's; see `with_placeholder`)."""

    insert_events: str = _insert_sql("events", EVENT_COLUMNS)
    insert_scopes: str = _insert_sql("event_scopes", SCOPE_COLUMNS)
    insert_entities: str = _insert_sql("entities", ENTITY_COLUMNS)
    insert_entity_returning: str = _insert_sql("entities", ENTITY_COLUMNS[1:]) + " RETURNING id"
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
        f"SELECT {', '.join(KEY_LOOKUP_COLUMNS)} FROM events "
        "WHERE org_id = ? AND idempotency_key IN "
    )
    entities_by_external: str = (
        f"SELECT {', '.join(ENTITY_COLUMNS)} FROM entities "
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


MAX_SEQ = 2**62
_TOKEN_COLUMNS = tuple(
    t.tokens.c[name]
    for name in (
        "id",
        "org_id",
        "user_id",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
)


_ENTITY_FIELDS = tuple(c.name for c in t.entities.columns)
_USER_ROW = namedtuple("_USER_ROW", _ENTITY_FIELDS)  # type: ignore[misc]
_user = t.entities.alias("token_user")
_SELECT_TOKEN_USER = (
    select(*_TOKEN_COLUMNS, *(_user.c[name] for name in _ENTITY_FIELDS))
    .select_from(
        t.tokens.outerjoin(
            _user, and_(_user.c.org_id == t.tokens.c.org_id, _user.c.id == t.tokens.c.user_id)
        )
    )
    .where(t.tokens.c.token_hash == bindparam("token_hash"))
)


_SEQ_OF = attrgetter("seq")


def _first_seq_recorded(at: str) -> ScalarSelect[Any]:
    """The first seq recorded at or after the bound parameter `at`."""
    e = t.events.c
    return (
        select(e.seq)
        .where(e.org_id == bindparam("org_id"), e.recorded_at >= bindparam(at))
        .order_by(e.recorded_at, e.seq)
        .limit(1)
        .scalar_subquery()
    )


def _shape(q: EventQuery) -> tuple[Any, ...]:
    """What the SQL of `q` depends on besides its values: which filters it has, its order,
    position and offset, and the two filters whose values shape the statement itself.
    Queries of one shape share one statement; their values are bound (_values)."""
    return (
        q.scope is not None,
        q.descendants,
        q.until_seq is not None,
        bool(q.seqs),
        bool(q.subject_types),
        bool(q.subject_ids),
        bool(q.actions),
        q.subject_actions,
        bool(q.actor_ids),
        q.occurred_from is not None,
        q.occurred_to is not None,
        q.recorded_from is not None,
        q.recorded_to is not None,
        q.visible_workspaces is not None,
        q.ascending,
        q.after_seq is not None,
        q.offset > 0,
        q.newest_per_subject,
    )


def _values(q: EventQuery) -> dict[str, Any]:
    """The bound values of `q`'s statement (see _shape)."""
    return {
        "org_id": q.org_id,
        "scope_type": q.scope.type.value if q.scope is not None else None,
        "scope_id": q.scope.id if q.scope is not None else None,
        "until_seq": q.until_seq,
        "seqs": list(q.seqs),
        "subject_types": list(q.subject_types),
        "subject_ids": list(q.subject_ids),
        "actions": list(q.actions),
        "actor_ids": list(q.actor_ids),
        "occurred_from": q.occurred_from,
        "occurred_to": q.occurred_to,
        "recorded_from": q.recorded_from,
        "recorded_to": q.recorded_to,
        "visible": sorted(q.visible_workspaces or ()),
        "after_seq": q.after_seq,
        "page_size": q.limit + 1,
        "offset": q.offset,
    }


class _StatementCache:
    """Statements by query shape: building a statement costs more than running a page of it
    (SQLAlchemy's construction and cache-key work), and a server asks a few shapes over
    and over with different values. Bounded: a shape seen first when full is not kept."""

    def __init__(self, build: Callable[[EventQuery], Any], size: int = 512) -> None:
        self._build = build
        self._size = size
        self._statements: dict[tuple[Any, ...], Any] = {}

    def __call__(self, q: EventQuery) -> Any:
        key = _shape(q)
        stmt = self._statements.get(key)
        if stmt is None:
            stmt = self._build(q)
            if len(self._statements) < self._size:
                self._statements[key] = stmt
        return stmt


def _needs_event_rows(q: EventQuery) -> bool:
    """Whether a scope query filters or groups on more than its scope rows hold."""
    return bool(
        q.subject_ids
        or q.actions
        or q.subject_actions
        or q.actor_ids
        or q.occurred_from is not None
        or q.occurred_to is not None
        or q.visible_workspaces is not None
        or q.newest_per_subject is not None
    )


class Store:
    """Append-only event store plus current entity state. Thread-safe."""

    dialect_name = "base"
    # Threads a server process runs requests' blocking work in, when Settings.threads is 0.
    # A client-server database works while the thread waits, so a few more than cores pay:
    # pages under 16 clients on PostgreSQL, 1M events, 2 cores: ~220/s with 2 threads,
    # ~250 with 4, ~190 with 8, ~170 with 16. SQLite sets its own.
    server_threads = 4

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.writer, self.reader = self._create_engines(url, settings)
        self._commit_listeners: list[Callable[[int], None]] = []
        self._page_statements = _StatementCache(self._events_select)
        self._count_statements = _StatementCache(self._count_select)

    def add_commit_listener(self, listener: Callable[[int], None]) -> None:
        """Call `listener(org_id)` after each commit of this process that appended events
        (live feeds wake at once instead of waiting for their next poll)."""
        self._commit_listeners.append(listener)

    def _committed(self, org_id: int) -> None:
        for listener in self._commit_listeners:
            listener(org_id)

    # -- engines -------------------------------------------------------------------------

    def _create_engines(self, url: str, settings: Settings) -> tuple[Engine, Engine]:
        raise NotImplementedError

    def close(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection in a transaction (one consistent snapshot)."""
        try:
            with self.reader.connect() as conn, conn.begin():
                yield conn
        except DBAPIError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    @contextmanager
    def _write_conn(self) -> Iterator[Connection]:
        try:
            with self.writer.connect() as conn, conn.begin():
                yield conn
        except IntegrityError as exc:
            raise Conflict(f"conflicting write: {exc.orig}") from exc
        except DBAPIError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    # -- schema --------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest version (Alembic)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.writer.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.reader.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def server_secret(self) -> str:
        """The cursor-signing key: from settings, else generated once and kept in wt_meta."""
        if self.settings.secret:
            return self.settings.secret
        with self.read() as conn:
            value = conn.scalar(select(t.meta.c.value).where(t.meta.c.key == "secret"))
        if value:
            return str(value)
        with self._write_conn() as conn:
            value = conn.scalar(select(t.meta.c.value).where(t.meta.c.key == "secret"))
            if value is None:
                value = secrets.token_hex(32)
                conn.execute(insert(t.meta).values(key="secret", value=value))
        return str(value)

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def write(self, org_id: int) -> Iterator[WriteTransaction]:
        """One write transaction for one organization, holding its append lock until commit.

        THE ORDERING RULE. Readers page through an organization's history by seq. If seqs
        were handed out at insert time but became visible at commit, a transaction that got
        seq 41 could commit after another that got seq 42; a reader that had already read
        42 would never see 41. So the seq counter lives in the organization's row in `orgs`,
        and every writer locks that row (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the
        single writer's BEGIN IMMEDIATE takes the database write lock) before it reads the
        counter, and holds the lock until it commits. Hence seq order is commit order and
        there are no holes: whenever a reader sees seq N, every seq below N is already
        committed. The same lock makes the hash chain a running link (prev_hash is the
        head's hash, read under the lock). Writers of different organizations lock
        different rows and never wait for each other; batches amortize the lock.
        """
        with self._write_conn() as conn:
            head = conn.execute(_SELECT_HEAD, {"org_id": org_id}).first()
            if head is None:
                raise NotFound(f"organization {org_id} does not exist")
            tx = self._transaction(conn, org_id, head.last_seq, head.last_hash)
            # recorded_at never goes back within an organization, even if the clock does, so
            # a recorded-time window is a seq range (seek.py relies on it)
            tx.now = max(tx.now, head.recorded or 0)
            yield tx
            tx.flush()
        if tx.last_seq != head.last_seq:
            self._committed(org_id)

    def _transaction(
        self, conn: Connection, org_id: int, last_seq: int, last_hash: str
    ) -> WriteTransaction:
        """The write transaction of this database (a store may batch its writes its own way)."""
        return WriteTransaction(self, conn, org_id, last_seq, last_hash)

    @contextmanager
    def write_new_organization(self, state: State) -> Iterator[tuple[WriteTransaction, int]]:
        """Create an organization (its entity and its head row) and write in its history."""
        now = now_micros()
        with self._write_conn() as conn:
            org_id = conn.execute(
                insert(t.entities)
                .values(
                    org_id=0,
                    type=EntityType.ORGANIZATION.value,
                    state=orjson.dumps(state).decode(),
                    deleted=False,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(t.entities.c.id)
            ).scalar_one()
            conn.execute(update(t.entities).where(t.entities.c.id == org_id).values(org_id=org_id))
            conn.execute(
                insert(t.orgs).values(
                    id=org_id,
                    last_seq=0,
                    last_hash=GENESIS_HASH,
                    admin_api_key=secrets.token_hex(16),
                    created_at=now,
                    settings="{}",
                )
            )
            tx = self._transaction(conn, org_id, 0, GENESIS_HASH)
            yield tx, org_id
            tx.flush()

    # -- organizations -------------------------------------------------------------------

    def get_org(self, org_id: int) -> OrgRow | None:
        with self.read() as conn:
            row = conn.execute(select(t.orgs).where(t.orgs.c.id == org_id)).first()
        return _org(row) if row else None

    def list_orgs(self) -> list[OrgRow]:
        with self.read() as conn:
            rows = conn.execute(select(t.orgs).order_by(t.orgs.c.id)).all()
        return [_org(r) for r in rows]

    def update_org_settings(self, org_id: int, values: dict[str, Any]) -> dict[str, Any]:
        """Merge `values` into the organization's settings (None removes a key)."""
        with self._write_conn() as conn:
            raw = conn.scalar(
                select(t.orgs.c.settings).where(t.orgs.c.id == org_id).with_for_update()
            )
            if raw is None:
                raise NotFound(f"organization {org_id} does not exist")
            merged = {**orjson.loads(raw), **values}
            merged = {k: v for k, v in merged.items() if v is not None}
            conn.execute(
                update(t.orgs)
                .where(t.orgs.c.id == org_id)
                .values(settings=orjson.dumps(merged).decode())
            )
        return merged

    def set_admin_api_key(self, org_id: int, key: str) -> None:
        with self._write_conn() as conn:
            conn.execute(update(t.orgs).where(t.orgs.c.id == org_id).values(admin_api_key=key))

    # -- entities ------------------------------------------------------------------------

    def get_entity(self, org_id: int, entity_id: int) -> EntityRow | None:
        if not 0 < entity_id <= MAX_ID:
            return None
        with self.read() as conn:
            row = conn.execute(
                select(t.entities).where(
                    t.entities.c.org_id == org_id, t.entities.c.id == entity_id
                )
            ).first()
        return _entity(row) if row else None

    def get_entities(self, org_id: int, ids: Sequence[int]) -> dict[int, EntityRow]:
        if not ids:
            return {}
        # By id alone, the organization checked here: given `org_id = ? AND id IN (...)`,
        # SQLite's planner walks the organization's whole entity index instead of probing the
        # ids (48 ms for 20 ids among 300,000 entities; now well under a millisecond).
        with self.read() as conn:
            rows = conn.execute(
                select(t.entities).where(t.entities.c.id.in_(sorted(set(ids))))
            ).all()
        return {r.id: _entity(r) for r in rows if r.org_id == org_id}

    def list_entities(
        self,
        org_id: int,
        entity_type: EntityType,
        *,
        container_id: int | None = None,
        after_id: int | None = None,
        limit: int = 100,
        include_deleted: bool = False,
    ) -> list[EntityRow]:
        """Entities of one type in id order, keyset-paged by `after_id`."""
        c = t.entities.c
        stmt = select(t.entities).where(c.org_id == org_id, c.type == entity_type.value)
        if container_id is not None:
            stmt = stmt.where(c.container_id == container_id)
        if after_id is not None:
            stmt = stmt.where(c.id > after_id)
        if not include_deleted:
            stmt = stmt.where(c.deleted.is_(False))
        with self.read() as conn:
            rows = conn.execute(stmt.order_by(c.id).limit(limit)).all()
        return [_entity(r) for r in rows]

    # -- events --------------------------------------------------------------------------

    def get_event(self, org_id: int, seq: int) -> Event | None:
        with self.read() as conn:
            row = conn.execute(
                select(*_EVENT_COLUMNS).where(t.events.c.org_id == org_id, t.events.c.seq == seq)
            ).first()
        return event_from_row(row) if row else None

    def head_seq(self, org_id: int) -> int:
        with self.read() as conn:
            value = conn.scalar(select(t.orgs.c.last_seq).where(t.orgs.c.id == org_id))
        return int(value or 0)

    def fetch_events(self, query: EventQuery) -> list[Event]:
        """One page of events matching `query`, in its order, at most query.limit + 1 rows."""
        return [event_from_row(r) for r in self.fetch_stored(query)]

    def fetch_stored(self, query: EventQuery) -> list[StoredEvent]:
        """Like fetch_events, as stored rows: for readers that render without parsing."""
        if query.visible_workspaces is not None and not query.visible_workspaces:
            return []
        with self.read() as conn:
            sought = seek_offset(conn, query)
            if sought is None:
                return []
            stmt = self._page_statements(sought)
            rows = list(map(StoredEvent._make, conn.execute(stmt, _values(sought)).all()))
        # in page order here rather than in SQL, where the database would sort whole rows
        # (with their documents) in a temporary b-tree: the positions are few and ordered
        rows.sort(key=_SEQ_OF, reverse=not query.ascending)
        return rows

    def iter_events(self, query: EventQuery, chunk: int = 2000) -> Iterator[Event]:
        """Every event matching `query`, fetched in keyset chunks (constant memory)."""
        for rows in self.iter_stored(query, chunk):
            for row in rows:
                yield event_from_row(row)

    def iter_stored(self, query: EventQuery, chunk: int = 2000) -> Iterator[list[StoredEvent]]:
        """Every event matching `query` as stored rows, one keyset chunk at a time (constant
        memory, one short read transaction per chunk)."""
        from dataclasses import replace

        position, offset = query.after_seq, query.offset
        while True:
            page = self.fetch_stored(
                replace(query, after_seq=position, limit=chunk - 1, offset=offset)
            )
            if page:
                yield page
            if len(page) < chunk:
                return
            position, offset = page[-1].seq, 0

    def _events_select(self, q: EventQuery) -> Select[Any]:
        """The page of `q` in two steps: first its positions, then their rows. Picking
        positions reads indexes only; a time range makes the planner choose the time index
        and sort, and sorting bare positions instead of whole rows is what keeps such a page
        fast (2.4 s -> 0.14 s over a million events on SQLite), as it does deep offsets."""
        if q.newest_per_subject is not None:
            positions = self._newest_seqs(q)
        else:
            stmt, seq_col = self._matching(q)
            positions = stmt.add_columns(seq_col.label("seq")).subquery("matching")
        seq = positions.c.seq
        page = select(seq)
        if q.after_seq is not None:
            after = bindparam("after_seq", type_=Integer)
            page = page.where(seq > after if q.ascending else seq < after)
        page = page.order_by(seq.asc() if q.ascending else seq.desc())
        page = page.limit(bindparam("page_size", type_=Integer))
        if q.offset:
            page = page.offset(bindparam("offset", type_=Integer))
        picked = page.subquery("page")
        e = t.events
        return (
            select(*_EVENT_COLUMNS)
            .select_from(e.join(picked, e.c.seq == picked.c.seq))
            .where(e.c.org_id == bindparam("org_id"))
        )

    def _matching(
        self, q: EventQuery, *columns: ColumnElement[Any]
    ) -> tuple[Select[Any], ColumnElement[int]]:
        """`columns` of the events that pass every filter of `q` (its position, order, limit
        and offset aside), and the seq column to order them by."""
        e = t.events
        if q.scope is not None and q.descendants:
            s = t.event_scopes
            seq_col: ColumnElement[int] = s.c.seq
            rows = (
                s.join(e, and_(e.c.org_id == s.c.org_id, e.c.seq == s.c.seq))
                if _needs_event_rows(q)
                else s
            )
            stmt = (
                select(*columns)
                .select_from(rows)
                .where(
                    s.c.org_id == bindparam("org_id"),
                    s.c.scope_type == bindparam("scope_type"),
                    s.c.scope_id == bindparam("scope_id"),
                )
            )
        else:
            seq_col = e.c.seq
            stmt = select(*columns).select_from(e).where(e.c.org_id == bindparam("org_id"))
            if q.scope is not None:
                stmt = stmt.where(
                    e.c.subject_type == bindparam("scope_type"),
                    e.c.subject_id == bindparam("scope_id"),
                )
        conditions: list[ColumnElement[bool]] = []
        if q.until_seq is not None:
            conditions.append(seq_col <= bindparam("until_seq"))
        if q.seqs:
            conditions.append(seq_col.in_(bindparam("seqs", expanding=True)))
        if q.subject_types:
            typed = t.event_scopes.c if q.scope is not None and q.descendants else e.c
            conditions.append(typed.subject_type.in_(bindparam("subject_types", expanding=True)))
        if q.subject_ids:
            conditions.append(e.c.subject_id.in_(bindparam("subject_ids", expanding=True)))
        if q.actions:
            conditions.append(e.c.action.in_(bindparam("actions", expanding=True)))
        if q.subject_actions:
            by_type: dict[str, list[str]] = {}
            for subject_type, action in q.subject_actions:
                by_type.setdefault(subject_type, []).append(action)
            conditions.append(
                or_(
                    *(
                        and_(e.c.subject_type == subject_type, e.c.action.in_(actions))
                        for subject_type, actions in sorted(by_type.items())
                    )
                )
            )
        if q.actor_ids:
            conditions.append(e.c.actor_id.in_(bindparam("actor_ids", expanding=True)))
        if q.occurred_from is not None:
            conditions.append(e.c.occurred_at >= bindparam("occurred_from"))
        if q.occurred_to is not None:
            conditions.append(e.c.occurred_at < bindparam("occurred_to"))
        # recorded_at never goes back within an organization (Store.write): a recorded-time
        # window is the seq range from the first event recorded in it, found with one seek
        if q.recorded_from is not None:
            conditions.append(seq_col >= _first_seq_recorded("recorded_from"))
        if q.recorded_to is not None:
            conditions.append(seq_col < func.coalesce(_first_seq_recorded("recorded_to"), MAX_SEQ))
        if q.visible_workspaces is not None:
            v = t.event_scopes.alias("visible")
            conditions.append(
                exists().where(
                    v.c.org_id == e.c.org_id,
                    v.c.scope_type == EntityType.WORKSPACE.value,
                    v.c.scope_id.in_(bindparam("visible", expanding=True)),
                    v.c.seq == e.c.seq,
                )
            )
        if conditions:
            stmt = stmt.where(*conditions)
        return stmt, seq_col

    def _newest_seqs(self, q: EventQuery) -> Subquery:
        """The seqs of the newest matching event of each subject and action class (one column,
        `seq`). One pass over the matching events in (subject_type, subject_id) order, which
        ix_events_subject_latest covers: a grouped maximum per class, so that neither database
        has to sort the events of the window."""
        e = t.events
        classes = [tuple(c) for c in q.newest_per_subject or ()]
        named = sorted({action for c in classes for action in c})
        newest: list[ColumnElement[Any]] = [
            func.max(case((e.c.action.in_(c), e.c.seq))) for c in classes
        ]
        if named:
            newest.append(func.max(case((e.c.action.not_in(named), e.c.seq))))
        else:
            newest.append(func.max(e.c.seq))
        labels = [f"n{i}" for i in range(len(newest))]
        grouped, _ = self._matching(q, *(n.label(f"n{i}") for i, n in enumerate(newest)))
        grouped = grouped.group_by(e.c.subject_type, e.c.subject_id)
        if len(newest) == 1:
            return select(grouped.subquery("per_subject").c.n0.label("seq")).subquery("newest")
        per_class = grouped.cte("per_subject")
        return union_all(
            *(
                select(per_class.c[name].label("seq")).where(per_class.c[name].is_not(None))
                for name in labels
            )
        ).subquery("newest")

    def count_matching(self, query: EventQuery) -> int:
        """How many events `query` matches over all its pages (its position, limit and offset
        aside): a count in the database. With newest_per_subject, how many events it keeps."""
        if query.visible_workspaces is not None and not query.visible_workspaces:
            return 0
        stmt = self._count_statements(query)
        with self.read() as conn:
            return int(conn.scalar(stmt, _values(query)) or 0)

    def _count_select(self, query: EventQuery) -> Select[Any]:
        if query.newest_per_subject is not None:
            return select(func.count()).select_from(self._newest_seqs(query))
        stmt, _ = self._matching(query, func.count())
        return stmt

    def count_events(self, org_id: int) -> int:
        with self.read() as conn:
            return int(conn.scalar(select(func.count()).where(t.events.c.org_id == org_id)) or 0)

    # -- tokens --------------------------------------------------------------------------

    def insert_token(
        self, org_id: int, user_id: int, name: str, token_hash: str, prefix: str
    ) -> int:
        with self._write_conn() as conn:
            return int(
                conn.execute(
                    insert(t.tokens)
                    .values(
                        org_id=org_id,
                        user_id=user_id,
                        name=name,
                        token_hash=token_hash,
                        prefix=prefix,
                        created_at=now_micros(),
                    )
                    .returning(t.tokens.c.id)
                ).scalar_one()
            )

    def find_token(self, token_hash: str) -> TokenRow | None:
        found = self.find_token_user(token_hash)
        return found[0] if found else None

    def find_token_user(self, token_hash: str) -> tuple[TokenRow, EntityRow | None] | None:
        """The token with this hash and the user it acts as (None if that user row is
        gone), in one statement: every authenticated request starts with this."""
        with self.read() as conn:
            row = conn.execute(_SELECT_TOKEN_USER, {"token_hash": token_hash}).first()
        if row is None:
            return None
        values = tuple(row)
        token = TokenRow(*values[: len(_TOKEN_COLUMNS)])
        user = values[len(_TOKEN_COLUMNS) :]
        if user[0] is None:
            return token, None
        return token, _entity(_USER_ROW._make(user))

    def list_tokens(self, org_id: int) -> list[TokenRow]:
        c = t.tokens.c
        with self.read() as conn:
            rows = conn.execute(
                select(*_TOKEN_COLUMNS).where(c.org_id == org_id).order_by(c.id)
            ).all()
        return [TokenRow(**r._mapping) for r in rows]

    def revoke_token(self, org_id: int, token_id: int) -> bool:
        c = t.tokens.c
        with self._write_conn() as conn:
            result = conn.execute(
                update(t.tokens)
                .where(c.org_id == org_id, c.id == token_id, c.revoked_at.is_(None))
                .values(revoked_at=now_micros())
            )
        return bool(result.rowcount)


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
        return self._remember(_entity(row))

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
        return self._remember(_entity(row)) if row is not None else None

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
                    self._remember(_entity(row))
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
        digest = event_hash(
            hash_body(
                org_id=org_id,
                seq=seq,
                occurred_at=new.occurred_at,
                recorded_at=now,
                actor=actor,
                action=new.action._value_,
                subject_type=subject_type,
                subject_id=new.subject_id,
                changes=changes,
                before=before,
                after=after,
                context=context,
                scopes=scopes,
                idempotency_key=key,
                schema_version=1,
                prev_hash=prev_hash,
            )
        )
        data = {
            "actor": actor,
            "changes": changes,
            "before": before,
            "after": after,
            "context": context,
            "scopes": scopes,
        }
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
                1,
                prev_hash,
                digest,
                orjson.dumps(data).decode(),
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
            schema_version=1,
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
            row = self.conn.exec_driver_sql(sql, params).one()
            ranks.update(zip(chunk, (int(n or 0) for n in row), strict=True))
        out = []
        for types, scopes, seq, subject in self._scope_rows:
            for st, s in zip(types, scopes, strict=True):
                key = (st, s.id, subject)
                n = ranks[key] = ranks.get(key, 0) + 1
                out.append((org_id, st, s.id, seq, subject, n))
        return out

    def flush(self) -> None:
        """Write new entities and entity states, insert buffered events and scopes, move the
        head."""
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
        self.conn.exec_driver_sql(self.SQL.move_head, (self.last_seq, self.last_hash, self.org_id))
        self._event_rows.clear()
        self._scope_rows.clear()

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

    # The batch writes, as tuples in the column orders of ENTITY_COLUMNS, EVENT_COLUMNS and
    # SCOPE_COLUMNS (and WriteSQL.update_entity's parameters).

    def _insert_entities(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.exec_driver_sql(self.SQL.insert_entities, rows)

    def _update_entities(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.exec_driver_sql(self.SQL.update_entity, rows)

    def _insert_events(self, events: list[tuple[Any, ...]], scopes: list[tuple[Any, ...]]) -> None:
        self.conn.exec_driver_sql(self.SQL.insert_events, events)
        if scopes:
            self.conn.exec_driver_sql(self.SQL.insert_scopes, scopes)
