"""The server process: how many threads run requests' blocking work."""

from __future__ import annotations

from dataclasses import replace

from anyio import to_thread
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.config import Settings
from worktrail.store import Store


def thread_limit(settings: Settings, store: Store) -> int:
    with TestClient(create_app(settings, store)) as client:
        assert client.get("/healthz").status_code == 200
        return int(
            client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens)
        )


def test_threads_follow_the_setting_or_the_database(settings: Settings, store: Store) -> None:
    assert thread_limit(settings, store) == store.server_threads
    assert store.server_threads == (2 if store.dialect_name == "sqlite" else 4)
    assert thread_limit(replace(settings, threads=5), store) == 5
