"""The demo organization: exactly the events asked for, realistic shape, deterministic."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from worktrail.config import Settings
from worktrail.demo import build_demo
from worktrail.query import EventQuery
from worktrail.store import Store, open_store
from worktrail.verify import verify_chain


def fresh(path: Path) -> Store:
    store = open_store(Settings(database_url=f"sqlite:///{path}"))
    store.migrate()
    return store


def test_demo_history_has_the_promised_shape(store: Store) -> None:
    seen: list[int] = []
    result = build_demo(store, events=5000, progress=seen.append)
    assert result.event_count == 5000 == store.count_events(result.org_id)
    assert seen and seen[-1] == 5000 and seen == sorted(seen)
    assert result.workspaces >= 4 and result.users >= 30 and result.projects >= 10
    events = list(store.iter_events(EventQuery(org_id=result.org_id, ascending=True)))
    kinds = Counter((e.subject_type.value, e.action.value) for e in events)
    for needed in [
        ("task", "created"),
        ("task", "updated"),
        ("task", "closed"),
        ("task", "reopened"),
        ("task", "deleted"),
        ("task", "restored"),
        ("comment", "created"),
        ("comment", "updated"),
        ("project", "updated"),
    ]:
        assert kinds[needed] > 0, needed
    fields = Counter(c["field"].split(".")[0] for e in events for c in e.changes)
    for field in ("followers", "tags", "assignee", "custom_fields", "priority", "project"):
        assert fields[field] > 0, field
    assert any(e.after and e.after.get("parent") for e in events), "no subtasks"
    occurred = [e.occurred_at for e in events]
    assert occurred == sorted(occurred)
    assert len({e.actor.id for e in events if e.actor}) > 10
    assert verify_chain(store, result.org_id).ok


def test_same_seed_same_history(tmp_path: Path) -> None:
    histories = []
    for name in ("a", "b"):
        store = fresh(tmp_path / f"{name}.db")
        result = build_demo(store, events=1500, seed=3)
        events = store.iter_events(EventQuery(org_id=result.org_id, ascending=True))
        histories.append([(e.action, e.subject_type, e.subject_id, e.changes) for e in events])
        store.close()
    assert histories[0] == histories[1]
