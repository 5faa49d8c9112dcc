"""Peer figures: worktrail next to an event-store library and a generic table server.

* ``eventsourcing`` (the Python event-store library) on the same database as the store
  under test: batches of 1,000 events appended through its application recorder, then its
  notification log read from the start in pages of 100; beside it worktrail's own read of
  its history in pages of 100 over HTTP (:func:`worktrail_read_pages`).
* Datasette serving a copy of the store's events from an SQLite file (SQLite only): the
  same 16-client load on the first page of the 100 newest events and on the page after it,
  against Datasette and worktrail, round by round.

Needs the ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import httpx
import orjson
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from worktrail.auth import principal_for_user
from worktrail.config import Settings
from worktrail.model import Action, Actor, EntityType, NewEvent, Scope
from worktrail.model import StoredEvent as StoredRow
from worktrail.query import EventQuery, run_query, run_query_stored
from worktrail.store import open_store
from worktrail.testing.server import free_port, running, serve
from worktrail.write import Writer, create_organization, ingest

from .common import ingest_records, summary
from .load import get, wrk_load

if TYPE_CHECKING:
    from .suite import Backend

BATCH = 1000
PAGE = 100
EVENT_COLUMNS = (
    "org_id, seq, occurred_at, recorded_at, actor_id, action, subject_type, subject_id, "
    "idempotency_key, schema_version, prev_hash, hash, data"
)


# -- eventsourcing ---------------------------------------------------------------------------


class Task(Aggregate):
    """A task as an eventsourcing aggregate: created with a state, then changed."""

    class Created(Aggregate.Created):
        actor: dict[str, Any]
        after: dict[str, Any]

    class Changed(Aggregate.Event):
        actor: dict[str, Any]
        changes: list[dict[str, Any]]
        before: dict[str, Any]
        after: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            aggregate.state = self.after  # type: ignore[attr-defined]

    def __init__(self, actor: dict[str, Any], after: dict[str, Any]) -> None:
        self.state = after


class PeerLog(Application[uuid.UUID]):
    """The application whose notification log is read; sections of a page each."""

    log_section_size = PAGE


ACTOR: dict[str, Any] = {
    "id": 39,
    "name": "Aisha Allen",
    "email": "aisha.allen@acme-robotics.example",
}
CHANGE = [{"field": "tags", "added": ["needs-review"], "removed": []}]


def task_state(n: int) -> dict[str, Any]:
    """A task's state shaped like worktrail's (the demo store's are ~730 bytes of JSON)."""
    return {
        "project": 4197,
        "parent": None,
        "name": f"Prepare vendor contracts {n}",
        "notes": "Keep it small: one iteration, then review.",
        "assignee": 9,
        "followers": [9, 18],
        "tags": ["urgent"],
        "due_on": "2026-12-10",
        "due_at": None,
        "priority": "none",
        "status": "open",
        "completed": False,
        "custom_fields": {"sprint": "Sprint 40"},
    }


def stored_batch(first: int, size: int) -> list[StoredEvent]:
    """`size` events as the library stores them: half the tasks created, half changed (like
    the ingest figure's records), each state worktrail's event document as JSON."""
    created, changed = get_topic(Task.Created), get_topic(Task.Changed)
    out = []
    for n in range(first, first + size, 2):
        task = uuid.uuid4()
        before = task_state(n)
        after = {**before, "tags": ["needs-review", "urgent"]}
        scopes = [f"task:{n}", "project:4197", "workspace:45"]
        context = {"source": "bench"}
        first_doc: dict[str, Any] = {"actor": ACTOR, "changes": [], "before": None, "after": before}
        second_doc = {"actor": ACTOR, "changes": CHANGE, "before": before, "after": after}
        for version, topic, doc in ((1, created, first_doc), (2, changed, second_doc)):
            state = orjson.dumps({**doc, "context": context, "scopes": scopes})
            out.append(StoredEvent(task, version, topic, state))
    return out


def aggregate_batch(first: int, size: int) -> list[Task]:
    """The same events as `stored_batch`, as aggregates with pending events."""
    out = []
    for n in range(first, first + size, 2):
        before = task_state(n)
        after = {**before, "tags": ["needs-review", "urgent"]}
        task = Task(actor=ACTOR, after=before)
        task.trigger_event(Task.Changed, actor=ACTOR, changes=CHANGE, before=before, after=after)
        out.append(task)
    return out


def eventsourcing_env(url: str) -> dict[str, str]:
    """The library's persistence settings for a worktrail database URL."""
    if url.startswith("sqlite:///"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": url.removeprefix("sqlite:///"),
        }
    parts = urlsplit(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or ""),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
    }


