"""worktrail behind PgBouncer in transaction mode (Debian's pgbouncer): every transaction
may meet another server connection, so nothing may rest on a connection's session — no
server-side prepared statements (database_pooler = pgbouncer turns psycopg's off), no
LISTEN through it (database_listen_url names a direct connection for commit notices)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.config import ConfigError
from worktrail.store import Store, open_store
from worktrail.testing.postgres import PostgresError, PostgresServer
from worktrail.testing.replication import PgBouncer, find_pgbouncer

from .conftest import build_tree, make_settings, new_org

_names = iter(range(1_000_000))


@pytest.fixture(scope="module")
def bouncer(postgres_server: PostgresServer | None) -> Iterator[PgBouncer]:
    if postgres_server is None:
        pytest.skip("PostgreSQL is not available (set WORKTRAIL_TEST_DATABASE_URL)")
    try:
        find_pgbouncer()
    except PostgresError as exc:
        if os.environ.get("WORKTRAIL_REQUIRE_POSTGRES") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    with PgBouncer(postgres_server.url, pool_size=3) as running:
        yield running


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"wt_bouncer_{os.getpid()}_{next(_names)}"
    postgres_server.create_database(name, template="wt_template")
    yield name
    postgres_server.drop_database(name)


def _app(url: str, tmp_path: Path, **overrides: str) -> tuple[Store, TestClient]:
    settings = make_settings(
        url, integrity_key_file=str(tmp_path / "integrity.key"), pool_size=4, **overrides
    )
    store = open_store(settings)
    return store, TestClient(create_app(settings, store), raise_server_exceptions=False)


def test_writes_and_reads_through_pgbouncer_in_transaction_mode(
    bouncer: PgBouncer, database: str, tmp_path: Path
) -> None:
    store, client = _app(bouncer.database_url(database), tmp_path, database_pooler="pgbouncer")
    with client:
        org = new_org(store, client)
        tree = build_tree(org)
        start = len(org.get("/api/v1/events", params={"limit": 1000}).json()["data"])
        errors: list[str] = []

        def work(n: int) -> None:
            # the same statements many times over (psycopg would prepare them by the 5th)
            for i in range(12):
                made = org.post(
                    "/api/v1/tasks", json={"name": f"T{n}.{i}", "project": tree.project}
                )
                page = org.get("/api/v1/events", params={"limit": 5})
                for response in (made, page):
                    if response.status_code >= 400:
                        errors.append(f"{response.status_code} {response.text[:200]}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        everything = org.get("/api/v1/events", params={"limit": 1000}).json()["data"]
        assert len({e["id"] for e in everything}) == start + 4 * 12
    store.close()


def test_commit_notices_come_over_the_direct_connection(
    bouncer: PgBouncer, database: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    direct = postgres_server.database_url(database)
    store, client = _app(
        bouncer.database_url(database),
        tmp_path,
        database_pooler="pgbouncer",
        database_listen_url=direct,
    )
    heard: list[int] = []
    woken = threading.Event()

    def listener(org_id: int) -> None:
        heard.append(org_id)
        if org_id:
            woken.set()

    with client:
        org = new_org(store, client)
        stop = store.watch_commits(listener)
        assert stop is not None
        try:
            deadline = time.monotonic() + 10
            while 0 not in heard and time.monotonic() < deadline:  # listening
                time.sleep(0.05)
            org.create("workspaces", name="Noticed", members=[org.owner_id])
            assert woken.wait(10), heard
            assert org.id in heard
        finally:
            stop()
    store.close()


def test_behind_a_pooler_without_a_direct_url_other_processes_are_polled(
    bouncer: PgBouncer, database: str, tmp_path: Path
) -> None:
    store, client = _app(bouncer.database_url(database), tmp_path, database_pooler="pgbouncer")
    with client:
        assert store.watch_commits(lambda _org: None) is None
    store.close()


def test_an_unknown_pooler_is_refused(
    tmp_path: Path, postgres_server: PostgresServer | None
) -> None:
    if postgres_server is None:
        pytest.skip("PostgreSQL is not available")
    settings = make_settings(postgres_server.url, database_pooler="odyssey")
    with pytest.raises(ConfigError, match="database_pooler"):
        open_store(settings)
