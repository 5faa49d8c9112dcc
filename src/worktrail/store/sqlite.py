"""SQLite: the embedded default. One file in WAL mode, one writer connection whose
transactions start with BEGIN IMMEDIATE (so the write lock is taken before anything is
read), and a pool of reader connections that never block on the writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    ScalarSelect,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import QueuePool

from ..config import Settings
from ..model import EntityType
from . import schema as t
from .base import Store
from .data_version import DataVersionWatcher
from .location import sqlite_path
from .writing import WriteTransaction

# Page cache per connection, in KiB. Readers are many and mostly walk indexes in order, and
# the operating system caches the file for all of them; the writer revisits the same pages.
WRITER_CACHE_KIB = 32768
READER_CACHE_KIB = 8192
# Threads of a server process that run requests' blocking work at once (Settings.threads
# 0). Python runs one thread at a time and SQLite's work happens in this process, so more
# threads only contend: under 16 clients a page was served 365 times a second by one
# thread, 300 by two, 220 by four and 90 by forty, which burned 1.4 cores doing it. Two,
# so that one slow request (a Kantata or Worksection window) does not hold up the rest.
SERVER_THREADS = 2
# entities' next id: after the largest rowid (`id INTEGER PRIMARY KEY`), one seek
_NEXT_ID = "SELECT coalesce(max(id), 0) + 1 FROM entities"


def _on_connect(cache_kib: int) -> Any:
    def configure(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute(f"PRAGMA cache_size=-{cache_kib}")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    return configure


def _begin_with(statement: str) -> Any:
    """A "begin" listener that sends `statement` on the driver's connection directly: every
    read starts a transaction, and SQLAlchemy's execution path costs more than the BEGIN."""

    def begin(conn: Connection) -> None:
        conn.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]

    return begin


class SQLiteWriteTransaction(WriteTransaction):
    def _allocate_entity_ids(self, count: int) -> list[int]:
        # The writer holds the database's write lock from BEGIN IMMEDIATE to commit, so no
        # one else inserts meanwhile: ids go on from the largest in use, as SQLite itself
        # would choose them (rowids of entities, which are never removed), past those
        # handed out in this transaction and not yet written.
        top = self.conn.exec_driver_sql(_NEXT_ID).scalar_one() - 1
        start = max(int(top), max(self._new, default=0), max(self._id_pool, default=0)) + 1
        return list(range(start, start + count))


class SQLiteStore(Store):
    def _upsert(self, table: Any) -> Any:
        return sqlite_insert(table)

    def _same_org(
        self, column: ColumnElement[int], org_id: ColumnElement[int] | int
    ) -> ColumnElement[bool]:
        # An expression of the column, not the column, so that SQLite's planner finds the
        # entities by id (its rowid: `org_id = ? AND id IN (...)` walked the organization's
        # whole entity index instead, 48 ms for 20 ids among 300,000 entities) and checks
        # their organization on the row.
        return column + 0 == org_id

    def _new_entity_id(self, conn: Connection) -> int:
        # the one writer holds the write lock: the next id, as SQLite would choose it
        return int(conn.exec_driver_sql(_NEXT_ID).scalar_one())

    dialect_name = "sqlite"
    server_threads = SERVER_THREADS

    def _transaction(
        self, conn: Connection, org_id: int, last_seq: int, last_hash: str
    ) -> WriteTransaction:
        return SQLiteWriteTransaction(self, conn, org_id, last_seq, last_hash)

    def _member_workspaces(
        self, org_id: ColumnElement[int], user_id: ColumnElement[int]
    ) -> ScalarSelect[Any]:
        # json_each joined to its workspace row (not in a nested EXISTS), so that the user
        # column correlates with the statement this is part of
        w = t.entities.alias("member_of")
        members = func.json_each(w.c.state, "$.members").table_valued("value").alias("member")
        return (
            select(func.json_group_array(w.c.id))
            .select_from(w.join(members, members.c.value == user_id))
            .where(w.c.org_id == org_id, w.c.type == EntityType.WORKSPACE.value)
            .scalar_subquery()
        )

    def _start_watcher(self, listener: Callable[[int], None]) -> Callable[[], None] | None:
        path, every = sqlite_path(self.url), self.settings.commit_watch_ms
        if path is None or every <= 0:
            return None
        return DataVersionWatcher(path, listener, every / 1000).close

    def _disk_full(self, error: BaseException) -> bool:
        # SQLITE_FULL, "database or disk is full", in the primary result code
        code = getattr(error, "sqlite_errorcode", 0) if isinstance(error, sqlite3.Error) else 0
        return code & 0xFF == sqlite3.SQLITE_FULL

    def _create_engines(self, url: str, settings: Settings) -> tuple[Engine, Engine]:
        if ":memory:" in url or url.rstrip("/") == "sqlite:":
            raise ValueError("worktrail needs an SQLite file, not an in-memory database")
        connect_args = {"check_same_thread": False, "timeout": 30}
        writer = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            connect_args=connect_args,
        )
        reader = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=max(settings.pool_size, settings.threads),
            max_overflow=32,  # exports' read-ahead and live feeds, beyond the thread pool
            # the most recently used connection first: each has its own page cache, and a
            # queue would hand out the coldest one
            pool_use_lifo=True,
            connect_args=connect_args,
        )
        for engine, begin, cache in (
            (writer, "BEGIN IMMEDIATE", WRITER_CACHE_KIB),
            (reader, "BEGIN", READER_CACHE_KIB),
        ):
            event.listen(engine, "connect", _on_connect(cache))
            event.listen(engine, "begin", _begin_with(begin))
        return writer, reader
