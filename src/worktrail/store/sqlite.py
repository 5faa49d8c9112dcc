"""SQLite: the embedded default. One file in WAL mode, one writer connection whose
transactions start with BEGIN IMMEDIATE (so the write lock is taken before anything is
read), and a pool of reader connections that never block on the writer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from ..config import Settings
from .base import Store


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


class SQLiteStore(Store):
    dialect_name = "sqlite"

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
            pool_size=max(4, settings.pool_size),
            max_overflow=16,
            connect_args=connect_args,
        )
        for engine, begin in ((writer, "BEGIN IMMEDIATE"), (reader, "BEGIN")):
            event.listen(engine, "connect", _on_connect)
            event.listen(engine, "begin", lambda conn, sql=begin: conn.exec_driver_sql(sql))
        return writer, reader
