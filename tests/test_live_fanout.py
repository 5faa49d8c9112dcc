"""The fan-out of live feeds on a real `worktrail serve`: one process writes every commit to
all the feeds at the head (web/fanout.py), straight to their connections (web/sinks.py).
Many clients each get every event once and in order; readers of different visibility get
only their own; a client that stops reading holds up nobody and, once it reads again, gets
everything it missed; a client that leaves is let go of."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.store import Store
from worktrail.testing.server import LiveServer, serve
from worktrail.write import create_organization

from .test_metrics import scrape, value

STREAM = "/api/v1/events/stream"
ENV = {"WORKTRAIL_WEBHOOK_WORKER": "0"}
WITHIN = 30.0  # seconds for anything to arrive, on a busy machine


@dataclass
class Site:
    server: LiveServer
    api: httpx.Client  # the owner's
    owner: str  # token
    store: Store
    org_id: int

    def workspace(self, name: str, members: list[int]) -> int:
        made = self.api.post("/api/v1/workspaces", json={"name": name, "members": members})
        assert made.status_code == 201, made.text
        return int(made.json()["data"]["id"])

    def project(self, workspace: int) -> int:
        made = self.api.post("/api/v1/projects", json={"name": "P", "workspace": workspace})
        assert made.status_code == 201, made.text
        return int(made.json()["data"]["id"])

    def task(self, name: str, project: int, notes: str = "") -> int:
        made = self.api.post(
            "/api/v1/tasks", json={"name": name, "project": project, "notes": notes}
        )
        assert made.status_code == 201, made.text
        return int(made.json()["data"]["id"])


@pytest.fixture
def site(settings: Settings, store: Store, tmp_path: Path) -> Iterator[Site]:
    org = create_organization(store, "Fan", "Fay Owner", "fay@fan.test")
    _, token = create_token(store, org.org_id, org.owner_id, "fan")
    with (
        serve(settings.database_url, tmp_path, env=ENV) as server,
        httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api,
    ):
        yield Site(server, api, token, store, org.org_id)


class Feeds:
    """`count` clients of the live feed, connected from a thread of their own until the
    block ends; each keeps the events it receives, as (seq, task name, arrival)."""

    def __init__(self, site: Site, token: str, count: int) -> None:
        self.received: list[list[tuple[int, str, float]]] = [[] for _ in range(count)]
        self._url = site.server.base_url + STREAM
        self._headers = {"Authorization": f"Bearer {token}"}
        self._connected = 0
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._tasks: list[asyncio.Task[None]] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Feeds:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(WITHIN)
        assert self._ready.wait(WITHIN), f"{self._connected} of the feeds connected"
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(WITHIN)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WITHIN)
        self._loop.close()

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    async def _start(self) -> None:
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(WITHIN, read=None))
        self._tasks = [asyncio.create_task(self._follow(k)) for k in range(len(self.received))]

    async def _follow(self, k: int) -> None:
        with contextlib.suppress(httpx.HTTPError):
            async with self._client.stream("GET", self._url, headers=self._headers) as stream:
                assert stream.status_code == 200
                async for line in stream.aiter_lines():
                    if line == ": connected":
                        self._connected += 1
                        if self._connected == len(self.received):
                            self._ready.set()
                    elif line.startswith("data: "):
                        event = orjson.loads(line[6:])
                        if event["subject"]["type"] == "task":
                            name = (event.get("after") or {}).get("name", "")
                            with self._lock:
                                self.received[k].append((event["seq"], name, time.monotonic()))

    def close(self, k: int) -> None:
        """Disconnect client `k`."""
        self._loop.call_soon_threadsafe(self._tasks[k].cancel)

    def names(self, k: int) -> list[str]:
        with self._lock:
            return [name for _, name, _ in self.received[k]]

    def wait_for(self, count: int, clients: range | list[int]) -> None:
        deadline = time.monotonic() + WITHIN
        while any(len(self.received[k]) < count for k in clients):
            assert time.monotonic() < deadline, [len(self.received[k]) for k in clients]
            time.sleep(0.05)


def test_every_client_of_one_organization_gets_every_event_once_in_order(site: Site) -> None:
    project = site.project(site.workspace("W", []))
    with Feeds(site, site.owner, 40) as feeds:
        written = []
        for i in range(12):
            written.append(f"t{i}")
            site.task(f"t{i}", project)
            if i % 4 == 0:
                time.sleep(0.1)  # some commits one by one, some in a burst
        feeds.wait_for(12, range(40))
        time.sleep(0.3)  # nothing more, nor twice
        seqs = [[seq for seq, _, _ in got] for got in feeds.received]
        for k in range(40):
            assert feeds.names(k) == written
            assert seqs[k] == sorted(set(seqs[k])) == seqs[0]


def test_readers_of_different_workspaces_get_only_their_own(site: Site) -> None:
    user = site.api.post(
        "/api/v1/users", json={"name": "Mo", "email": "mo@fan.test", "role": "member"}
    )
    assert user.status_code == 201, user.text
    member_id = int(user.json()["data"]["id"])
    _, member = create_token(site.store, site.org_id, member_id, "mo")
    mine = site.project(site.workspace("Mine", [member_id]))
    theirs = site.project(site.workspace("Theirs", []))
    with Feeds(site, member, 10) as members, Feeds(site, site.owner, 10) as owners:
        for i in range(4):
            site.task(f"theirs {i}", theirs)
            site.task(f"mine {i}", mine)
        owners.wait_for(8, range(10))
        members.wait_for(4, range(10))
        time.sleep(0.3)
        for k in range(10):
            assert members.names(k) == [f"mine {i}" for i in range(4)]
            assert owners.names(k) == [f"{w} {i}" for i in range(4) for w in ("theirs", "mine")]


class StalledClient:
    """A feed client that reads its response's start, then nothing until `read_all`."""

    def __init__(self, site: Site) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        self.sock.connect(_addr(site))
        request = (
            f"GET {STREAM} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {site.owner}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        while b": connected" not in self.buffer:
            self.buffer += self.sock.recv(4096)

    def read(self, names: int) -> list[str]:
        """The task names of the task events it was sent, reading now: at least `names`,
        and whatever follows them within half a second."""
        self.sock.settimeout(WITHIN)
        while len(_task_names(self.buffer)) < names:
            self.buffer += self.sock.recv(1 << 16)
        self.sock.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            while True:
                self.buffer += self.sock.recv(1 << 16)
        return _task_names(self.buffer)


def _addr(site: Site) -> tuple[str, int]:
    host, port = site.server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def _task_names(raw: bytes) -> list[str]:
    names = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data: "):
            with contextlib.suppress(ValueError):  # a chunk's framing cut into it
                event: dict[str, Any] = orjson.loads(line[6:])
                if event["subject"]["type"] == "task":
                    names.append(event["after"]["name"])
    return names


EVENTS = 400


def test_a_stalled_client_delays_no_other_and_catches_up_once_it_reads(
    site: Site, request: pytest.FixtureRequest
) -> None:
    project = site.project(site.workspace("W", []))
    stalled = StalledClient(site)
    request.addfinalizer(stalled.sock.close)
    # each event carries it (twice: the change and the state after), so that what the
    # stalled client is owed outgrows what the kernel buffers for it (the server's send
    # buffer grows up to net.ipv4.tcp_wmem's maximum, 4 MiB by default) and the fan-out's
    # backlog for it fills: EVENTS events of some 20 KB
    notes = "x" * 10_000
    with Feeds(site, site.owner, 1) as reader:
        written = []
        for i in range(EVENTS):
            site.task(f"big {i}", project, notes)
            written.append(time.monotonic())
        reader.wait_for(EVENTS, [0])
        lags = [reader.received[0][i][2] - at for i, at in enumerate(written)]
        assert reader.names(0) == [f"big {i}" for i in range(EVENTS)]
        assert max(lags) < 5.0, lags  # never waiting on the stalled client's reading
        behind = scrape(site.server.base_url + "/metrics")
        assert value(behind, "worktrail_live_feed_behind_total") >= 1
        # reading again, it gets every event it missed, once and in order
        assert stalled.read(EVENTS) == [f"big {i}" for i in range(EVENTS)]


def test_a_client_that_leaves_is_let_go(site: Site) -> None:
    project = site.project(site.workspace("W", []))
    metrics_url = site.server.base_url + "/metrics"
    with Feeds(site, site.owner, 6) as feeds:
        _wait_for_clients(metrics_url, 6)
        for k in range(3):
            feeds.close(k)
        _wait_for_clients(metrics_url, 3)
        site.task("after", project)
        feeds.wait_for(1, range(3, 6))
        assert all(feeds.names(k) == [] for k in range(3))
        assert all(feeds.names(k) == ["after"] for k in range(3, 6))


def _wait_for_clients(url: str, count: int) -> None:
    deadline = time.monotonic() + WITHIN
    while value(scrape(url), "worktrail_live_feed_clients") != count:
        assert time.monotonic() < deadline, f"never {count} live-feed clients"
        time.sleep(0.1)


def test_the_streams_start_goes_through_the_middlewares_and_head_ends_there(site: Site) -> None:
    asked = {"X-Request-ID": "fan-out-1"}
    with site.api.stream("GET", STREAM, headers=asked) as stream:
        assert stream.status_code == 200
        assert stream.headers["x-request-id"] == "fan-out-1"
        assert stream.headers["x-content-type-options"] == "nosniff"
        assert stream.headers["cache-control"] == "no-cache"
        assert next(stream.iter_lines()) == ": connected"
    head = site.api.head(STREAM, headers=asked)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/event-stream")
    assert head.headers["x-request-id"] == "fan-out-1"