def read_log(app: PeerLog) -> int:
    """The whole notification log, from the start, a page at a time; every event's state
    decoded. Returns how many events there were."""
    read, start, last = 0, 1, 0
    while True:
        page = app.notification_log.select(start, PAGE)
        if not page:
            return read
        for notification in page:
            if notification.id <= last:
                raise RuntimeError(f"notification {notification.id} after {last}")
            last = notification.id
            orjson.loads(notification.state)
        read += len(page)
        start = last + 1


def eventsourcing_peer(backend: Backend, rounds: int, batches: int = 10) -> dict[str, Any]:
    """Append `batches` batches of 1,000 events to a fresh database a round and read them back.

    Append: the application recorder's `insert_events`, one call (one transaction) per
    batch of stored events; serializing the events is part of the time. Read: the
    application's notification log (`select_notifications`) in pages of 100 from the
    start to the end. Beside it, the same events saved as aggregates (`Application.save`),
    which runs the library's mapper over domain event objects on top of `insert_events`.
    """
    n = batches * BATCH
    appends, reads, saves = [], [], []
    sample = stored_batch(0, BATCH)
    size = sum(len(e.state) for e in sample) / len(sample)
    for i in range(rounds):
        with PeerLog(env=eventsourcing_env(backend.url(f"peer_es_{i}", fresh=True))) as app:
            started = time.perf_counter()
            for b in range(batches):
                ids = app.recorder.insert_events(stored_batch(b * BATCH, BATCH))
                if ids is None or len(ids) != BATCH:
                    raise RuntimeError(f"insert_events gave {ids and len(ids)} ids")
            appends.append(n / (time.perf_counter() - started))
            started = time.perf_counter()
            read = read_log(app)
            reads.append(read / (time.perf_counter() - started))
            if read != n:
                raise RuntimeError(f"read {read} events of {n}")
        with PeerLog(env=eventsourcing_env(backend.url(f"peer_es_save_{i}", fresh=True))) as app:
            started = time.perf_counter()
            for b in range(batches):
                app.save(*aggregate_batch(b * BATCH, BATCH))
            saves.append(n / (time.perf_counter() - started))
            if app.recorder.max_notification_id() != n:
                raise RuntimeError("Application.save did not record every event")
    return {
        "peer_eventsourcing_events": n,
        "peer_eventsourcing_event_bytes": size,
        "peer_eventsourcing_append_events_per_s": summary(appends),
        "peer_eventsourcing_read_events_per_s": summary(reads),
        "peer_eventsourcing_save_events_per_s": summary(saves),
    }


def worktrail_read_pages(
    base: str, headers: dict[str, str], n_events: int, rounds: int
) -> dict[str, Any]:
    """worktrail's history from the start, oldest first, in pages of 100 over HTTP, following
    next_cursor through the first `n_events` events; events/s a round."""
    rates = []
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for _ in range(rounds):
            read, last, cursor = 0, 0, None
            started = time.perf_counter()
            while read < n_events:
                params: dict[str, Any] = {"order": "oldest", "limit": PAGE}
                if cursor:
                    params["cursor"] = cursor
                response = client.get("/api/v1/events", params=params)
                response.raise_for_status()
                body = response.json()
                for event in body["data"]:
                    if event["seq"] <= last:
                        raise RuntimeError(f"event {event['seq']} after {last}")
                    last = event["seq"]
                read += len(body["data"])
                cursor = body["next_cursor"]
                if not body["data"]:
                    raise RuntimeError(f"the history ended after {read} of {n_events} events")
            rates.append(read / (time.perf_counter() - started))
    return {"read_pages_events": n_events, "read_pages_events_per_s": summary(rates)}


def new_event_batch(first: int, size: int, now: int) -> list[NewEvent]:
    """The events of `stored_batch` as worktrail appends them: a task created, then its tags
    changed, with the same actor, states, context and scopes."""
    actor = Actor(ACTOR["id"], ACTOR["name"], ACTOR["email"])
    out = []
    for n in range(first, first + size, 2):
        before = task_state(n)
        after = {**before, "tags": ["needs-review", "urgent"]}
        scopes = [
            Scope(EntityType.TASK, n + 1),
            Scope(EntityType.PROJECT, 4197),
            Scope(EntityType.WORKSPACE, 45),
        ]
        for action, changes, old, new in (
            (Action.CREATED, [], None, before),
            (Action.UPDATED, CHANGE, before, after),
        ):
            out.append(
                NewEvent(
                    action,
                    EntityType.TASK,
                    n + 1,
                    changes,
                    old,
                    new,
                    scopes,
                    actor,
                    now,
                    {"source": "bench"},
                )
            )
    return out


