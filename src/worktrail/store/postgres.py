"""PostgreSQL: production. psycopg 3 through SQLAlchemy, one connection pool; each write
transaction locks its organization's head row (SELECT ... FOR UPDATE, see Store.write)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import psycopg
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    ScalarSelect,
    cast,
    create_engine,
    func,
    make_url,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert

from ..config import ConfigError, Settings
from ..diff import now_micros
from ..model import EntityType, State
from . import schema as t
from .base import Store
from .compile import StatementCache, page_statement
from .notify import NOTIFY, CommitWatcher
from .partitions import ahead, ensure_partitions, horizon, partitioned
from .replicas import Replica, ReplicaSet
from .retention_pg import PostgresRetention
from .rows import EVENT_READ_NAMES
from .writing import (
    ENTITY_INSERT_COLUMNS,
    EVENT_INSERT_COLUMNS,
    NODE_INSERT_COLUMNS,
    SCOPE_INSERT_COLUMNS,
    WriteSQL,
    WriteTransaction,
)

_COPY_EVENTS = f"COPY events ({', '.join(EVENT_INSERT_COLUMNS)}) FROM STDIN"
# event_scopes carries its event's recorded_at here: the partition key (partitions.py)
_COPY_SCOPES = f"COPY event_scopes ({', '.join(SCOPE_INSERT_COLUMNS)}, recorded_at) FROM STDIN"
_EVENT_SEQ, _RECORDED = EVENT_INSERT_COLUMNS.index("seq"), EVENT_INSERT_COLUMNS.index("recorded_at")
_SCOPE_SEQ = SCOPE_INSERT_COLUMNS.index("seq")
_COPY_ENTITIES = f"COPY entities ({', '.join(ENTITY_INSERT_COLUMNS)}) FROM STDIN"
_COPY_NODES = f"COPY merkle_nodes ({', '.join(NODE_INSERT_COLUMNS)}) FROM STDIN"
# A batch's lookups by idempotency key and by external id: one probe of the unique index per
# value (a lateral join), whatever the planner's statistics say. With `IN (...)` a young or
# unanalyzed table gets a plan that filters all of the organization's rows, per batch; and
# without the LIMIT 1 (which the unique index makes redundant to the result, not to the
# planner) a lateral join still hash-joined every entity of the type once the table grew.
_EVENTS_BY_KEYS = (
    f"SELECT {', '.join('e.' + c for c in EVENT_READ_NAMES)} "
    "FROM unnest(%s::text[]) AS k(key) CROSS JOIN LATERAL ("
    f"SELECT {', '.join(EVENT_READ_NAMES)} FROM events "
    "WHERE org_id = %s AND idempotency_key = k.key LIMIT 1) AS e"
)
_ENTITIES_BY_EXTERNAL = (
    f"SELECT {', '.join('e.' + c for c in ENTITY_INSERT_COLUMNS)} "
    "FROM unnest(%s::text[]) AS k(external_id) CROSS JOIN LATERAL ("
    f"SELECT {', '.join(ENTITY_INSERT_COLUMNS)} FROM entities "
    "WHERE org_id = %s AND type = %s AND external_id = k.external_id LIMIT 1) AS e"
)
CONNECT_TIMEOUT = {"connect_timeout": 5}  # seconds
# a write this close to the end of the partitions first makes the next ones
PARTITION_MARGIN = 86_400_000_000
# a replica that does not answer has its reads go elsewhere sooner
REPLICA_TIMEOUT = {"connect_timeout": 2}
POOLERS = ("", "pgbouncer")
_NEXT_IDS = "SELECT nextval(pg_get_serial_sequence('entities', 'id')) FROM generate_series(1, %s)"


def normalize_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class PostgresWriteTransaction(WriteTransaction):
    """Batches go in by COPY, the fastest way into PostgreSQL, inside the transaction."""

    SQL = WriteSQL().with_placeholder("%s")

    def _allocate_entity_ids(self, count: int) -> list[int]:
        return [int(i) for i in self.conn.exec_driver_sql(_NEXT_IDS, (count,)).scalars()]

    def _events_by_keys(self, keys: list[str]) -> Sequence[Any]:
        return self.conn.exec_driver_sql(_EVENTS_BY_KEYS, (keys, self.org_id)).all()

    def _entities_by_external(self, entity_type: str, external_ids: list[str]) -> Sequence[Any]:
        return self.conn.exec_driver_sql(
            _ENTITIES_BY_EXTERNAL, (external_ids, self.org_id, entity_type)
        ).all()

    def _insert_entities(self, rows: list[tuple[Any, ...]]) -> None:
        self._copy(_COPY_ENTITIES, rows)

    def _last_ranks(self, sql: str, params: tuple[Any, ...], count: int) -> Sequence[Any]:
        """A few ranks (a single write's) are read unprepared: psycopg prepares a statement
        from its fifth run, and the generic plan PostgreSQL then keeps for these lookups
        over the monthly partitions took 7-9 ms for a write's four, against 1.4 ms planned
        with the values. A batch's hundreds keep the prepared plan, whose planning they
        would otherwise repeat each time."""
        if count > FEW_RANKS:
            return super()._last_ranks(sql, params, count)
        driver = self.conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        with driver.cursor() as cursor:
            row: tuple[Any, ...] | None = cursor.execute(sql, params, prepare=False).fetchone()
        assert row is not None
        return row

    def _insert_events(self, events: list[tuple[Any, ...]], scopes: list[tuple[Any, ...]]) -> None:
        self._copy(_COPY_EVENTS, events)
        if scopes:
            recorded = {row[_EVENT_SEQ]: row[_RECORDED] for row in events}
            self._copy(_COPY_SCOPES, [(*row, recorded[row[_SCOPE_SEQ]]) for row in scopes])

    def _insert_nodes(self, nodes: list[tuple[Any, ...]]) -> None:
        self._copy(_COPY_NODES, nodes)

    def _copy(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        driver = self.conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        # the driver's errors, unwrapped here, are translated where every write's are
        # (Store._write_conn)
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


FEW_RANKS = 16  # a single write's scopes by subject type, with room to spare


class PostgresStore(Store):
    def __init__(self, url: str, settings: Settings) -> None:
        super().__init__(url, settings)
        self.retention = PostgresRetention(self)
        self._partitions_until = 0  # events of a time before this have a partition
        self._page_statements = StatementCache(partial(page_statement, partitioned=True))

    def _upsert(self, table: Any) -> Any:
        return postgresql_insert(table)

    def _new_entity_id(self, conn: Connection) -> int:
        return int(conn.exec_driver_sql(_NEXT_IDS, (1,)).scalar_one())

    @contextmanager
    def write(self, org_id: int) -> Iterator[WriteTransaction]:
        self.ensure_partitions(now_micros())
        with super().write(org_id) as tx:
            yield tx

    @contextmanager
    def write_new_organization(self, state: State) -> Iterator[tuple[WriteTransaction, int]]:
        self.ensure_partitions(now_micros())
        with super().write_new_organization(state) as made:
            yield made

    def ensure_partitions(self, now: int) -> None:
        """Partitions for events recorded at `now`, and AHEAD_MONTHS beyond, made first
        when missing: in a transaction of their own, before the write that needs them
        (one that held the organization's lock would wait on the readers of the table)."""
        if now + PARTITION_MARGIN < self._partitions_until:
            return
        with self._write_conn() as conn:
            if not partitioned(conn):
                self._partitions_until = 1 << 62  # a schema from before (being migrated)
                return
            until = horizon(conn)
            if now + PARTITION_MARGIN >= until:
                until = ensure_partitions(conn, now, ahead(now))
        self._partitions_until = until

    dialect_name = "postgresql"
    placeholder = "%s"

    def _transaction(
        self, conn: Connection, org_id: int, last_seq: int, last_hash: str
    ) -> WriteTransaction:
        return PostgresWriteTransaction(self, conn, org_id, last_seq, last_hash)

    def _member_workspaces(
        self, org_id: ColumnElement[int], user_id: ColumnElement[int]
    ) -> ScalarSelect[Any]:
        w = t.entities.alias("member_of")
        members = cast(w.c.state, JSONB)["members"]
        return (
            select(func.json_agg(w.c.id))
            .where(
                w.c.org_id == org_id,
                w.c.type == EntityType.WORKSPACE.value,
                members.contains(func.to_jsonb(user_id)),
            )
            .scalar_subquery()
        )

    def _start_watcher(self, listener: Callable[[int], None]) -> Callable[[], None] | None:
        # LISTEN needs a session of its own: through a pooler in transaction mode the
        # server connection changes under it, so only a direct connection will do
        if self.settings.database_listen_url:
            url = make_url(normalize_url(self.settings.database_listen_url))
        elif self.settings.database_pooler:
            return None
        else:
            url = self.writer.url
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return CommitWatcher(dsn, listener).close

    def _announce(self, conn: Connection, org_id: int) -> None:
        conn.exec_driver_sql(NOTIFY, (str(org_id),))

    def _disk_full(self, error: BaseException) -> bool:
        return isinstance(error, psycopg.errors.DiskFull)  # SQLSTATE 53100

    def _create_engines(self, url: str, settings: Settings) -> tuple[Engine, Engine]:
        engine = _engine(url, settings)
        return engine, engine

    def _create_replicas(self, settings: Settings) -> ReplicaSet | None:
        urls = [u.strip() for u in settings.database_replica_urls.split(",") if u.strip()]
        if not urls:
            return None
        replicas = [Replica(_server_name(u), _engine(u, settings, REPLICA_TIMEOUT)) for u in urls]
        return ReplicaSet(replicas, self.writer, settings.replica_max_lag_seconds, self._failures)


def _engine(url: str, settings: Settings, timeout: dict[str, int] = CONNECT_TIMEOUT) -> Engine:
    """An engine (a pool of connections) to one server, the primary or a replica.

    Every connection is tested as it leaves the pool (a round trip, 0.1-0.2 ms): a server
    that restarted since the connection's last use (a crash, a full disk's recovery, a
    stopped replica) then costs no request an error. Testing only connections idle for a
    second was measured and dropped: a request then met the dead connections of a server
    that had restarted within that second."""
    if settings.database_pooler not in POOLERS:
        raise ConfigError(
            f"database_pooler must be empty or pgbouncer, got {settings.database_pooler!r}"
        )
    url = normalize_url(url)
    # A database host that drops packets, or a server that accepts and never answers,
    # would hold each request until TCP gives up (minutes); it is an outage (503) once
    # this has passed. A connect_timeout in the URL wins.
    connect_args: dict[str, Any] = {} if "connect_timeout" in make_url(url).query else dict(timeout)
    if settings.database_pooler == "pgbouncer":
        # PgBouncer in transaction mode hands each transaction whichever server connection
        # is free: a statement psycopg prepared on one is unknown on the next (PgBouncer
        # 1.21 can track them, Debian 12's 1.18 cannot), so none is prepared
        connect_args["prepare_threshold"] = None
    engine = create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size * 2,
        pool_timeout=60,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    return engine


def _server_name(url: str) -> str:
    """host:port of a database URL (no user, password or database)."""
    parsed = make_url(normalize_url(url))
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
