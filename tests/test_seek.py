"""Deep offsets found by seeks (store/seek.py) and the scope ranks they rely on."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

import worktrail.store.writing as writing
from worktrail.demo import build_demo
from worktrail.model import Action, EntityType, Event, EventQuery, NewEvent, Scope
from worktrail.store import Store, seek
from worktrail.store import schema as t


@pytest.fixture
def history(store: Store) -> tuple[int, list[Event]]:
    built = build_demo(store, events=1500, seed=7)
    everything = list(store.iter_events(EventQuery(org_id=built.org_id, ascending=True)))
    return built.org_id, everything


def reference(store: Store, q: EventQuery) -> list[Event]:
    """The page of `q` as the database skips to it (no seeking)."""
    every = list(store.iter_events(replace(q, offset=0)))
    return every[q.offset : q.offset + q.limit + 1]


def queries(store: Store, org_id: int, events: list[Event]) -> list[EventQuery]:
    ws = store.list_entities(org_id, EntityType.WORKSPACE, limit=1)[0].id
    project = store.list_entities(org_id, EntityType.PROJECT, limit=1)[0].id
    counts = Counter(s for e in events for s in e.scopes if s.type is EntityType.TASK)
    busy_task = counts.most_common(1)[0][0].id
    middle = events[len(events) // 3]
    late = events[2 * len(events) // 3]
    scopes = [
        None,
        Scope(EntityType.WORKSPACE, ws),
        Scope(EntityType.PROJECT, project),
        Scope(EntityType.TASK, busy_task),
    ]
    out = []
    for scope, types, ascending in itertools.product(
        scopes, [(), ("task", "comment"), ("project",)], [False, True]
    ):
        if scope is None and types:
            continue
        base = EventQuery(
            org_id=org_id, scope=scope, subject_types=types, ascending=ascending, limit=7
        )
        out += [
            base,
            replace(base, recorded_from=middle.recorded_at),
            replace(base, recorded_to=late.recorded_at, until_seq=late.seq + 40),
            replace(base, after_seq=middle.seq),
        ]
    return out


def test_a_seeked_page_is_the_page_the_database_skips_to(
    store: Store, history: tuple[int, list[Event]], monkeypatch: pytest.MonkeyPatch
) -> None:
    org_id, events = history
    monkeypatch.setattr(seek, "SEEK_FROM", 1)
    checked = 0
    for q in queries(store, org_id, events):
        total = len(list(store.iter_events(q)))
        for offset in sorted({1, 2, 5, total // 2, total - 8, total - 1, total, total + 1, 5000}):
            if offset < 1:
                continue
            sought = replace(q, offset=offset)
            assert seek.seekable(sought)
            got = [e.seq for e in store.fetch_events(sought)]
            assert got == [e.seq for e in reference(store, sought)], (q, offset)
            checked += 1
    assert checked > 150


def test_large_offsets_take_the_seek_path_without_a_monkeypatch(
    store: Store, history: tuple[int, list[Event]]
) -> None:
    org_id, _ = history
    q = EventQuery(org_id=org_id, offset=seek.SEEK_FROM, limit=20)
    assert seek.seekable(q)
    with store.read() as conn:
        moved = seek.seek_offset(conn, q)
    every = list(store.iter_events(replace(q, offset=0)))
    assert moved is not None and moved.offset == 0
    assert moved.after_seq == every[q.offset - 1].seq
    assert [e.seq for e in store.fetch_events(q)] == [e.seq for e in reference(store, q)]


def test_other_filters_keep_the_database_skipping(store: Store) -> None:
    q = EventQuery(org_id=1, actions=("updated",), offset=10_000)
    assert not seek.seekable(q)
    assert not seek.seekable(replace(q, actions=(), visible_workspaces=frozenset({3})))
    assert not seek.seekable(replace(q, actions=(), subject_types=("task",)))  # no scope
    assert seek.seekable(replace(q, actions=()))


def test_scope_rows_rank_events_per_scope_and_subject_type(
    store: Store, history: tuple[int, list[Event]]
) -> None:
    org_id, _ = history
    s = t.event_scopes.c
    with store.read() as conn:
        rows = conn.execute(
            select(s.scope_type, s.scope_id, s.subject_type, s.seq, s.n)
            .where(s.org_id == org_id)
            .order_by(s.seq)
        ).all()
        subject_types = dict(
            conn.execute(
                select(t.events.c.seq, t.events.c.subject_type).where(t.events.c.org_id == org_id)
            ).all()
        )
    seen: Counter[tuple[str, int, str]] = Counter()
    for row in rows:
        assert row.subject_type == subject_types[row.seq]
        key = (row.scope_type, row.scope_id, row.subject_type)
        seen[key] += 1
        assert row.n == seen[key]


def test_recorded_time_never_goes_back(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_demo(store, events=60, seed=1)
    events = list(store.iter_events(EventQuery(org_id=built.org_id, ascending=True)))
    monkeypatch.setattr(writing, "now_micros", lambda: events[-1].recorded_at - 3_600_000_000)
    with store.write(built.org_id) as tx:
        user = store.list_entities(built.org_id, EntityType.USER, limit=1)[0]
        tx.append(
            NewEvent(
                occurred_at=events[-1].occurred_at,
                actor=None,
                action=Action.UPDATED,
                subject_type=EntityType.USER,
                subject_id=user.id,
                changes=[],
                before=user.state,
                after=user.state,
                context={},
                scopes=[Scope(EntityType.USER, user.id)],
            )
        )
    last = store.get_event(built.org_id, events[-1].seq + 1)
    assert last is not None and last.recorded_at == events[-1].recorded_at


def test_migrated_schema_matches_the_tables_the_code_declares(store: Store) -> None:
    with store.writer.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _declared})
        diff = compare_metadata(context, t.metadata)
    if store.dialect_name == "postgresql":  # what partitioning changes (store/partitions.py)
        assert sorted(_named(d) for d in diff) == [
            ("add_index", "ux_events_idempotency"),  # unique where not partitioned
            ("remove_column", "recorded_at"),  # event_scopes' partition key
            ("remove_index", "ux_events_idempotency"),
        ]
        return
    assert diff == []


def _declared(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
    """Everything but PostgreSQL's monthly partitions, which the code makes as it goes."""
    table = obj if kind == "table" else getattr(obj, "table", None)
    return table is None or re.fullmatch(r"(events|event_scopes)_p\d{4}_\d\d", table.name) is None


def _named(item: Any) -> tuple[str, str]:
    if isinstance(item, list):  # a column's changes come as a list of them
        item = item[0]
    if item[0] == "remove_column":
        return item[0], item[3].name
    return item[0], item[1].name


def test_upgrading_an_existing_store_ranks_its_scope_rows(
    store: Store, history: tuple[int, list[Event]]
) -> None:
    from alembic import command
    from alembic.config import Config

    s = t.event_scopes.c
    columns = select(s.org_id, s.scope_type, s.scope_id, s.seq, s.subject_type, s.n).order_by(
        s.org_id, s.scope_type, s.scope_id, s.seq
    )
    with store.read() as conn:
        before = conn.execute(columns).all()
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(writing.__file__).parent / "migrations"))
    with store.writer.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
        conn.commit()
    store.migrate()
    with store.read() as conn:
        after = conn.execute(columns).all()
    assert len(before) > 1500 and after == before