def worktrail_store_figures(backend: Backend, rounds: int, batches: int) -> dict[str, Any]:
    """worktrail used as a library beside the event-store peer, on a fresh database a round
    with the same number of events:

    - append: the same events as the peer's, one write transaction per batch of 1,000
      (`Store.write` + `append`: seq under the organization's lock, hash chain, scope rows);
    - ingest: batches of 1,000 sidecar records through `ingest` (entity state, diffs,
      idempotency keys on top of the append);
    - read: the history from the start in pages of 100 (`run_query_stored`), every event's
      document decoded, as the peer's read decodes every event's state; and the same pages
      as `Event` objects (`run_query`).
    """
    out: dict[str, list[float]] = {}
    n = batches * BATCH
    for i in range(rounds):
        store = open_store(Settings(database_url=backend.url(f"peer_wt_{i}", fresh=True)))
        try:
            store.migrate()
            org = create_organization(store, "Bench", "Bench Owner", "owner@bench.test")
            first = store.head_seq(org.org_id)
            started = time.perf_counter()
            for b in range(batches):
                with store.write(org.org_id) as tx:
                    for event in new_event_batch(b * BATCH, BATCH, tx.now):
                        tx.append(event)
            out.setdefault("append", []).append(n / (time.perf_counter() - started))
            for name, run in (("read", run_query_stored), ("read_parsed", run_query)):
                query = EventQuery(org_id=org.org_id, ascending=True, limit=PAGE, after_seq=first)
                read, started = 0, time.perf_counter()
                while True:
                    page = run(store, query)
                    for row in page.events:
                        if isinstance(row, StoredRow):
                            orjson.loads(row.data)
                    read += len(page.events)
                    if not page.has_more:
                        break
                    query = replace(query, after_seq=page.position)
                out.setdefault(name, []).append(read / (time.perf_counter() - started))
                if read != n:
                    raise RuntimeError(f"read {read} events of {n}")
            user = store.get_entity(org.org_id, org.owner_id)
            assert user is not None
            owner = principal_for_user(user)
            writer = Writer(store)
            ws = writer.create(owner, EntityType.WORKSPACE, {"name": "Bench"}).entity
            values = {"name": "P", "workspace": ws.id}
            project = writer.create(owner, EntityType.PROJECT, values).entity
            started = time.perf_counter()
            for b in range(batches):
                ingest(store, owner, ingest_records(b * BATCH, project.id), BATCH)
            out.setdefault("ingest", []).append(n / (time.perf_counter() - started))
        finally:
            store.close()
    return {f"worktrail_store_{k}_events_per_s": summary(v) for k, v in out.items()}


# -- Datasette -------------------------------------------------------------------------------


