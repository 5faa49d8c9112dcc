"""Events rendered straight from their stored rows (pages, NDJSON, CSV) are exactly the
events rendered from parsed `Event`s, for every kind of event the store holds."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import orjson

from worktrail.demo import build_demo
from worktrail.model import StoredEvent
from worktrail.query import EventQuery
from worktrail.store import Store, event_from_row
from worktrail.web.render import (
    csv_line,
    csv_row,
    event_json,
    events_page_json,
    iter_csv,
    iter_ndjson,
    stored_csv_line,
    stored_event_json,
)

from .conftest import Org


def stored_history(store: Store, org_id: int) -> list[StoredEvent]:
    query = EventQuery(org_id=org_id, ascending=True)
    return [row for chunk in store.iter_stored(query, 97) for row in chunk]


def test_stored_rows_render_as_parsed_events(store: Store, org: Org) -> None:
    built = build_demo(store, events=400, seed=3)
    # the odd ones: no actor (a system change), non-ASCII and quotes, custom fields,
    # an idempotency key
    ws = org.create("workspaces", name='Ünïcode "quoted" \\ ws', members=[org.owner_id])
    project = org.create("projects", name="P,with;commas\nand lines", workspace=ws["id"])
    records = [
        {
            "type": "task",
            "id": "ext-1",
            "state": {"name": "Ta\u0161k 🚀", "project": project["id"]},
            "actor": None,
            "idempotency_key": "k-1",
        },
        {
            "op": "change",
            "type": "task",
            "id": "ext-1",
            "changes": [{"field": "custom_fields", "new": {"before": [1, '],"x']}}],
        },
        {"type": "user", "id": "u-q", "state": {"name": 'Doe, "Jay"', "email": "j,d@x.test"}},
        {"type": "task", "id": "ext-1", "state": {"notes": "by Jay"}, "actor": "u-q"},
    ]
    assert org.post("/api/v1/changes", json={"records": records}).status_code == 200
    for org_id in (built.org_id, org.id):
        rows = stored_history(store, org_id)
        assert [r.seq for r in rows] == list(range(1, store.head_seq(org_id) + 1))
        for row in rows:
            event = event_from_row(row)
            assert orjson.loads(stored_event_json(row)) == event_json(event)
            assert stored_csv_line(row) == csv_line(csv_row(event))


def test_other_schema_versions_are_upgraded_on_read(store: Store, org: Org) -> None:
    org.create("workspaces", name="W")
    row = stored_history(store, org.id)[-1]
    later = row._replace(schema_version=2)
    expected = event_json(event_from_row(later))
    assert expected["schema_version"] == 2
    assert orjson.loads(stored_event_json(later)) == expected
    assert stored_csv_line(later) == csv_line(csv_row(event_from_row(later)))


def test_pages_ndjson_and_csv_of_stored_rows(store: Store, org: Org) -> None:
    for i in range(5):
        org.create("workspaces", name=f'W{i}, "{i}"')
    rows = stored_history(store, org.id)
    events = [event_from_row(r) for r in rows]
    page = orjson.loads(events_page_json(rows, {"next_cursor": "c", "has_more": True}))
    assert page == {
        "data": [event_json(e) for e in events],
        "next_cursor": "c",
        "has_more": True,
    }
    assert orjson.loads(events_page_json([], {"has_more": False})) == {
        "data": [],
        "has_more": False,
    }
    chunks = [rows[:2], rows[2:]]
    lines = b"".join(iter_ndjson(chunks)).decode().splitlines()
    assert [orjson.loads(line) for line in lines] == [event_json(e) for e in events]
    parsed = list(csv.reader(io.StringIO(b"".join(iter_csv(chunks)).decode(), newline="")))
    assert parsed[1:] == [[str(v) for v in csv_row(e)] for e in events]
    assert len(parsed[0]) == len(parsed[1])
    assert b"".join(iter_csv([])).decode().count("\r\n") == 1  # the header alone


def test_iter_stored_chunks_follow_the_query(store: Store, org: Org) -> None:
    for i in range(7):
        org.create("workspaces", name=f"W{i}")
    query = EventQuery(org_id=org.id, ascending=False)
    chunks = list(store.iter_stored(query, 3))
    seqs = [r.seq for chunk in chunks for r in chunk]
    assert seqs == sorted(seqs, reverse=True) == list(range(store.head_seq(org.id), 0, -1))
    assert all(len(c) <= 3 for c in chunks)
    after = replace(query, after_seq=5)
    assert [r.seq for c in store.iter_stored(after, 2) for r in c] == [4, 3, 2, 1]
