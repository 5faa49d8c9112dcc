"""A PostgreSQL outage under load, survived by a real `worktrail serve`.

Writers (sidecar batches with idempotency keys), a reader of /api/v1/events and a live feed
run against a server on a cluster this test owns; PostgreSQL is stopped for several seconds
and started again. What clients see meanwhile is a 503 with Retry-After in each API's own
shape, naming no host, port, driver or relation; the service recovers by itself as soon as
the database is back; every acknowledged write is there exactly once, a 503'd write retried
with its keys is recorded once, and the chain verifies without holes.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.errors import RETRY_AFTER_SECONDS
from worktrail.model import EventQuery
from worktrail.query import Reader
from worktrail.store import Store, open_store
from worktrail.testing.postgres import PostgresCluster, PostgresError
from worktrail.testing.server import LiveServer, serve
from worktrail.verify import verify_chain
from worktrail.write import create_organization

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 6.0
RECOVERY_BOUND = 5.0  # seconds from the database accepting connections again
WRITERS = 3
# what a client must never read in an error: where the database is, what drives it, what
# it locked
INTERNALS = ("127.0.0.1", "psycopg", "sqlalchemy", "relation", "tuple", "connection to server")


@dataclass
class Answer:
    """One request and what came back (status 0: no answer at all)."""

    path: str
    status: int
    headers: httpx.Headers
    body: bytes
    at: float  # when the answer arrived (time.monotonic)
    keys: tuple[str, ...] = ()
    api: str = "native"


@dataclass
class Load:
    """The client side of the run: what every request got back."""

    client: httpx.Client
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def call(
        self, method: str, path: str, keys: tuple[str, ...] = (), api: str = "native", **kw: Any
    ) -> Answer:
        try:
            r = self.client.request(method, path, **kw)
            status, headers, body = r.status_code, r.headers, r.content
        except httpx.TransportError as exc:
            status, headers, body = 0, httpx.Headers(), repr(exc).encode()
        answer = Answer(path, status, headers, body, time.monotonic(), keys, api)
        with self.lock:
            self.answers.append(answer)
        return answer

    def write(self, keys: tuple[str, ...]) -> Answer:
        """One sidecar batch: a new task per key, each record idempotent by its key."""
        records = [
            {
                "type": "task",
                "id": f"task-{key}",
                "state": {"name": f"Task {key}", "project": "launch"},
                "idempotency_key": key,
            }
            for key in keys
        ]
        return self.call("POST", "/api/v1/changes", keys, json={"records": records})

    def writer(self, number: int) -> None:
        batch = 0
        while not self.stop.is_set():
            batch += 1
            answer = self.write((f"w{number}-{batch}-a", f"w{number}-{batch}-b"))
            # a polite client waits after a refusal (less than Retry-After here, so that
            # the moment of recovery is seen)
            time.sleep(0.2 if answer.status >= 500 else 0.01)

    def reader(self) -> None:
        while not self.stop.is_set():
            answer = self.call("GET", "/api/v1/events", params={"limit": 50})
            time.sleep(0.2 if answer.status >= 500 else 0.02)

    def start(self) -> None:
        """WRITERS writers and a reader, each in a thread of its own."""
        self.threads = [threading.Thread(target=self.writer, args=(n,)) for n in range(WRITERS)]
        self.threads.append(threading.Thread(target=self.reader))
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


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


@dataclass
class Site:
    """The database, the organization and its owner's token, and ids the routes name."""

    url: str
    org_id: int
    token: str
    workspace: int = 0
    project: int = 0


def prepare(cluster: PostgresCluster, name: str) -> Site:
    url = cluster.create_database(name)
    with cluster.connect() as conn:  # acknowledged means on disk, even across a crash
        conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = on")
    store = open_store(Settings(database_url=url))
    try:
        store.migrate()
        created = create_organization(store, "Acme", "Ann Owner", "ann@acme.test")
        _, token = create_token(store, created.org_id, created.owner_id, "load")
    finally:
        store.close()
    return Site(url, created.org_id, token)


def seed(load: Load, site: Site) -> None:
    records = [
        {"type": "workspace", "id": "eng", "state": {"name": "Engineering"}},
        {"type": "project", "id": "launch", "state": {"name": "Launch", "workspace": "eng"}},
    ]
    answer = load.call("POST", "/api/v1/changes", json={"records": records})
    assert answer.status == 200, answer.body
    results = orjson.loads(answer.body)["results"]
    site.workspace, site.project = (r["entity"]["id"] for r in results)


