"""Pooled PostgreSQL connections are tested before use only after a second idle: one whose
server process is gone is replaced without an error once it has been idle, and one used a
moment ago is handed out untested (what saves the round trip on every read)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from worktrail.store.liveness import ping_when_idle
from worktrail.store.postgres import normalize_url
from worktrail.testing.postgres import PostgresServer

IDLE = 0.3


@pytest.fixture
def engine(postgres_server: PostgresServer | None) -> Iterator[Engine]:
    if postgres_server is None:
        pytest.skip("no PostgreSQL server")
    engine = create_engine(normalize_url(postgres_server.url), pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle=IDLE)
    yield engine
    engine.dispose()


def pooled_backend(engine: Engine) -> int:
    """The server process behind the pool's one connection."""
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT pg_backend_pid()")))


def terminate(engine: Engine, pid: int) -> None:
    """End the server process `pid` from a connection of its own."""
    other = create_engine(engine.url)
    with other.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()
    time.sleep(0.05)


def test_an_idle_connection_whose_server_is_gone_is_replaced(engine: Engine) -> None:
    pid = pooled_backend(engine)
    terminate(engine, pid)
    time.sleep(IDLE + 0.1)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT 1")) == 1
        assert conn.scalar(text("SELECT pg_backend_pid()")) != pid


def test_a_connection_used_a_moment_ago_is_not_tested(engine: Engine) -> None:
    pid = pooled_backend(engine)
    terminate(engine, pid)  # within the idle time: handed out as it is
    with pytest.raises(DBAPIError), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert pooled_backend(engine) != pid  # and the pool connects anew after the failure
