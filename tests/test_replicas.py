"""Read replicas, on a real primary and a hot standby streaming from it (pg_basebackup -R)
on loopback: requests' reads reach the standby, a token reads its own writes at once, a
cursor never continues on a standby behind it, and a stopped standby sends reads back to
the primary without an error."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine, event, text

from worktrail.app import create_app
from worktrail.config import ConfigError, Settings
from worktrail.context import ReadSession, current_session
from worktrail.model import EventQuery
from worktrail.query import Reader
from worktrail.store import Store, open_store
from worktrail.testing.postgres import PostgresCluster, PostgresError, find_postgres_binary
from worktrail.testing.replication import PostgresStandby

from .conftest import Org, build_tree, make_settings, new_org

DATABASE = "wt_replicas"


@dataclass
class Pair:
    primary: PostgresCluster
    standby: PostgresStandby

    def caught_up(self, timeout: float = 30.0) -> None:
        """Wait until the standby has replayed all the primary has written."""
        with self.primary.connect() as conn:
            target = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
        deadline = time.monotonic() + timeout
        with self.standby.connect() as conn:
            while True:
                row = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                    (target[0] if target else "0/0",),
                ).fetchone()
                if row and row[0]:
                    return
                assert time.monotonic() < deadline, "the standby does not catch up"
                time.sleep(0.05)

    @contextmanager
    def replay_paused(self) -> Iterator[None]:
        with self.standby.connect() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            try:
                yield
            finally:
                conn.execute("SELECT pg_wal_replay_resume()")


def _unavailable(exc: PostgresError) -> NoReturn:
    if os.environ.get("WORKTRAIL_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required but could not be started: {exc}")
    pytest.skip(f"PostgreSQL's server programs are not available: {exc}")


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    try:
        find_postgres_binary("pg_basebackup")
        primary = PostgresCluster().start()
    except PostgresError as exc:
        _unavailable(exc)
    try:
        with primary.connect() as conn:
            # commits flushed (and so streamed) before they return, as in production
            conn.execute("ALTER SYSTEM SET synchronous_commit = on")
            conn.execute("SELECT pg_reload_conf()")
        url = primary.create_database(DATABASE)
        store = open_store(Settings(database_url=url))
        store.migrate()
        store.close()
        standby = PostgresStandby(primary).start()
        try:
            found = Pair(primary, standby)
            found.caught_up()
            yield found
        finally:
            standby.stop()
    finally:
        primary.stop()


@pytest.fixture
def replicated(pair: Pair, tmp_path: Path) -> Iterator[tuple[Store, TestClient]]:
    with replicated_app(pair, tmp_path, max_lag=60) as found:
        yield found


@contextmanager
def replicated_app(pair: Pair, tmp_path: Path, max_lag: int) -> Iterator[tuple[Store, TestClient]]:
    settings = make_settings(
        pair.primary.database_url(DATABASE),
        database_replica_urls=pair.standby.database_url(DATABASE),
        replica_max_lag_seconds=max_lag,
        integrity_key_file=str(tmp_path / "integrity.key"),
    )
    store = open_store(settings)
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as client:
        yield store, client
    store.close()


@pytest.fixture
def org(replicated: tuple[Store, TestClient], pair: Pair) -> Org:
    store, client = replicated
    found = new_org(store, client, "Acme")
    build_tree(found)
    pair.caught_up()
    return found


def standby_name(pair: Pair) -> str:
    return f"127.0.0.1:{pair.standby.port}"


def reads_on(server: str) -> float:
    return REGISTRY.get_sample_value("worktrail_db_reads_total", {"server": server}) or 0.0


def in_recovery(engine: Engine) -> list[bool]:
    """For each statement on `engine` that reads events from now on: whether the server
    of the connection that ran it is in recovery (a standby), asked on that connection."""
    seen: list[bool] = []

    @event.listens_for(engine, "connect")
    def ask(dbapi_conn: Any, record: Any) -> None:
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            record.info["in_recovery"] = cursor.fetchone()[0]
        dbapi_conn.rollback()

    @event.listens_for(engine, "before_cursor_execute")
    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM events" in statement:
            seen.append(conn.info["in_recovery"])

    return seen


@contextmanager
def in_a_request() -> Iterator[ReadSession]:
    session = ReadSession()
    reset = current_session.set(session)
    try:
        yield session
    finally:
        current_session.reset(reset)


def test_requests_read_the_standby_and_everything_else_the_primary(
    replicated: tuple[Store, TestClient], pair: Pair
) -> None:
    store, _ = replicated
    with in_a_request(), store.read() as conn:
        assert conn.scalar(text("SELECT pg_is_in_recovery()")) is True
    with store.read() as conn:  # workers, the CLI: no request
        assert conn.scalar(text("SELECT pg_is_in_recovery()")) is False


def test_a_request_keeps_to_where_it_first_read(org: Org, pair: Pair) -> None:
    store = org.store
    head = store.head_seq(org.id)
    pair.caught_up()
    with pair.replay_paused():
        org.create("tasks", name="Ahead", project=_project(org))
        with in_a_request() as session, store.read() as conn:
            assert conn.scalar(text("SELECT pg_is_in_recovery()")) is True
        assert session.served_by == standby_name(pair)
        with in_a_request():
            # a client's position past the standby: the primary answers, and the rest
            # of the request stays there (what it found there, it finds again)
            assert store.head_seq(org.id, seen=head + 1) == head + 1
            with store.read() as conn:
                assert conn.scalar(text("SELECT pg_is_in_recovery()")) is False
            assert Reader.whole(store, org.id).head() == head + 1


def test_pages_and_exports_reach_the_standby(
    pair: Pair, replicated: tuple[Store, TestClient]
) -> None:
    store, client = replicated
    assert store.replicas is not None
    served = in_recovery(store.replicas.replicas[0].engine)
    on_primary = in_recovery(store.writer)
    writer = new_org(store, client, "Acme")
    build_tree(writer)
    # a token that wrote nothing (the writer's own reads keep to a standby past its writes)
    _, token = writer.user("Reader", role="admin")
    found = Org(writer.id, writer.owner_id, token, client, store)
    pair.caught_up()
    served.clear()
    on_primary.clear()
    before = reads_on(standby_name(pair))
    page = found.get("/api/v1/events", params={"limit": 2})
    assert page.status_code == 200 and len(page.json()["data"]) == 2
    rest = found.get("/api/v1/events", params={"limit": 2, "cursor": page.json()["next_cursor"]})
    assert rest.status_code == 200 and rest.json()["data"]
    export = found.get("/api/v1/events", params={"format": "ndjson"})
    assert export.status_code == 200 and export.text.count("\n") >= 5
    assert served and all(served), served
    assert not on_primary
    assert reads_on(standby_name(pair)) >= before + 3


def test_a_token_reads_its_own_write_at_once(org: Org, pair: Pair) -> None:
    before = reads_on(standby_name(pair))
    for n in range(8):
        task = org.create("tasks", name=f"Written {n}", project=_project(org))
        newest = org.get("/api/v1/events", params={"limit": 1})
        assert newest.status_code == 200
        assert newest.json()["data"][0]["subject"]["id"] == str(task["id"]) or (
            newest.json()["data"][0]["subject"]["id"] == task["id"]
        )
    # the standby kept up, and served (most of) them
    assert reads_on(standby_name(pair)) > before


def test_a_token_that_wrote_skips_a_standby_behind_its_write(org: Org, pair: Pair) -> None:
    _, reader_token = org.user("Reader", role="admin")
    reader = {"Authorization": f"Bearer {reader_token}"}
    pair.caught_up()
    with pair.replay_paused():
        task = org.create("tasks", name="Unreplayed", project=_project(org))
        mine = org.get("/api/v1/events", params={"limit": 1}).json()["data"][0]
        assert mine["subject"]["id"] in (task["id"], str(task["id"]))
        # another token, which wrote nothing, reads the standby: the write is not there
        theirs = org.client.get("/api/v1/events", params={"limit": 1}, headers=reader)
        assert theirs.json()["data"][0]["id"] != mine["id"]
    pair.caught_up()
    theirs = org.client.get("/api/v1/events", params={"limit": 1}, headers=reader)
    assert theirs.json()["data"][0]["id"] == mine["id"]


def test_a_request_that_writes_reads_the_primary(org: Org, pair: Pair) -> None:
    _, other_token = org.user("Other", role="admin")
    other = {"Authorization": f"Bearer {other_token}"}
    pair.caught_up()
    with pair.replay_paused():
        user = org.create("users", name="Fresh", email="fresh@example.test", role="member")
        # another token, which wrote nothing: its reads meet a standby without the user...
        assert org.client.get(f"/api/v1/users/{user['id']}", headers=other).status_code == 404
        # ...but a write checks the user on the primary
        made = org.client.post(
            "/api/v1/tokens", json={"name": "theirs", "user": user["id"]}, headers=other
        )
        assert made.status_code == 201, made.text


def test_a_cursor_never_continues_on_a_standby_behind_it(org: Org, pair: Pair) -> None:
    _, reader_token = org.user("Pager", role="admin")
    reader = {"Authorization": f"Bearer {reader_token}"}
    pair.caught_up()
    with pair.replay_paused():
        for n in range(3):
            org.create("tasks", name=f"Late {n}", project=_project(org))
        # the writer pages from the start, oldest first, on the primary (it just wrote)
        everything = org.get("/api/v1/events", params={"order": "oldest", "limit": 1000})
        events = everything.json()["data"]
        first = org.get("/api/v1/events", params={"order": "oldest", "limit": len(events) - 2})
        cursor = first.json()["next_cursor"]
        # another token goes on from the cursor: past what the standby holds
        rest = org.client.get(
            "/api/v1/events",
            params={"order": "oldest", "limit": 10, "cursor": cursor},
            headers=reader,
        )
        assert rest.status_code == 200
        assert [e["id"] for e in rest.json()["data"]] == [e["id"] for e in events[-2:]]


def test_a_live_feed_woken_by_a_commit_reads_where_the_commit_is(org: Org, pair: Pair) -> None:
    reader = Reader.whole(org.store, org.id)
    position = org.store.head_seq(org.id)
    query = EventQuery(org.id, ascending=True, after_seq=position)
    pair.caught_up()
    with pair.replay_paused():
        org.create("tasks", name="Live", project=_project(org))
        assert org.store.committed_head(org.id) == position + 1
        with in_a_request():  # a request that wrote nothing: the standby, behind the commit
            assert reader.page(query).events == []
            woken = reader.page(query, seen=reader.committed_head())
        assert [e.seq for e in woken.events] == [position + 1]


def test_a_stopped_standby_sends_reads_to_the_primary(org: Org, pair: Pair) -> None:
    assert org.get("/api/v1/events").status_code == 200
    ready = org.client.get("/readyz").json()
    assert ready["replicas"] == {standby_name(pair): "ok"}
    before = reads_on("primary")
    pair.standby.pause()
    try:
        for _ in range(5):
            page = org.get("/api/v1/events", params={"limit": 3})
            assert page.status_code == 200, page.text
            assert len(page.json()["data"]) == 3
        ready = org.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["replicas"] == {standby_name(pair): "down"}
        assert reads_on("primary") >= before + 5
    finally:
        pair.standby.resume()


def test_a_standby_behind_the_bound_gets_no_reads_until_it_catches_up(
    pair: Pair, tmp_path: Path
) -> None:
    with replicated_app(pair, tmp_path, max_lag=1) as (store, client):
        writer = new_org(store, client, "Lagging")
        build_tree(writer)
        _, token = writer.user("Reader", role="admin")
        reader = Org(writer.id, writer.owner_id, token, client, store)
        pair.caught_up()
        name = standby_name(pair)
        assert reader.get("/api/v1/events").status_code == 200
        assert client.get("/readyz").json()["replicas"] == {name: "ok"}
        with pair.replay_paused():
            writer.create("tasks", name="Behind", project=_project(writer))
            with pair.primary.connect() as conn:  # the primary moves on by a segment
                conn.execute("SELECT pg_switch_wal()")
            time.sleep(2.5)
            before = reads_on("primary")
            page = reader.get("/api/v1/events", params={"limit": 1})
            assert page.json()["data"][0]["subject"]["type"] == "task"  # the primary's
            assert reads_on("primary") > before
            assert client.get("/readyz").json()["replicas"] == {name: "lagging"}
        pair.caught_up()
        time.sleep(1.1)
        assert client.get("/readyz").json()["replicas"] == {name: "ok"}
        before = reads_on(name)
        assert reader.get("/api/v1/events").status_code == 200
        assert reads_on(name) > before


def test_replicas_need_postgresql(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        database_replica_urls="postgresql://replica.example/db",
    )
    with pytest.raises(ConfigError, match="database_replica_urls"):
        open_store(settings)


def _workspace(org: Org) -> int:
    return int(org.get("/api/v1/workspaces").json()["data"][0]["id"])


def _project(org: Org) -> int:
    projects = org.get("/api/v1/projects").json()["data"]
    return int(projects[0]["id"])