def dialect_probes(site: Site) -> dict[str, tuple[str, dict[str, str]]]:
    """A read route of each vendor dialect: path and the headers it needs."""
    bearer = {"Authorization": f"Bearer {site.token}"}
    return {
        "asana": (f"/api/1.0/projects/{site.project}/events", bearer),
        "tracker": (
            f"/v2/entities/project/{site.project}/events/_relative",
            {"Authorization": f"OAuth {site.token}", "X-Org-ID": str(site.org_id)},
        ),
        "worksection": ("/api/oauth2?action=get_events&period=1d", bearer),
        "huddle": (f"/tasks/workspace/{site.workspace}/audits", bearer),
        "kantata": ("/api/v1/subscribed_events", bearer),
    }


# each API's 503: its media type, and where its body says what happened
SHAPES: dict[str, tuple[str, Callable[[Any], str]]] = {
    "native": ("application/problem+json", lambda b: b["title"] + ": " + b["detail"]),
    "asana": ("application/json", lambda b: b["errors"][0]["message"]),
    "tracker": ("application/json", lambda b: b["errorMessages"][0]),
    "worksection": ("application/json", lambda b: b["message_details"]),
    "huddle": ("application/vnd.huddle.error+json", lambda b: b["errorMessages"][0]),
    "kantata": ("application/json", lambda b: b["errors"][0]["message"]),
}


def assert_unavailable(answer: Answer, api: str, port: int) -> None:
    """A 503 in `api`'s shape, with Retry-After, that names nothing of the database."""
    media_type, message = SHAPES[api]
    assert answer.status == 503, (api, answer.status, answer.body)
    assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS), (api, answer.headers)
    assert 1 <= RETRY_AFTER_SECONDS <= 5
    assert answer.headers["content-type"].startswith(media_type), (api, answer.headers)
    body = orjson.loads(answer.body)
    assert "database is unavailable" in message(body), (api, body)
    text = answer.body.decode()
    for word in (*INTERNALS, str(port)):
        assert word not in text, (api, word, text)
    if api == "native":
        assert body["status"] == 503
    if api in ("tracker", "huddle"):
        assert body["statusCode"] == 503
    if api == "worksection":
        assert body["status"] == "error" and body["status_code"] == 503