def copy_events(source: Path, org_id: int, target: Path, limit: int = 1_000_000) -> int:
    """The newest `limit` events of an organization, copied into a table `events` of a new
    SQLite file. seq is its INTEGER PRIMARY KEY (the rowid), the one index Datasette's
    keyset pages by seq need."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(target, uri=True)
    try:
        conn.execute(
            """CREATE TABLE events (
                org_id INTEGER NOT NULL,
                seq INTEGER PRIMARY KEY,
                occurred_at INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL,
                actor_id INTEGER,
                action TEXT NOT NULL,
                subject_type TEXT NOT NULL,
                subject_id INTEGER NOT NULL,
                idempotency_key TEXT,
                schema_version INTEGER NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                data TEXT NOT NULL
            )"""
        )
        conn.execute("ATTACH ? AS src", (f"file:{quote(str(source))}?mode=ro",))
        (head,) = conn.execute(
            "SELECT coalesce(max(seq), 0) FROM src.events WHERE org_id = ?", (org_id,)
        ).fetchone()
        with conn:
            conn.execute(
                f"INSERT INTO main.events SELECT {EVENT_COLUMNS} FROM src.events "
                "WHERE org_id = ? AND seq > ? ORDER BY seq",
                (org_id, max(0, head - limit)),
            )
        conn.execute("DETACH src")
        (copied,) = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(copied)
    finally:
        conn.close()


@contextmanager
def datasette_server(path: Path, log_dir: Path, timeout: float = 120) -> Iterator[str]:
    """`datasette serve` on a free port of 127.0.0.1, the file immutable; its base URL."""
    port = free_port()
    log = log_dir / f"datasette-{port}.log"
    command = [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        "--immutable",
        str(path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--setting",
        "default_page_size",
        str(PAGE),
        # on by default, facet suggestions query every column on each first page
        "--setting",
        "suggest_facets",
        "off",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    with running(process, base + "/-/versions.json", log, timeout, "datasette"):
        yield base


# Newest first, 100 rows as objects, the data column as JSON (as worktrail's events carry it),
# without the count(*) Datasette otherwise runs on every page (worktrail counts nothing).
# Its _next under _sort_desc=seq selects `seq < :p1 or seq is null or (seq = :p1 and seq >
# :p0)`: SQLite does not seek on that but walks the rowid b-tree down from the top, stopping
# after the page (cheap for the second page, linear in the depth further down).
DATASETTE_PAGE = {
    "_sort_desc": "seq",
    "_size": str(PAGE),
    "_shape": "objects",
    "_json": "data",
    "_nocount": "1",
}


def checked_pages(
    get: Callable[[dict[str, Any]], httpx.Response],
    rows_key: str,
    next_key: str,
    next_param: str,
    first: dict[str, Any],
) -> tuple[list[int], dict[str, Any]]:
    """The seqs of the first page and of the one its next token leads to, each checked to
    hold 100 events, newest first, the second right below the first; and the parameters of
    the second page."""
    seqs: list[int] = []
    pages = [first]
    for _ in range(2):
        response = get(pages[-1])
        if response.status_code >= 400:
            raise RuntimeError(f"{response.status_code} {response.text[:200]}")
        body = response.json()
        rows = body[rows_key]
        if len(rows) != PAGE or not body.get(next_key):
            raise RuntimeError(f"a page of {len(rows)} rows, next {body.get(next_key)!r}")
        page = [int(row["seq"]) for row in rows]
        top = seqs[-1] - 1 if seqs else page[0]
        if page != list(range(top, top - PAGE, -1)):
            raise RuntimeError(f"not the next {PAGE} newest events: {page[0]}..{page[-1]}")
        seqs += page
        pages.append({**first, next_param: body[next_key]})
    return seqs, pages[1]


def datasette_peer(
    base: str,
    headers: dict[str, str],
    store_path: Path,
    org_id: int,
    data: Path,
    rounds: int,
    seconds: float = 5.0,
) -> dict[str, Any]:
    """Requests/s of Datasette and worktrail under 16 clients, on the first page of the 100
    newest events and on the page its next token leads to; the servers alternate round by
    round. Both serve from one process (Datasette has no other way); beside them worktrail
    as deployed on this machine, `serve --workers 2` (one worker per core), on the same
    store."""
    target = data / "peer_datasette.db"
    started = time.perf_counter()
    copied = copy_events(store_path, org_id, target)
    out: dict[str, Any] = {
        "peer_datasette_rows": copied,
        "peer_datasette_copy_s": time.perf_counter() - started,
    }
    path = f"/{target.stem}/events.json"
    with (
        datasette_server(target, data) as ds_base,
        serve(f"sqlite:///{store_path}", data, "--workers", "2") as workers,
        httpx.Client(base_url=ds_base, timeout=60) as ds,
        httpx.Client(base_url=base, headers=headers, timeout=60) as wt,
    ):
        ds_seqs, ds_next = checked_pages(
            lambda p: ds.get(path, params=p), "rows", "next", "_next", DATASETTE_PAGE
        )
        wt_seqs, wt_next = checked_pages(
            lambda p: wt.get("/api/v1/events", params=p),
            "data",
            "next_cursor",
            "cursor",
            {"limit": PAGE},
        )
        if ds_seqs != wt_seqs:
            raise RuntimeError("Datasette and worktrail serve different events")
        servers: dict[str, tuple[str, dict[str, str], str, list[dict[str, Any]]]] = {
            "peer_datasette": (ds_base, {}, path, [DATASETTE_PAGE, ds_next]),
            "worktrail_page": (base, headers, "/api/v1/events", [{"limit": PAGE}, wt_next]),
            "worktrail_workers2_page": (
                workers.base_url,
                headers,
                "/api/v1/events",
                [{"limit": PAGE}, wt_next],
            ),
        }
        rates: dict[str, list[float]] = {}
        for r in range(rounds):
            order = list(servers)[r % len(servers) :] + list(servers)[: r % len(servers)]
            for name in order:
                url, extra, route, pages = servers[name]
                total = 0.0
                for page, params in zip(("first", "next"), pages, strict=True):
                    load = wrk_load(url, [get(route, params)], extra, seconds=seconds)
                    rates.setdefault(f"{name}_{page}_requests_per_s", []).append(
                        load.requests_per_s
                    )
                    total += load.requests_per_s
                    rates.setdefault(f"{name}_client_cores", []).append(load.client_cores)
                rates.setdefault(f"{name}_requests_per_s", []).append(total / 2)
    for key in sorted(rates):
        out[key] = summary(rates[key])
    out["page_to_datasette_ratio"] = (
        out["worktrail_page_requests_per_s"]["median"]
        / out["peer_datasette_requests_per_s"]["median"]
    )
    out["page_workers2_to_datasette_ratio"] = (
        out["worktrail_workers2_page_requests_per_s"]["median"]
        / out["peer_datasette_requests_per_s"]["median"]
    )
    return out
