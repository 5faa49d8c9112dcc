"""SQLite: the embedded default. One file in WAL mode, one writer connection whose
transactions start with BEGIN IMMEDIATE (so the write lock is taken before anything is
read), and a pool of reader connections that never block on the writer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from ..config import Settings
from .base import Store, WriteTransaction

# Page cache per connection, in KiB. Readers are many and mostly walk indexes in order, and
# the operating system caches the file for all of them; the writer revisits the same pages.
WRITER_CACHE_KIB = 32768
READER_CACHE_KIB = 8192
# Reader connections kept open: as many as the server runs blocking calls at once (the
# thread pool of a sync endpoint). A connection closed for want of room in the pool takes
# its warm page cache with it, and the next one pays for opening and configuring again.
READER_POOL = 40


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
        top = self.conn.exec_driver_sql("SELECT max(id) FROM entities").scalar()
        start = max(int(top or 0), max(self._new, default=0), max(self._id_pool, default=0)) + 1
        return list(range(start, start + count))


class SQLiteStore(Store):
    dialect_name = "sqlite"

    def _transaction(
        self, conn: Connection, org_id: int, last_seq: int, last_hash: str
    ) -> WriteTransaction:
        return SQLiteWriteTransaction(self, conn, org_id, last_seq, last_hash)

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
            pool_size=max(READER_POOL, settings.pool_size),
            max_overflow=24,  # exports' read-ahead threads, beyond the thread pool
            connect_args=connect_args,
        )
        for engine, begin, cache in (
            (writer, "BEGIN IMMEDIATE", WRITER_CACHE_KIB),
            (reader, "BEGIN", READER_CACHE_KIB),
        ):
            event.listen(engine, "connect", _on_connect(cache))
            event.listen(engine, "begin", _begin_with(begin))
        return writer, reader
