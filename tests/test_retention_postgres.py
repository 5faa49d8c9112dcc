"""PostgreSQL keeps events and event_scopes in monthly partitions of recorded_at: retention
drops a month whole when all of it is expired and unheld (the catalogue shows it gone),
keeps it otherwise, and ingest still orders and dedupes across partitions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from worktrail.diff import now_micros
from worktrail.model.retention import DAY_MICROS
from worktrail.store import Store
from worktrail.store.partitions import ensure_partitions, month_start, partition_name
from worktrail.verify import verify_chain
from worktrail.write.retention import run_retention

from .conftest import Org, Tree
from .test_retention import events, hold, set_policy

BACK = 200 * DAY_MICROS


@pytest.fixture(autouse=True)
def only_postgres(database_url: str) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("partitions are PostgreSQL's")


def partitions_of(store: Store, table: str) -> set[str]:
    with store.read() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table"
            ),
            {"table": table},
        ).scalars()
        return set(rows)


def age(store: Store, org_id: int, by: int) -> str:
    """Move the organization's events (and their scope rows) `by` microseconds back, into
    an old month's partition; the month's partition name."""
    with store.write_connection() as conn:
        first = conn.scalar(text("SELECT min(recorded_at) FROM events"))
        ensure_partitions(conn, first - by, first)
        for table in ("events", "event_scopes"):
            conn.execute(
                text(f"UPDATE {table} SET recorded_at = recorded_at - :by WHERE org_id = :org"),
                {"by": by, "org": org_id},
            )
    return partition_name("events", month_start(first - by))


def test_the_events_tables_are_partitioned_by_month(org: Org, tree: Tree) -> None:
    now = now_micros()
    month = partition_name("events", month_start(now))
    assert month in partitions_of(org.store, "events")
    assert month.replace("events", "event_scopes") in partitions_of(org.store, "event_scopes")
    assert len(partitions_of(org.store, "events")) >= 4  # this month and three ahead


def test_a_month_all_expired_is_dropped_whole(org: Org, tree: Tree) -> None:
    old = age(org.store, org.id, BACK)
    count = len(events(org))
    org.create("tasks", name="Recent", project=tree.project)
    set_policy(org, retention_days=30)
    [report] = run_retention(org.store)
    assert old not in partitions_of(org.store, "events")
    assert old.replace("events", "event_scopes") not in partitions_of(org.store, "event_scopes")
    assert report.partitions_dropped == (old,)
    assert report.expired == count
    assert [e["after"]["name"] for e in events(org)] == ["Recent"]
    assert org.store.retention.pruned_through(org.id) == count
    result = verify_chain(org.store, org.id)
    assert result.ok, result.reason
    assert f"events 1..{count} pruned" in result.pruned_summary()
    [again] = run_retention(org.store)
    assert again.expired == 0 and again.partitions_dropped == ()


def test_a_month_with_held_events_is_kept_and_pruned_by_rows(org: Org, tree: Tree) -> None:
    other = org.create("projects", name="Other", workspace=tree.workspace)
    org.create("tasks", name="Elsewhere", project=other["id"])
    old = age(org.store, org.id, BACK)
    hold(org.store, org.id, "project", tree.project)
    before = events(org)
    set_policy(org, retention_days=30)
    [report] = run_retention(org.store)
    assert old in partitions_of(org.store, "events")
    assert report.partitions_dropped == ()
    kept = [e["seq"] for e in events(org)]
    assert kept == [e["seq"] for e in before if f"project:{tree.project}" in e["scopes"]]
    assert report.expired == len(before) - len(kept)


def test_another_organizations_live_events_keep_the_month(
    org: Org, other_org: Org, tree: Tree
) -> None:
    old = age(org.store, org.id, BACK)
    age(org.store, other_org.id, BACK)  # the other organization keeps its events forever
    set_policy(org, retention_days=30)
    run_retention(org.store)
    assert old in partitions_of(org.store, "events")
    assert events(org) == []
    assert events(other_org)


def ingest(org: Org, records: list[dict[str, Any]]) -> Any:
    response = org.post("/api/v1/changes", json={"records": records})
    assert response.status_code == 200, response.text
    return response.json()


def test_ingest_dedupes_a_key_whose_event_is_in_an_older_partition(org: Org, tree: Tree) -> None:
    record = {
        "op": "change",
        "type": "task",
        "id": tree.task,
        "changes": [{"field": "notes", "new": "once"}],
        "idempotency_key": "old-key",
    }
    first = ingest(org, [record])["results"][0]
    age(org.store, org.id, 40 * DAY_MICROS)
    changed = {**record, "idempotency_key": "new-key", "changes": [{"field": "notes", "new": "2"}]}
    again = ingest(org, [record, changed])["results"]
    assert [r["status"] for r in again] == ["duplicate", "recorded"]
    assert again[0]["event"]["id"] == first["event"]["id"]
    seqs = [e["seq"] for e in events(org)]
    assert seqs == list(range(1, len(seqs) + 1))


def walk(org: Org, order: str, **params: Any) -> list[int]:
    """Every seq of the history by cursor pages of three."""
    seen: list[int] = []
    cursor = None
    while True:
        query = {"limit": 3, "order": order, **params, **({"cursor": cursor} if cursor else {})}
        body = org.get("/api/v1/events", params=query).json()
        seen.extend(e["seq"] for e in body["data"])
        if not body["has_more"]:
            return seen
        cursor = body["next_cursor"]


def test_pages_read_each_event_from_its_own_months_partition(org: Org, tree: Tree) -> None:
    """A page's rows are read by (seq, recorded_at), each from the partition of its month:
    every event is on its page exactly once, across three months, in both orders, for
    the whole history and for a scope."""
    for month in range(2):
        for i in range(4):
            org.create("tasks", name=f"Month {month} task {i}", project=tree.project)
        age(org.store, org.id, 35 * DAY_MICROS)
    org.create("tasks", name="Now", project=tree.project)
    everything = [e["seq"] for e in events(org)]
    with org.store.read() as conn:
        months = conn.scalar(
            text("SELECT count(DISTINCT tableoid) FROM events WHERE org_id = :o"), {"o": org.id}
        )
    assert months == 3
    for order in ("oldest", "newest"):
        expected = everything if order == "oldest" else everything[::-1]
        assert walk(org, order) == expected
        scoped = walk(org, order, scope=f"project:{tree.project}")
        in_project = [e["seq"] for e in events(org, scope=f"project:{tree.project}")]
        assert scoped == (in_project if order == "oldest" else in_project[::-1])
        assert len(scoped) >= 9


def test_a_single_writes_rank_lookup_is_planned_with_its_values(org: Org, tree: Tree) -> None:
    """psycopg prepares a statement from its fifth run, and PostgreSQL's generic plan for a
    write's few rank lookups over the monthly partitions was five times slower than one
    made with the values: those lookups are never prepared."""
    for n in range(12):
        response = org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"{n}"})
        assert response.status_code == 200, response.text
    with org.store.write_connection() as conn:
        prepared = conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars()
        assert not [s for s in prepared if "SELECT n FROM event_scopes" in s]