@dataclass
class Feed:
    """A client of the live feed, /api/v1/events/stream from the head: the seq of every
    event it delivered."""

    server: LiveServer
    token: str
    seen: list[int] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self.follow)

    def follow(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        url = self.server.base_url + "/api/v1/events/stream"
        try:
            with httpx.stream("GET", url, headers=headers, timeout=30) as response:
                for line in response.iter_lines():
                    if self.stop.is_set():
                        return
                    if line.startswith(": connected"):
                        self.ready.set()
                    elif line.startswith("data: "):
                        self.seen.append(orjson.loads(line[6:])["seq"])
        except httpx.TransportError:  # the server stopped before the next heartbeat
            return

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(10), "the live feed did not start"

    def until(self, head: int, load: Load) -> list[int]:
        """What the feed delivered once it reached `head` (or gave up waiting); it stops."""
        deadline = time.monotonic() + 15
        while (not self.seen or self.seen[-1] < head) and time.monotonic() < deadline:
            time.sleep(0.1)
        seen = list(self.seen)
        self.stop.set()
        load.write(("last",))  # an event wakes the feed, which sees that it should stop
        self.thread.join(10)
        return seen


def stored_keys(store: Store, org_id: int) -> tuple[Counter[str], int]:
    """How often each idempotency key is in the history, and how many events it has."""
    reader = Reader.whole(store, org_id)
    keys: Counter[str] = Counter()
    count = 0
    for event in reader.iter_events(EventQuery(org_id=org_id, ascending=True, limit=1000)):
        count += 1
        if event.idempotency_key:
            keys[event.idempotency_key] += 1
    return keys, count


def wait_for_recovery(load: Load, deadline: float) -> tuple[float, float]:
    """Poll a read and a write until both succeed: when each first did."""
    read_at = write_at = 0.0
    probe = 0
    while (not read_at or not write_at) and time.monotonic() < deadline:
        if not read_at and load.call("GET", "/api/v1/events", params={"limit": 1}).status == 200:
            read_at = time.monotonic()
        if not write_at:
            probe += 1
            if load.write((f"probe-{probe}",)).status == 200:
                write_at = time.monotonic()
        time.sleep(0.05)
    return read_at, write_at


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_outage_under_load(cluster: PostgresCluster, tmp_path: Path, mode: str) -> None:
    """`fast`: PostgreSQL shuts down, ending every session; `immediate`: it crashes, and
    recovers from its write-ahead log when it starts again."""
    site = prepare(cluster, f"outage_{mode}")
    headers = {"Authorization": f"Bearer {site.token}"}
    with (
        serve(site.url, tmp_path) as server,
        httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client,
    ):
        load = Load(client)
        seed(load, site)
        feed = Feed(server, site.token)
        feed.start()
        load.start()
        try:
            time.sleep(1.5)
            down_at, up_at = outage(cluster, mode, load, site)
            read_at, write_at = wait_for_recovery(load, up_at + 30)
            recovery = max(read_at, write_at) - up_at
            print(
                f"\nPostgreSQL down {up_at - down_at:.1f} s ({mode}); service recovered "
                f"{recovery:.2f} s after it was back (read {read_at - up_at:.2f} s, "
                f"write {write_at - up_at:.2f} s)"
            )
            assert read_at and write_at, "the service did not recover within 30 s"
            assert recovery <= RECOVERY_BOUND
            time.sleep(1.0)
        finally:
            load.finish()

        check_answers(load, down_at, up_at, cluster.port)
        head = check_history(site, load, retry_refused(load))
        # the live feed was not dropped: it delivered everything committed, once, in order
        seen = feed.until(head, load)
        assert seen and seen[-1] == head, (seen[-5:], head)
        assert seen == list(range(seen[0], head + 1))
        log = server.output()
    assert "database unavailable" in log
    refused = next(a for a in load.answers if a.status == 503)
    assert refused.headers["x-request-id"] in log  # the operator finds the request's cause


def outage(cluster: PostgresCluster, mode: str, load: Load, site: Site) -> tuple[float, float]:
    """Stop PostgreSQL for OUTAGE_SECONDS, asking each dialect meanwhile: when it went down
    and when it accepted connections again."""
    down_at = time.monotonic()
    cluster.pause(mode)
    time.sleep(0.5)
    for api, (path, extra) in dialect_probes(site).items():
        answer = load.call("GET", path, api=api, headers=extra)
        assert_unavailable(answer, api, cluster.port)
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
    cluster.resume()
    return down_at, time.monotonic()


def check_answers(load: Load, down_at: float, up_at: float, port: int) -> None:
    """Every answer was a success or a well-formed 503; the outage was seen."""
    refused = [a for a in load.answers if a.status == 503]
    assert refused, "no request met the outage"
    for answer in load.answers:
        assert answer.status in (200, 201, 503), (answer.path, answer.status, answer.body)
        if answer.status == 503:
            assert_unavailable(answer, answer.api, port)
            assert down_at <= answer.at <= up_at + RECOVERY_BOUND, answer


def retry_refused(load: Load) -> set[str]:
    """Send every refused batch again with its keys: each is recorded now, or found to have
    been recorded before its answer was lost."""
    keys: set[str] = set()
    statuses: Counter[str] = Counter()
    answers = Counter(a.status for a in load.answers)
    for answer in [a for a in load.answers if a.status != 200 and a.keys]:
        again = load.write(answer.keys)
        assert again.status == 200, again.body
        statuses.update(r["status"] for r in orjson.loads(again.body)["results"])
        keys.update(answer.keys)
    assert set(statuses) <= {"recorded", "duplicate"}, statuses
    print(f"answers by status {dict(answers)}; refused records sent again: {dict(statuses)}")
    return keys


def check_history(site: Site, load: Load, retried: set[str]) -> int:
    """Acknowledged and retried keys are stored exactly once; nothing else was added; the
    chain is whole. Returns the head seq."""
    acknowledged = {k for a in load.answers if a.status == 200 for k in a.keys}
    store = open_store(Settings(database_url=site.url))
    try:
        keys, count = stored_keys(store, site.org_id)
        result = verify_chain(store, site.org_id)
        head = store.head_seq(site.org_id)
    finally:
        store.close()
    assert acknowledged, "no write was acknowledged"
    assert all(keys[k] == 1 for k in acknowledged | retried), [
        (k, keys[k]) for k in acknowledged | retried if keys[k] != 1
    ]
    assert set(keys) == acknowledged | retried  # no event from nowhere
    assert result.ok, result
    assert result.checked == count == head
    return head
