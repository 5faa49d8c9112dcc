"""The ordering rule: a reader tailing by seq sees every committed event exactly once, in
order, however many writers commit at the same time."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from worktrail.auth import principal_for_user
from worktrail.model import EntityType
from worktrail.query import EventQuery, run_query
from worktrail.store import Store
from worktrail.write import Writer, create_organization

WRITERS = 16
WRITES_EACH = 25


def test_tailing_reader_sees_every_event_once_under_concurrent_writers(store: Store) -> None:
    created = create_organization(store, "Busy", "Owner", "owner@busy.test")
    owner = store.get_entity(created.org_id, created.owner_id)
    assert owner is not None
    principal = principal_for_user(owner)
    writer = Writer(store)
    ws = writer.create(principal, EntityType.WORKSPACE, {"name": "W"}).entity
    project = writer.create(principal, EntityType.PROJECT, {"name": "P", "workspace": ws.id}).entity
    tasks = [
        writer.create(principal, EntityType.TASK, {"name": f"t{i}", "project": project.id}).entity
        for i in range(WRITERS)
    ]
    start_seq = store.head_seq(created.org_id)

    errors: list[BaseException] = []
    done = threading.Event()

    def write(task_id: int) -> None:
        try:
            for i in range(WRITES_EACH):
                writer.update(principal, EntityType.TASK, task_id, {"notes": f"n{i}"})
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    seen: list[int] = []

    def tail() -> None:
        query = EventQuery(org_id=created.org_id, ascending=True, limit=50, after_seq=start_seq)
        position = start_seq
        while True:
            finished = done.is_set()
            page = run_query(store, replace(query, after_seq=position))
            seen.extend(e.seq for e in page.events)
            if page.events:
                position = page.events[-1].seq
            if finished and not page.has_more and not page.events:
                return
            if not page.events:
                time.sleep(0.001)

    reader = threading.Thread(target=tail)
    reader.start()
    threads = [threading.Thread(target=write, args=(t.id,)) for t in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join(timeout=60)
    assert not errors, errors[0]
    total = WRITERS * WRITES_EACH
    assert store.head_seq(created.org_id) == start_seq + total
    assert seen == list(range(start_seq + 1, start_seq + total + 1))


def test_organizations_have_independent_gapless_sequences(store: Store) -> None:
    a = create_organization(store, "A", "Owner A", "a@a.test")
    b = create_organization(store, "B", "Owner B", "b@b.test")
    for created in (a, b):
        events = list(store.iter_events(EventQuery(org_id=created.org_id, ascending=True)))
        assert [e.seq for e in events] == [1, 2]
        assert {e.org_id for e in events} == {created.org_id}
