"""Live feeds across processes: a commit of any process wakes the feeds of every other at
once (LISTEN/NOTIFY on PostgreSQL, `PRAGMA data_version` on SQLite), not at their next
look. The feeds here look by themselves only once a minute, so an event that reaches them
within seconds came by a commit notice."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import orjson
import pytest

from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.model import EntityType
from worktrail.store import Store, open_store
from worktrail.testing.server import LiveServer, serve
from worktrail.write import create_organization
from worktrail.write.recorder import Recorder

# a feed's own look comes after this; notices must bring events long before it
SLOW_POLL = {"WORKTRAIL_LIVE_POLL_SECONDS": "60", "WORKTRAIL_WEBHOOK_WORKER": "0"}
NOTICE_WITHIN = 20.0  # seconds: generous on a busy machine, a third of the poll


class Feed:
    """A client of /api/v1/events/stream, keeping the task names it receives."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.names: list[str] = []
        self.connected = threading.Event()
        self.arrived = threading.Condition()
        self._url = server.base_url + "/api/v1/events/stream"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()
        assert self.connected.wait(30), "the live feed did not connect"

    def _listen(self) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server stops at the test's end
            self._read()

    def _read(self) -> None:
        with httpx.stream("GET", self._url, headers=self._headers, timeout=120) as response:
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    self.connected.set()
                if line.startswith("data: "):
                    event = orjson.loads(line[6:])
                    with self.arrived:
                        self.names.append((event.get("after") or {}).get("name"))
                        self.arrived.notify_all()

    def wait_for(self, name: str, timeout: float) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: name in self.names, timeout)


@pytest.fixture
def servers(settings: Settings, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    with ExitStack() as stack:
        one = stack.enter_context(serve(settings.database_url, tmp_path, env=SLOW_POLL))
        two = stack.enter_context(serve(settings.database_url, tmp_path, env=SLOW_POLL))
        yield one, two


def test_each_of_two_server_processes_sees_the_others_writes_live(
    store: Store, servers: tuple[LiveServer, LiveServer]
) -> None:
    org = create_organization(store, "Acme", "Ada Owner", "ada@acme.test")
    _, token = create_token(store, org.org_id, org.owner_id, "live")
    headers = {"Authorization": f"Bearer {token}"}
    one, two = servers
    workspace = httpx.post(
        one.base_url + "/api/v1/workspaces", json={"name": "W"}, headers=headers
    ).json()["data"]["id"]
    project = httpx.post(
        one.base_url + "/api/v1/projects",
        json={"name": "P", "workspace": workspace},
        headers=headers,
    ).json()["data"]["id"]
    feeds = {one.base_url: Feed(one, token), two.base_url: Feed(two, token)}
    for writer, reader in ((one, two), (two, one)):
        for i in range(3):
            name = f"from {writer.base_url} #{i}"
            sent = time.monotonic()
            created = httpx.post(
                writer.base_url + "/api/v1/tasks",
                json={"name": name, "project": project},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            assert feeds[reader.base_url].wait_for(name, NOTICE_WITHIN), (
                f"{reader.base_url} did not see a write of {writer.base_url} within "
                f"{NOTICE_WITHIN} s (its feeds look by themselves every 60 s)"
            )
            assert time.monotonic() - sent < NOTICE_WITHIN
            assert feeds[writer.base_url].wait_for(name, NOTICE_WITHIN)
    for feed in feeds.values():  # each event once, in commit order, on both
        assert [n for n in feed.names if n and n.startswith("from ")] == [
            f"from {w.base_url} #{i}" for w in (one, two) for i in range(3)
        ]


def test_a_process_holds_one_watcher_however_many_listen(settings: Settings) -> None:
    first, second = open_store(settings), open_store(settings)
    org = create_organization(second, "Other", "Bo Owner", "bo@other.test")
    try:
        heard: list[list[int]] = [[], []]
        ready = [threading.Event(), threading.Event()]

        def listener(k: int) -> object:
            def hear(org_id: int) -> None:
                heard[k].append(org_id)
                ready[k].set()

            return hear

        before = {t.name for t in threading.enumerate() if t.name == "commit-watcher"}
        stops = [first.watch_commits(listener(k)) for k in range(2)]  # type: ignore[arg-type]
        assert all(stop is not None for stop in stops)
        watchers = [t for t in threading.enumerate() if t.name == "commit-watcher"]
        assert len(watchers) - len(before) == 1, "two listeners started two watchers"
        assert all(r.wait(10) for r in ready)  # each hears "look now" when watching starts
        heard[0].clear()
        heard[1].clear()
        for r in ready:
            r.clear()
        with second.write(org.org_id) as tx:  # a commit of another store's connection
            Recorder(tx, None, actor=None, source="system").record(
                EntityType.USER, None, {"name": "Cy", "email": "cy@other.test", "role": "member"}
            )
        assert all(r.wait(10) for r in ready), "a commit of another store went unheard"
        for k in range(2):
            assert set(heard[k]) <= {0, org.org_id} and heard[k]
        for stop in stops:
            stop()  # type: ignore[misc]
        time.sleep(0.2)
        after = [t for t in threading.enumerate() if t.name == "commit-watcher" and t.is_alive()]
        assert len(after) == len(before), "the watcher outlived its last listener"
    finally:
        first.close()
        second.close()
