"""The storage interface: `Store`, shared by every database: read connections, write
transactions that append events under the per-organization lock, entity state, tokens and
event queries. SQLiteStore and PostgresStore (sqlite.py, postgres.py) differ in how they
open connections, write their batches and test workspace membership; the rest is shared.
What else lives here: rows.py (what the store hands out), compile.py (EventQuery → SQL),
lookups.py (entity and token statements), writing.py (the write transaction), seek.py
(deep offsets by index seeks), tokens.py (the token methods), replicas.py (which server
serves a read), watching.py (one watcher of every process's commits), and the tables of
webhooks.py, integrity.py and retention.py (docs/architecture.md).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from operator import attrgetter
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    ScalarSelect,
    bindparam,
    func,
    insert,
    select,
    update,
)

from .. import metrics
from ..chain import GENESIS_HASH
from ..config import ConfigError, Settings
from ..context import current_session
from ..diff import now_micros
from ..errors import NotFound, WorktrailError
from ..model import MAX_ID, EntityRow, EntityType, Event, EventQuery, State, StoredEvent
from . import faults, health, lookups
from . import schema as t
from .compile import StatementCache, bound_values, count_statement, page_statement, tally_statement
from .holds import HoldStore
from .integrity import IntegrityStore
from .pool import checkout
from .replicas import PRIMARY, PRIMARY_POSITION, ReplicaSet
from .retention import RetentionStore
from .rows import (
    EVENT_READ_COLUMNS,
    LocatedEntity,
    OrgRow,
    Tally,
    entity_from_row,
    event_from_row,
    org_from_row,
)
from .seek import seek_offset
from .tokens import TokenMethods
from .watching import SharedWatcher
from .webhooks import WebhookStore
from .writing import WriteTransaction

_SEQ_OF = attrgetter("seq")


class Store(TokenMethods):
    """Append-only event store plus current entity state. Thread-safe."""

    dialect_name = "base"
    placeholder = "?"  # the driver's parameter mark, in prebuilt SQL
    # Threads a server process runs requests' blocking work in, when Settings.threads is 0.
    # A client-server database works while the thread waits, so a few more than cores pay:
    # pages under 16 clients on PostgreSQL, 1M events, 2 cores: ~220/s with 2 threads,
    # ~250 with 4, ~190 with 8, ~170 with 16. SQLite sets its own.
    server_threads = 4

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.writer, self.reader = self._create_engines(url, settings)
        self._failures = faults.database_errors(self.writer)
        self.replicas = self._create_replicas(settings)
        self._commit_listeners: list[Callable[[int], None]] = []
        self._watcher = SharedWatcher(self._start_watcher)  # of every process's commits
        self._committed_heads: dict[int, int] = {}
        self._heads_lock = threading.Lock()
        self._page_statements = StatementCache(page_statement)
        self._count_statements = StatementCache(count_statement)
        self._tally_statements = StatementCache(tally_statement)
        self._token_user = lookups.token_user(self._member_workspaces)
        # with replicas, on the primary: with where the primary's log is now (the request's
        # read floor, see replicas.py)
        self._token_user_floor = self._token_user.add_columns(PRIMARY_POSITION.label("position"))
        self._located_entity = lookups.located_entity(self._same_org)
        self._workspaces_of = lookups.workspaces_of(self._same_org)
        self.webhooks = WebhookStore(self, self._upsert)
        self.holds = HoldStore(self)
        self.integrity = IntegrityStore(self, self._upsert, self.placeholder)
        self.retention = RetentionStore(self)

    def add_commit_listener(self, listener: Callable[[int], None]) -> None:
        """Call `listener(org_id)` after each commit of this process that appended events
        (live feeds wake at once instead of waiting for their next poll)."""
        self._commit_listeners.append(listener)

    def watch_commits(self, listener: Callable[[int], None]) -> Callable[[], None] | None:
        """Call `listener(org_id)` after commits of every process, this one included, where
        the database can tell; returns how to stop watching. `listener(0)` means: look at
        every organization (which one is not known, or notices may have been missed).

        However many listen, a process holds one watcher (`_start_watcher`): on PostgreSQL
        one LISTENing connection, on SQLite one thread reading `PRAGMA data_version`."""
        return self._watcher.add(listener)

    def _start_watcher(self, listener: Callable[[int], None]) -> Callable[[], None] | None:
        """Start watching every process's commits for `listener`; how to stop, or None
        where the database cannot tell (then other processes are seen by polling)."""
        return None

    def _announce(self, conn: Connection, org_id: int) -> None:
        """Tell other processes, on commit, that `org_id` has new events (see
        watch_commits); nothing where the database cannot."""

    def committed_head(self, org_id: int) -> int:
        """The newest seq this process has committed in the organization (0: none yet):
        a live feed woken by that commit reads only where it is (read replicas)."""
        return self._committed_heads.get(org_id, 0)

    def _committed(self, org_id: int) -> None:
        for listener in self._commit_listeners:
            listener(org_id)

    # -- what each database does its own way ----------------------------------------------

    def _create_engines(self, url: str, settings: Settings) -> tuple[Engine, Engine]:
        """(writer, reader) engines."""
        raise NotImplementedError

    def _create_replicas(self, settings: Settings) -> ReplicaSet | None:
        """The read replicas the settings name (database_replica_urls), if any."""
        if settings.database_replica_urls.strip():
            raise ConfigError("database_replica_urls needs a PostgreSQL database_url")
        return None

    def _member_workspaces(
        self, org_id: ColumnElement[int], user_id: ColumnElement[int]
    ) -> ScalarSelect[Any]:
        """The ids of the organization's workspaces whose `members` hold the user, as one
        JSON array (see lookups.MemberWorkspaces)."""
        raise NotImplementedError

    def _disk_full(self, error: BaseException) -> bool:
        """Whether the driver's `error` says the database's disk is full."""
        return False

    def _same_org(
        self, column: ColumnElement[int], org_id: ColumnElement[int] | int
    ) -> ColumnElement[bool]:
        """That `column` is the organization `org_id`, in statements that find entities by
        their ids too (their keys begin with the organization: (org_id, id))."""
        return column == org_id

    def _new_entity_id(self, conn: Connection) -> int:
        """A fresh entity id, in the write transaction on `conn`."""
        raise NotImplementedError

    def _upsert(self, table: Any) -> Any:
        """An INSERT of this database that can update on conflict (`on_conflict_do_update`)."""
        raise NotImplementedError

    def _transaction(
        self, conn: Connection, org_id: int, last_seq: int, last_hash: str
    ) -> WriteTransaction:
        """The write transaction of this database (a store may batch its writes its own way)."""
        return WriteTransaction(self, conn, org_id, last_seq, last_hash)

    # -- connections -----------------------------------------------------------------------

    def close(self) -> None:
        self._watcher.close()
        if self.replicas is not None:
            self.replicas.close()
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()

    @contextmanager
    def read(self, at: tuple[int, int] | None = None) -> Iterator[Connection]:
        """A read-only connection in a transaction (one consistent snapshot).

        With read replicas, a request's reads go to a replica fit for them (replicas.py):
        past the request's read floor and, given `at` = (organization, seq), holding that
        organization's history up to seq; else, and outside requests, to the primary."""
        try:
            with self._read_conn(at) as conn:
                yield conn
        except self._failures as exc:
            raise self._failure(exc) from exc

    @contextmanager
    def _read_conn(self, at: tuple[int, int] | None) -> Iterator[Connection]:
        session = current_session.get()
        if self.replicas is not None and session is not None and not session.primary:
            if session.served_by != PRIMARY:
                with self.replicas.connection(session.read_floor, at, session.served_by) as found:
                    if found is not None:
                        replica, conn = found
                        session.served_by = replica.name
                        metrics.DB_READS.labels(replica.name).inc()
                        yield conn
                        return
            session.served_by = PRIMARY
        if self.replicas is not None:
            metrics.DB_READS.labels(PRIMARY).inc()
        with checkout(self.reader, "read") as conn, conn.begin():
            yield conn

    @contextmanager
    def read_primary(self) -> Iterator[Connection]:
        """`read`, on the primary whatever the request."""
        try:
            with checkout(self.writer, "read") as conn, conn.begin():
                yield conn
        except self._failures as exc:
            raise self._failure(exc) from exc

    def replica_states(self) -> dict[str, str]:
        """Each read replica's state: ok, down, lagging, not a standby (none: {})."""
        return {} if self.replicas is None else self.replicas.states()

    @contextmanager
    def _write_conn(self, note: bool = True) -> Iterator[Connection]:
        try:
            with checkout(self.writer, "write") as conn, conn.begin():
                yield conn
                if note:
                    self._note_write(conn)
        except self._failures as exc:
            raise self._failure(exc) from exc

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A write transaction outside any organization's history: bookkeeping tables
        (webhook deliveries) that take no append lock."""
        with self._write_conn() as conn:
            yield conn

    def _failure(self, exc: Exception) -> WorktrailError:
        """The worktrail error for a database failure (StoreError, StorageFull, Conflict):
        the driver's words go to the log, never to the client (see faults.py)."""
        return faults.translate(exc, self.writer, self._disk_full)

    # -- schema ----------------------------------------------------------------------------

    def migrate(self, revision: str | None = None) -> None:
        """Create or upgrade the schema to the newest version (Alembic); given a revision,
        upgrade or downgrade to it (a downgrade drops what later revisions added)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        known = health.revisions()  # newest first
        with self.writer.connect() as conn:
            cfg.attributes["connection"] = conn
            current = health.revision_of(conn)
            if revision is not None and revision not in known:
                raise ValueError(f"unknown schema revision {revision!r}; known: {', '.join(known)}")
            if (
                revision is not None
                and current in known
                and known.index(revision) > known.index(current)
            ):
                command.downgrade(cfg, revision)
            else:
                command.upgrade(cfg, revision or "head")
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

    # -- writing ---------------------------------------------------------------------------

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
                self._announce(conn, org_id)
        if tx.last_seq != head.last_seq:
            metrics.EVENTS_APPENDED.inc(tx.last_seq - head.last_seq)
            with self._heads_lock:
                known = self._committed_heads.get(org_id, 0)
                self._committed_heads[org_id] = max(known, tx.last_seq)
            self._committed(org_id)

    @contextmanager
    def write_new_organization(self, state: State) -> Iterator[tuple[WriteTransaction, int]]:
        """Create an organization (its entity and its head row) and write in its history."""
        now = now_micros()
        with self._write_conn() as conn:
            # the organization is its own entity: its id first, since a row's organization
            # (its distribution column, distribution.py) never changes once it is written
            org_id = self._new_entity_id(conn)
            conn.execute(
                insert(t.entities).values(
                    id=org_id,
                    org_id=org_id,
                    type=EntityType.ORGANIZATION.value,
                    state=orjson.dumps(state).decode(),
                    deleted=False,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
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
        metrics.EVENTS_APPENDED.inc(tx.last_seq)

    # -- organizations ---------------------------------------------------------------------

    def get_org(self, org_id: int) -> OrgRow | None:
        with self.read() as conn:
            row = conn.execute(select(t.orgs).where(t.orgs.c.id == org_id)).first()
        return org_from_row(row) if row else None

    def list_orgs(self) -> list[OrgRow]:
        with self.read() as conn:
            rows = conn.execute(select(t.orgs).order_by(t.orgs.c.id)).all()
        return [org_from_row(r) for r in rows]

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

    # -- entities --------------------------------------------------------------------------

    def get_entity(self, org_id: int, entity_id: int) -> EntityRow | None:
        if not 0 < entity_id <= MAX_ID:
            return None
        with self.read() as conn:
            row = conn.execute(
                select(t.entities).where(
                    t.entities.c.org_id == org_id, t.entities.c.id == entity_id
                )
            ).first()
        return entity_from_row(row) if row else None

    def get_located_entity(self, org_id: int, entity_id: int) -> LocatedEntity | None:
        """The entity and the workspace it lies in now, in one statement."""
        if not 0 < entity_id <= MAX_ID:
            return None
        with self.read() as conn:
            row = conn.execute(
                self._located_entity, {"org_id": org_id, "entity_id": entity_id}
            ).first()
        return LocatedEntity(entity_from_row(row), row.workspace_id) if row else None

    def get_entities(self, org_id: int, ids: Sequence[int]) -> dict[int, EntityRow]:
        wanted = sorted({i for i in ids if 0 < i <= MAX_ID})
        if not wanted:
            return {}
        c = t.entities.c
        with self.read() as conn:
            rows = conn.execute(
                select(t.entities).where(self._same_org(c.org_id, org_id), c.id.in_(wanted))
            ).all()
        return {r.id: entity_from_row(r) for r in rows}

    def workspaces_of(self, org_id: int, ids: Sequence[int]) -> dict[int, int]:
        """The workspace each of these entities lies in now (absent: none, or not an entity
        of this organization), in one statement."""
        wanted = sorted({i for i in ids if 0 < i <= MAX_ID})
        if not wanted:
            return {}
        with self.read() as conn:
            rows = conn.execute(self._workspaces_of, {"org_id": org_id, "ids": wanted}).all()
        return {r.origin: r.id for r in rows}

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
        return [entity_from_row(r) for r in rows]

    # -- events ----------------------------------------------------------------------------

    def get_event(self, org_id: int, seq: int) -> Event | None:
        with self.read() as conn:
            row = conn.execute(
                select(*EVENT_READ_COLUMNS).where(
                    t.events.c.org_id == org_id, t.events.c.seq == seq
                )
            ).first()
        return event_from_row(row) if row else None

    def heads(self, org_ids: Iterable[int]) -> dict[int, int]:
        """The last seq of each of the organizations (those that exist)."""
        wanted = list(org_ids)
        if not wanted:
            return {}
        with self.read() as conn:
            rows = conn.execute(
                select(t.orgs.c.id, t.orgs.c.last_seq).where(t.orgs.c.id.in_(wanted))
            ).all()
        return {int(r.id): int(r.last_seq) for r in rows}

    def head_seq(self, org_id: int, seen: int = 0) -> int:
        """The organization's newest seq, read where it is at least `seen` (a position a
        client holds: a replica behind it does not answer, see `read`)."""
        with self.read((org_id, seen) if seen > 0 else None) as conn:
            value = conn.scalar(select(t.orgs.c.last_seq).where(t.orgs.c.id == org_id))
        return int(value or 0)

    def fetch_events(self, query: EventQuery, seen: int = 0) -> list[Event]:
        """One page of events matching `query`, in its order, at most query.limit + 1 rows;
        read where the organization's history reaches at least seq `seen` (and the query's
        position), see `read`."""
        return [event_from_row(r) for r in self.fetch_stored(query, seen)]

    def fetch_stored(self, query: EventQuery, seen: int = 0) -> list[StoredEvent]:
        """Like fetch_events, as stored rows: for readers that render without parsing."""
        if query.visible_workspaces is not None and not query.visible_workspaces:
            return []
        with self.read(_position(query, seen)) as conn:
            sought = seek_offset(conn, query)
            if sought is None:
                return []
            stmt = self._page_statements(sought)
            rows = list(map(StoredEvent._make, conn.execute(stmt, bound_values(sought)).all()))
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

    def count_matching(self, query: EventQuery) -> int:
        """How many events `query` matches over all its pages (its position, limit and offset
        aside): a count in the database. With newest_per_subject, how many events it keeps."""
        if query.visible_workspaces is not None and not query.visible_workspaces:
            return 0
        stmt = self._count_statements(query)
        with self.read(_position(query)) as conn:
            return int(conn.scalar(stmt, bound_values(query)) or 0)

    def tally(self, query: EventQuery, day_offset: int = 0) -> list[Tally]:
        """How many events `query` matches, by action, subject type, actor and day (the
        days of occurred_at + `day_offset` microseconds): only events after its position
        (`after_seq`, ascending) up to `until_seq` count, so a reader can add the tallies
        of what was committed since to the ones it keeps."""
        if query.visible_workspaces is not None and not query.visible_workspaces:
            return []
        stmt = self._tally_statements(query)
        values = {**bound_values(query), "day_offset": day_offset}
        with self.read(_position(query)) as conn:
            return [Tally(*row) for row in conn.execute(stmt, values).all()]

    def find_entities(
        self, org_id: int, entity_type: EntityType, name: str, limit: int = 20
    ) -> list[EntityRow]:
        """Entities of one type (not deleted) whose name contains `name`, ignoring case,
        in id order: for readers that let people name things instead of giving ids."""
        with self.read() as conn:
            rows = conn.execute(lookups.named_like(org_id, entity_type, name, limit)).all()
        return [entity_from_row(r) for r in rows]

    def count_events(self, org_id: int) -> int:
        with self.read() as conn:
            return int(conn.scalar(select(func.count()).where(t.events.c.org_id == org_id)) or 0)


def _position(query: EventQuery, seen: int = 0) -> tuple[int, int] | None:
    """(organization, seq): the history a store must hold to run `query` as a reader who
    has seen its position expects (a cursor's, a sync token's, a feed's)."""
    seq = max(query.after_seq or 0, query.until_seq or 0, seen)
    return (query.org_id, seq) if seq > 0 else None


_e = t.events.c
_LAST_RECORDED = (
    select(_e.recorded_at)
    .where(_e.org_id == t.orgs.c.id, _e.seq == t.orgs.c.last_seq)
    .scalar_subquery()
)
# the organization's head, locked until commit (see Store.write)
_SELECT_HEAD = (
    select(t.orgs.c.last_seq, t.orgs.c.last_hash, _LAST_RECORDED.label("recorded"))
    .where(t.orgs.c.id == bindparam("org_id"))
    .with_for_update(of=t.orgs)
)
