"""The demo organization: exactly the events asked for, the promised shape, plausible
actors and times, the same history for the same seed."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from worktrail.config import Settings
from worktrail.demo import BATCH, MIN_EVENTS, DemoResult, build_demo
from worktrail.diff import micros_to_datetime, normalize_fields, now_micros
from worktrail.model import Action, EntityType, Event
from worktrail.query import EventQuery
from worktrail.store import Store, open_store
from worktrail.verify import verify_chain

WEEK = 7 * 86_400 * 1_000_000


def open_sqlite(path: Path) -> Store:
    store = open_store(Settings(database_url=f"sqlite:///{path}"))
    store.migrate()
    return store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_sqlite(tmp_path / "demo.db")
    yield store
    store.close()


def history(store: Store, org_id: int) -> list[Event]:
    return list(store.iter_events(EventQuery(org_id=org_id, ascending=True, limit=1000)))


@dataclass(frozen=True)
class Built:
    result: DemoResult
    events: list[Event]
    started: int  # now_micros() before and after build_demo
    finished: int


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    store = open_sqlite(tmp_path_factory.mktemp("demo") / "demo.db")
    started = now_micros()
    result = build_demo(store, events=3000, seed=11)
    built = Built(result, history(store, result.org_id), started, now_micros())
    assert verify_chain(store, result.org_id).ok
    store.close()
    yield built


@pytest.mark.parametrize(
    ("events", "written"),
    [
        (10, MIN_EVENTS),  # the skeleton (users, workspaces) is always written whole
        (MIN_EVENTS, MIN_EVENTS),
        (MIN_EVENTS + 1, MIN_EVENTS + 1),
        (500, 500),
        (2 * BATCH + 3, 2 * BATCH + 3),
    ],
)
def test_writes_exactly_the_events_asked_for(
    sqlite_store: Store, events: int, written: int
) -> None:
    seen: list[int] = []
    result = build_demo(sqlite_store, events=events, seed=5, progress=seen.append)
    assert result.event_count == written == sqlite_store.count_events(result.org_id)
    assert len(history(sqlite_store, result.org_id)) == written
    # progress after every transaction: increasing, at most one batch at a time, ends at the total
    assert seen[-1] == written
    steps = [b - a for a, b in zip([0, *seen], seen, strict=False)]
    assert all(0 < step <= BATCH for step in steps), steps
    assert len(seen) >= written // BATCH


def test_the_owner_and_the_counts(demo: Built) -> None:
    result, events = demo.result, demo.events
    created = Counter(e.subject_type for e in events if e.action is Action.CREATED)
    assert created[EntityType.ORGANIZATION] == 1
    assert result.workspaces == created[EntityType.WORKSPACE]
    assert result.users == created[EntityType.USER]
    assert result.projects == created[EntityType.PROJECT]
    assert result.tasks == created[EntityType.TASK]
    assert result.comments == created[EntityType.COMMENT]
    assert 4 <= result.workspaces <= 6
    assert 30 <= result.users <= 50
    assert result.projects >= 15
    assert result.tasks >= 6 * result.projects
    assert 0 < result.subtasks < result.tasks
    assert result.comments > 0
    owner = next(e for e in events if e.subject_id == result.owner_id)
    assert owner.after is not None
    assert owner.after["role"] == "owner" and owner.after["email"] == result.owner_email
    assert (result.first_at, result.last_at) == (events[0].occurred_at, events[-1].occurred_at)


def test_roles_and_workspace_membership(demo: Built) -> None:
    events = demo.events
    users = [e.after for e in events if e.subject_type is EntityType.USER and e.after]
    roles = Counter(user["role"] for user in users)
    assert roles["owner"] == 1 and 2 <= roles["admin"] <= 3 and roles["guest"] >= 1
    assert roles["member"] > len(users) / 2
    emails = [user["email"] for user in users]
    assert len(set(emails)) == len(emails)
    assert all(email.endswith("@acme-robotics.example") for email in emails)
    owner = demo.result.owner_id
    user_ids = {e.subject_id for e in events if e.subject_type is EntityType.USER}
    members: dict[int, set[int]] = {}
    changed = 0
    for event in events:
        if event.subject_type is not EntityType.WORKSPACE:
            continue
        assert event.after is not None
        members[event.subject_id] = set(event.after["members"])
        changed += event.action is Action.UPDATED
        if len(members) < demo.result.workspaces:
            continue
        # the owner is in every workspace, everyone else in one to three
        for user in user_ids:
            count = sum(user in m for m in members.values())
            if user == owner:
                assert count == len(members)
            else:
                assert 1 <= count <= 3, (user, count)
    assert changed > 0, "nobody joined or left a workspace"


def test_plausible_changes(demo: Built) -> None:
    events = demo.events
    kinds = Counter((e.subject_type, e.action) for e in events)
    for needed in [
        (EntityType.TASK, Action.CREATED),
        (EntityType.TASK, Action.UPDATED),
        (EntityType.TASK, Action.CLOSED),
        (EntityType.TASK, Action.REOPENED),
        (EntityType.TASK, Action.DELETED),
        (EntityType.TASK, Action.RESTORED),
        (EntityType.COMMENT, Action.CREATED),
        (EntityType.COMMENT, Action.UPDATED),
        (EntityType.PROJECT, Action.UPDATED),
    ]:
        assert kinds[needed] > 0, needed
    assert kinds[(EntityType.TASK, Action.CLOSED)] > kinds[(EntityType.TASK, Action.REOPENED)]
    fields = Counter(
        (e.subject_type, c["field"].split(".")[0])
        for e in events
        if e.action is not Action.CREATED
        for c in e.changes
    )
    task_fields = ["name", "notes", "assignee", "followers", "tags", "due_on", "priority"]
    task_fields += ["status", "custom_fields", "completed", "project"]
    for field in task_fields:
        assert fields[(EntityType.TASK, field)] > 0, field
    for field in ("name", "members"):
        assert fields[(EntityType.PROJECT, field)] > 0, field
    multi = [c for e in events for c in e.changes if c["field"] in ("followers", "tags")]
    assert any(c["added"] for c in multi) and any(c["removed"] for c in multi)


def test_tasks_lie_in_a_project_or_under_a_task(demo: Built) -> None:
    tasks = [e for e in demo.events if e.subject_type is EntityType.TASK]
    for event in tasks:
        assert event.after is not None
        assert (event.after["project"] is None) != (event.after["parent"] is None), event
    subtasks = {e.subject_id for e in tasks if e.after and e.after["parent"] is not None}
    assert len(subtasks) == demo.result.subtasks > 0
    moves = [e for e in tasks if any(c["field"] == "project" for c in e.changes) and e.before]
    assert moves and all(e.before and e.before["project"] for e in moves)


def test_states_are_canonical_and_deleted_entities_stay_untouched(demo: Built) -> None:
    deleted: set[int] = set()
    restored = 0
    for event in demo.events:
        assert event.after is not None
        assert normalize_fields(event.subject_type, event.after, partial=False) == event.after
        if event.subject_id in deleted:
            assert event.action is Action.RESTORED, event
            deleted.discard(event.subject_id)
            restored += 1
        elif event.action is Action.DELETED:
            deleted.add(event.subject_id)
        else:
            assert event.action is not Action.RESTORED
    assert restored > 0


def test_actors_belong_to_the_workspace(demo: Built) -> None:
    """Every change after the owner's creation is made by an owner, admin or member (never a
    guest) who belongs to the workspace it happens in."""
    roles: dict[int, str] = {}
    members: dict[int, set[int]] = {}
    actors = set()
    for event in demo.events:
        assert event.after is not None
        if event.seq > 2:
            assert event.actor is not None
            actors.add(event.actor.id)
            assert roles[event.actor.id] in ("owner", "admin", "member")
            for scope in event.scopes:
                if scope.type is EntityType.WORKSPACE and scope.id in members:
                    assert event.actor.id in members[scope.id], event
        if event.subject_type is EntityType.USER:
            roles[event.subject_id] = event.after["role"]
        elif event.subject_type is EntityType.WORKSPACE:
            members[event.subject_id] = set(event.after["members"])
    assert len(actors) > 20


def test_times_look_like_working_weeks(demo: Built) -> None:
    times = [e.occurred_at for e in demo.events]
    assert times == sorted(times)
    assert demo.started - 6 * WEEK <= times[0] < demo.started - 5 * WEEK
    assert demo.started - WEEK < times[-1] <= demo.finished
    moments = [micros_to_datetime(t) for t in times]
    weekdays = [m for m in moments if m.weekday() < 5]
    assert len(weekdays) >= 0.9 * len(moments)
    assert sum(7 <= m.hour < 19 for m in weekdays) >= 0.85 * len(weekdays)
    assert len({m.date() for m in weekdays}) >= 25  # spread over the working days


def test_weeks_sets_the_period(sqlite_store: Store) -> None:
    started = now_micros()
    result = build_demo(sqlite_store, events=300, weeks=1)
    events = history(sqlite_store, result.org_id)
    assert started - WEEK <= events[0].occurred_at <= events[-1].occurred_at <= now_micros()


def test_same_seed_same_history(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> list[tuple[Action, EntityType, int, tuple[str, ...]]]:
        store = open_sqlite(tmp_path / f"{name}.db")
        result = build_demo(store, events=1500, seed=seed)
        events = history(store, result.org_id)
        store.close()
        return [
            (e.action, e.subject_type, e.subject_id, tuple(c["field"] for c in e.changes))
            for e in events
        ]

    first = run("a", 3)
    assert run("b", 3) == first
    assert run("c", 4) != first


# The history build_demo wrote for (events=600, seed=3, end=PINNED_END) before it was split into
# a package: the refactoring must not change a single event.
PINNED_END = 1_780_000_000_000_000
PINNED_DIGEST = "115efba0e2250991c42c59b1b02ab90f0bb73694f8e8c20f98f261697bd2c802"


def history_digest(events: list[Event]) -> str:
    """SHA-256 over the content of every event, in seq order: what the demo decided (who
    changed what, when, in which scopes), leaving out what follows the wall clock
    (recorded_at, and through it the hash chain) and the request context."""
    digest = hashlib.sha256()
    for event in events:
        content = {
            "seq": event.seq,
            "occurred_at": event.occurred_at,
            "actor": event.actor.to_json() if event.actor else None,
            "action": event.action.value,
            "subject_type": event.subject_type.value,
            "subject_id": event.subject_id,
            "changes": list(event.changes),
            "before": event.before,
            "after": event.after,
            "scopes": [str(scope) for scope in event.scopes],
        }
        digest.update(orjson.dumps(content, option=orjson.OPT_SORT_KEYS))
        digest.update(b"\n")
    return digest.hexdigest()


def test_end_pins_the_whole_history(tmp_path: Path) -> None:
    """With `end` given, the same seed gives exactly the same history, times included."""
    store = open_sqlite(tmp_path / "pinned.db")
    result = build_demo(store, events=600, seed=3, end=PINNED_END)
    events = history(store, result.org_id)
    store.close()
    assert len(events) == result.event_count == 600
    assert [e.seq for e in events] == list(range(1, 601))
    assert PINNED_END - 6 * WEEK <= events[0].occurred_at <= events[-1].occurred_at <= PINNED_END
    assert history_digest(events) == PINNED_DIGEST
