"""/healthz and /readyz: liveness of the process, readiness of its database, schema and
background workers, each failing part named."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.config import Settings
from worktrail.store import Store, open_store
from worktrail.store.health import head_revision
from worktrail.testing.postgres import PostgresCluster, PostgresError

from .conftest import make_settings


def set_revision(store: Store, revision: str) -> None:
    """Record another schema revision, as an older worktrail's migrations would have."""
    with store.writer.begin() as conn:
        conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{revision}'")


def test_both_answer_without_credentials_and_stay_out_of_the_api_document(
    client: TestClient,
) -> None:
    live = client.get("/healthz")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}
    assert ready.headers["x-request-id"]
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/healthz", "/readyz", "/metrics"} & set(paths)


def test_a_schema_behind_this_version_is_not_ready(client: TestClient, store: Store) -> None:
    set_revision(store, "0005")
    live, ready = client.get("/healthz"), client.get("/readyz")
    assert live.status_code == 200  # the process is fine: nothing to restart
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unready" and body["checks"]["database"] == "ok"
    assert body["checks"]["schema"] == (
        f"at 0005, expected {head_revision()}: run `worktrail migrate`"
    )
    set_revision(store, head_revision())
    assert client.get("/readyz").status_code == 200


def test_a_stopped_webhook_worker_is_not_ready(database_url: str) -> None:
    settings = make_settings(database_url, webhook_worker=1)
    store = open_store(settings)
    app = create_app(settings, store)
    try:
        with TestClient(app) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"]["webhook_worker"] == "ok"
            task: asyncio.Task[None] = app.state.workers["webhook_worker"]
            assert client.portal is not None
            client.portal.call(_cancel, task)
            stopped = client.get("/readyz")
            assert stopped.status_code == 503
            assert stopped.json()["checks"] == {
                "database": "ok",
                "schema": "ok",
                "webhook_worker": "stopped",
            }
    finally:
        store.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait([task], timeout=10)
    assert task.done(), "the webhook worker did not stop when cancelled"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    """A cluster of these tests' own, since it is stopped and started again."""
    try:
        cluster = PostgresCluster().start()
    except PostgresError as exc:
        if os.environ.get("WORKTRAIL_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but could not be started: {exc}")
        pytest.skip(f"PostgreSQL could not be started: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.slow
def test_readiness_follows_a_database_outage_and_the_worker_survives_it(
    cluster: PostgresCluster,
) -> None:
    url = cluster.create_database("health")
    settings = Settings(database_url=url, secret="s", webhook_worker=1)
    store = open_store(settings)
    store.migrate()
    try:
        with TestClient(create_app(settings, store)) as client:
            assert client.get("/readyz").status_code == 200
            cluster.pause("fast")
            try:
                time.sleep(1.5)  # the worker meets the outage too
                assert client.get("/healthz").status_code == 200
                down = client.get("/readyz")
                assert down.status_code == 503
                assert down.json()["checks"] == {
                    "database": "unreachable",
                    "schema": "unknown",
                    "webhook_worker": "ok",
                    "checkpoint_worker": "ok",  # issues checkpoints in the background
                    "retention_worker": "ok",  # runs each organization's retention policy
                }
            finally:
                cluster.resume()
            deadline = time.monotonic() + 10
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "not ready 10 s after the database was back"
                time.sleep(0.2)
            assert client.get("/readyz").json()["checks"]["webhook_worker"] == "ok"
    finally:
        store.close()
