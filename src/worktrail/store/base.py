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
_INSERT_ENTITY = insert(t.entities).returning(_E.id)
_UPDATE_ENTITY = (
    update(t.entities)
    .where(_E.org_id == bindparam("b_org_id"), _E.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        container_id=bindparam("b_container_id"),
        deleted=bindparam("b_deleted"),
        version=bindparam("b_version"),
        updated_at=bindparam("b_updated_at"),
    )
)
_SELECT_BY_KEY = select(*_EVENT_COLUMNS).where(
    t.events.c.org_id == bindparam("org_id"), t.events.c.idempotency_key == bindparam("key")
)


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


def _first_seq_recorded(org_id: int, at: int) -> ScalarSelect[Any]:
    e = t.events.c
    return (
        select(e.seq)
        .where(e.org_id == org_id, e.recorded_at >= at)
        .order_by(e.recorded_at, e.seq)
        .limit(1)
        .scalar_subquery()
    )


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

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.writer, self.reader = self._create_engines(url, settings)
        self._commit_listeners: list[Callable[[int], None]] = []

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
        e = t.events.c
        last_recorded = (
            select(e.recorded_at)
            .where(e.org_id == t.orgs.c.id, e.seq == t.orgs.c.last_seq)
            .scalar_subquery()
        )
        with self._write_conn() as conn:
            head = conn.execute(
                select(t.orgs.c.last_seq, t.orgs.c.last_hash, last_recorded.label("recorded"))
                .where(t.orgs.c.id == org_id)
                .with_for_update(of=t.orgs)
            ).first()
            if head is None:
                raise NotFound(f"organization {org_id} does not exist")
            tx = WriteTransaction(self, conn, org_id, head.last_seq, head.last_hash)
            # recorded_at never goes back within an organization, even if the clock does, so
            # a recorded-time window is a seq range (seek.py relies on it)
            tx.now = max(tx.now, head.recorded or 0)
            yield tx
            tx.flush()
        if tx.last_seq != head.last_seq:
            self._committed(org_id)

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
            tx = WriteTransaction(self, conn, org_id, 0, GENESIS_HASH)
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
        with self.read() as conn:
            rows = conn.execute(
                select(t.entities).where(
                    t.entities.c.org_id == org_id, t.entities.c.id.in_(sorted(set(ids)))
                )
            ).all()
        return {r.id: _entity(r) for r in rows}

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
            rows = list(map(StoredEvent._make, conn.execute(self._events_select(sought)).all()))
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
            page = page.where(seq > q.after_seq if q.ascending else seq < q.after_seq)
        page = page.order_by(seq.asc() if q.ascending else seq.desc()).limit(q.limit + 1)
        picked = (page.offset(q.offset) if q.offset else page).subquery("page")
        e = t.events
        return (
            select(*_EVENT_COLUMNS)
            .select_from(e.join(picked, e.c.seq == picked.c.seq))
            .where(e.c.org_id == q.org_id)
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
                    s.c.org_id == q.org_id,
                    s.c.scope_type == q.scope.type.value,
                    s.c.scope_id == q.scope.id,
                )
            )
        else:
            seq_col = e.c.seq
            stmt = select(*columns).select_from(e).where(e.c.org_id == q.org_id)
            if q.scope is not None:
                stmt = stmt.where(
                    e.c.subject_type == q.scope.type.value, e.c.subject_id == q.scope.id
                )
        conditions: list[ColumnElement[bool]] = []
        if q.until_seq is not None:
            conditions.append(seq_col <= q.until_seq)
        if q.seqs:
            conditions.append(seq_col.in_(q.seqs))
        if q.subject_types:
            typed = t.event_scopes.c if q.scope is not None and q.descendants else e.c
            conditions.append(typed.subject_type.in_(q.subject_types))
        if q.subject_ids:
            conditions.append(e.c.subject_id.in_(q.subject_ids))
        if q.actions:
            conditions.append(e.c.action.in_(q.actions))
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
            conditions.append(e.c.actor_id.in_(q.actor_ids))
        if q.occurred_from is not None:
            conditions.append(e.c.occurred_at >= q.occurred_from)
        if q.occurred_to is not None:
            conditions.append(e.c.occurred_at < q.occurred_to)
        # recorded_at never goes back within an organization (Store.write): a recorded-time
        # window is the seq range from the first event recorded in it, found with one seek
        if q.recorded_from is not None:
            conditions.append(seq_col >= _first_seq_recorded(q.org_id, q.recorded_from))
        if q.recorded_to is not None:
            conditions.append(
                seq_col < func.coalesce(_first_seq_recorded(q.org_id, q.recorded_to), MAX_SEQ)
            )
        if q.visible_workspaces is not None:
            v = t.event_scopes.alias("visible")
            conditions.append(
                exists().where(
                    v.c.org_id == e.c.org_id,
                    v.c.scope_type == EntityType.WORKSPACE.value,
                    v.c.scope_id.in_(sorted(q.visible_workspaces)),
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
        if query.newest_per_subject is not None:
            stmt = select(func.count()).select_from(self._newest_seqs(query))
        else:
            stmt, _ = self._matching(query, func.count())
        with self.read() as conn:
            return int(conn.scalar(stmt) or 0)

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

    Appended events are buffered and inserted in one batch when the transaction ends.
    """

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
        self._event_rows: list[dict[str, Any]] = []
        self._scope_rows: list[dict[str, Any]] = []
        self._ranks: dict[tuple[str, int, str], int] = {}  # last n per scope and subject type
        self._pending_keys: dict[str, Event] = {}
        self._absent_keys: set[str] = set()
        self._absent_external: set[tuple[EntityType, str]] = set()

    # entities

    def get_entity(self, entity_id: int) -> EntityRow | None:
        if not 0 < entity_id <= MAX_ID:
            return None
        if entity_id in self._cache:
            return self._cache[entity_id]
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

    def insert_entity(
        self,
        entity_type: EntityType,
        state: State,
        container_id: int | None,
        external_id: str | None = None,
    ) -> EntityRow:
        entity_id = self.conn.execute(
            _INSERT_ENTITY,
            {
                "org_id": self.org_id,
                "type": entity_type.value,
                "container_id": container_id,
                "external_id": external_id,
                "state": orjson.dumps(state).decode(),
                "deleted": False,
                "version": 1,
                "created_at": self.now,
                "updated_at": self.now,
            },
        ).scalar_one()
        return self._remember(
            EntityRow(
                entity_id,
                self.org_id,
                entity_type,
                container_id,
                external_id,
                state,
                False,
                1,
                self.now,
                self.now,
            )
        )

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
        c = t.events.c
        wanted = sorted(set(keys) - set(self._pending_keys))
        for chunk in _chunks(wanted):
            rows = self.conn.execute(
                select(*_EVENT_COLUMNS).where(c.org_id == self.org_id, c.idempotency_key.in_(chunk))
            ).all()
            for row in rows:
                self._pending_keys[row.idempotency_key] = event_from_row(row)
            self._absent_keys.update(set(chunk) - {r.idempotency_key for r in rows})
        by_type: dict[EntityType, set[str]] = {}
        for entity_type, external_id in external:
            if (entity_type, external_id) not in self._external:
                by_type.setdefault(entity_type, set()).add(external_id)
        for entity_type, ids in by_type.items():
            for chunk in _chunks(sorted(ids)):
                rows = self.conn.execute(
                    select(t.entities).where(
                        _E.org_id == self.org_id,
                        _E.type == entity_type.value,
                        _E.external_id.in_(chunk),
                    )
                ).all()
                for row in rows:
                    self._remember(_entity(row))
                found = {r.external_id for r in rows}
                self._absent_external.update((entity_type, x) for x in chunk if x not in found)

    def append(self, new: NewEvent) -> Event:
        """Give `new` the next seq and its hash link; it is written when the transaction ends."""
        seq = self.last_seq + 1
        actor = new.actor.to_json() if new.actor else None
        scopes = [str(s) for s in dict.fromkeys(new.scopes)]
        body = hash_body(
            org_id=self.org_id,
            seq=seq,
            occurred_at=new.occurred_at,
            recorded_at=self.now,
            actor=actor,
            action=new.action.value,
            subject_type=new.subject_type.value,
            subject_id=new.subject_id,
            changes=new.changes,
            before=new.before,
            after=new.after,
            context=new.context,
            scopes=scopes,
            idempotency_key=new.idempotency_key,
            schema_version=1,
            prev_hash=self.last_hash,
        )
        digest = event_hash(body)
        data = {
            "actor": actor,
            "changes": new.changes,
            "before": new.before,
            "after": new.after,
            "context": new.context,
            "scopes": scopes,
        }
        self._event_rows.append(
            {
                "org_id": self.org_id,
                "seq": seq,
                "occurred_at": new.occurred_at,
                "recorded_at": self.now,
                "actor_id": new.actor.id if new.actor else None,
                "action": new.action.value,
                "subject_type": new.subject_type.value,
                "subject_id": new.subject_id,
                "idempotency_key": new.idempotency_key,
                "schema_version": 1,
                "prev_hash": self.last_hash,
                "hash": digest,
                "data": orjson.dumps(data).decode(),
            }
        )
        subject_type = new.subject_type.value
        for s in dict.fromkeys(new.scopes):
            self._scope_rows.append(
                {
                    "org_id": self.org_id,
                    "scope_type": s.type.value,
                    "scope_id": s.id,
                    "seq": seq,
                    "subject_type": subject_type,
                }
            )
        event = Event(
            org_id=self.org_id,
            seq=seq,
            occurred_at=new.occurred_at,
            recorded_at=self.now,
            actor=new.actor,
            action=new.action,
            subject_type=new.subject_type,
            subject_id=new.subject_id,
            changes=tuple(new.changes),
            before=new.before,
            after=new.after,
            context=new.context,
            scopes=tuple(dict.fromkeys(new.scopes)),
            idempotency_key=new.idempotency_key,
            prev_hash=self.last_hash,
            hash=digest,
        )
        if new.idempotency_key:
            self._pending_keys[new.idempotency_key] = event
        self.last_seq = seq
        self.last_hash = digest
        return event

    def _rank_scope_rows(self) -> None:
        """Give each buffered scope row its rank `n` among its scope's events of its subject
        type: the last rank of each (scope, subject type) is read once per transaction (a
        seek on ix_event_scopes_kind, many per statement) and counted on from there."""
        keys = {(r["scope_type"], r["scope_id"], r["subject_type"]) for r in self._scope_rows}
        missing = sorted(keys - self._ranks.keys())
        s = t.event_scopes.c
        for chunk in _chunks(missing, 200):
            last = [
                select(s.n)
                .where(
                    s.org_id == self.org_id,
                    s.scope_type == scope_type,
                    s.scope_id == scope_id,
                    s.subject_type == subject_type,
                )
                .order_by(s.seq.desc())
                .limit(1)
                .scalar_subquery()
                for scope_type, scope_id, subject_type in chunk
            ]
            row = self.conn.execute(select(*last)).one()
            self._ranks.update(zip(chunk, (int(n or 0) for n in row), strict=True))
        ranks = self._ranks
        for r in self._scope_rows:
            key = (r["scope_type"], r["scope_id"], r["subject_type"])
            ranks[key] = r["n"] = ranks[key] + 1

    def flush(self) -> None:
        """Write buffered entity states, insert buffered events and scopes, move the head."""
        if self._dirty:
            self.conn.execute(
                _UPDATE_ENTITY,
                [
                    {
                        "b_org_id": self.org_id,
                        "b_id": e.id,
                        "b_state": orjson.dumps(e.state).decode(),
                        "b_container_id": e.container_id,
                        "b_deleted": e.deleted,
                        "b_version": e.version,
                        "b_updated_at": e.updated_at,
                    }
                    for e in self._dirty.values()
                ],
            )
            self._dirty.clear()
        if not self._event_rows:
            return
        self._rank_scope_rows()
        self.conn.execute(insert(t.events), self._event_rows)
        self.conn.execute(insert(t.event_scopes), self._scope_rows)
        self.conn.execute(
            update(t.orgs)
            .where(t.orgs.c.id == self.org_id)
            .values(last_seq=self.last_seq, last_hash=self.last_hash)
        )
        self._event_rows.clear()
        self._scope_rows.clear()
