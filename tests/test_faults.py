"""Database failures as clients and operators see them: one translation of driver errors in
the store, rendered by every API in its own shape with the error's headers. (A real outage
and a real full disk, over a real socket: test_outage.py and test_disk_full.py.)"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from worktrail.config import Settings
from worktrail.context import RequestInfo, current_request
from worktrail.errors import RETRY_AFTER_SECONDS, Conflict, StorageFull, StoreError
from worktrail.store import Store, open_store
from worktrail.store.faults import CONFLICT, FULL, UNAVAILABLE

from .conftest import Org

# a path under each API's prefix, and where its error body carries the message
APIS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "native": ("/api/v1/_fault", lambda b: b["detail"]),
    "asana": ("/api/1.0/_fault", lambda b: b["errors"][0]["message"]),
    "tracker": ("/v3/_fault", lambda b: b["errorMessages"][0]),
    "worksection": ("/api/admin/_fault", lambda b: b["message_details"]),
    "huddle": ("/tasks/_fault", lambda b: b["errorMessages"][0]),
    "kantata": ("/api/v1/subscribed_events/_fault", lambda b: b["errors"][0]["message"]),
}
SECRET = 'connection to server at "10.1.2.3", port 5432 failed: relation "orgs"'


def raising(client: TestClient, path: str, error: Exception) -> None:
    """A route at `path`, ahead of every other, that raises `error` (as the store would)."""

    def fail() -> None:
        raise error

    client.app.router.routes.insert(0, APIRoute(path, fail))  # type: ignore[attr-defined]


@pytest.mark.parametrize("api", list(APIS))
def test_unavailable_is_503_with_retry_after(client: TestClient, api: str) -> None:
    path, message = APIS[api]
    raising(client, path, StoreError(UNAVAILABLE))
    response = client.get(path)
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert message(orjson.loads(response.content)) == UNAVAILABLE


@pytest.mark.parametrize("api", list(APIS))
def test_full_storage_is_507(client: TestClient, api: str) -> None:
    path, message = APIS[api]
    raising(client, path, StorageFull(FULL))
    response = client.get(path)
    assert response.status_code == 507
    assert "retry-after" not in response.headers
    assert message(orjson.loads(response.content)) == FULL


@pytest.mark.parametrize("api", list(APIS))
def test_unexpected_errors_name_nothing_inside(client: TestClient, api: str) -> None:
    path, _ = APIS[api]
    raising(client, path, RuntimeError(SECRET))
    response = client.get(path)
    assert response.status_code == 500
    for word in ("10.1.2.3", "5432", "relation", "RuntimeError", "Traceback"):
        assert word not in response.text


def test_conflict_names_no_statement(store: Store, org: Org) -> None:
    store.insert_token(org.id, org.owner_id, "first", "same-hash", "wt_same")
    with pytest.raises(Conflict) as caught:
        store.insert_token(org.id, org.owner_id, "second", "same-hash", "wt_same")
    assert caught.value.detail == CONFLICT
    assert [t.name for t in store.list_tokens(org.id)].count("second") == 0


def test_driver_error_is_logged_not_sent(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    reset = current_request.set(RequestInfo(request_id="req-42"))
    try:
        with (
            caplog.at_level(logging.ERROR, logger="worktrail"),
            pytest.raises(StoreError) as caught,
            store.read() as conn,
        ):
            conn.exec_driver_sql("SELECT secret_column FROM no_such_table")
    finally:
        current_request.reset(reset)
    assert type(caught.value) is StoreError
    assert caught.value.detail == UNAVAILABLE
    assert caught.value.headers == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    logged = caplog.records[-1]
    assert logged.name == "worktrail"
    assert "req-42" in logged.getMessage() and "no_such_table" in logged.getMessage()


def test_a_silent_database_is_503_once_connecting_times_out() -> None:
    """A PostgreSQL address that accepts connections and never answers (a hung server, a
    black-holed host) holds a request for the connect timeout, not until TCP gives up."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = open_store(Settings(database_url=f"postgresql://nobody@127.0.0.1:{port}/db"))
        try:
            started = time.monotonic()
            with pytest.raises(StoreError) as caught:
                store.head_seq(1)
            waited = time.monotonic() - started
        finally:
            store.close()
    assert caught.value.status == 503
    assert waited < 30, waited  # a bound, not a speed: without a timeout it never returns
