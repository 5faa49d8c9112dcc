"""A realistic demo organization: workspaces, dozens of users, hundreds of projects and
tasks, comments, and weeks of activity on working days, written through the same Recorder
as every other write (so the demo history is real history: diffs, scopes, hash chain).

Deterministic for a given seed. Written in transactions of about 2,000 events.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .diff import datetime_to_micros, initial_state, micros_to_datetime, now_micros
from .model import PRIORITIES, STATUSES, Action, Actor, EntityType, Role, State
from .orgs import create_organization
from .store import EntityRow, Store, WriteTransaction
from .write import Recorder, WriteResult

BATCH = 2000
DOMAIN = "acme-robotics.example"
FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "William",
    "Mia",
    "Benjamin",
    "Charlotte",
    "Lucas",
    "Amelia",
    "Henry",
    "Harper",
    "Theodore",
    "Evelyn",
    "Jack",
    "Luna",
    "Levi",
    "Camila",
    "Alexander",
    "Gianna",
    "Jackson",
    "Elena",
    "Mateo",
    "Aria",
    "Daniel",
    "Ellie",
    "Michael",
    "Nora",
    "Mason",
    "Hazel",
    "Sebastian",
    "Zoe",
    "Ethan",
    "Riley",
    "Logan",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
]
WORKSPACES = ("Engineering", "Marketing", "Design", "Operations", "Sales")
PROJECT_WORDS = [
    "Launch",
    "Platform",
    "Website",
    "Mobile",
    "Billing",
    "Onboarding",
    "Analytics",
    "Search",
    "Payments",
    "Security",
    "Hiring",
    "Campaign",
    "Roadmap",
    "Migration",
    "Research",
    "Support",
    "Partner",
    "Docs",
    "Pricing",
    "Infrastructure",
]
PROJECT_SUFFIX = ("Q1", "Q2", "Q3", "Q4", "v2", "Pilot", "Refresh", "Rollout", "Audit", "Sprint")
VERBS = [
    "Draft",
    "Review",
    "Design",
    "Implement",
    "Test",
    "Fix",
    "Update",
    "Plan",
    "Write",
    "Prepare",
    "Analyze",
    "Migrate",
    "Deploy",
    "Document",
    "Refactor",
    "Measure",
    "Schedule",
    "Publish",
    "Verify",
    "Clean",
]
OBJECTS = [
    "API spec",
    "landing page",
    "release notes",
    "login flow",
    "pricing table",
    "dashboard",
    "onboarding emails",
    "database schema",
    "test plan",
    "budget",
    "style guide",
    "customer interviews",
    "invoice export",
    "search index",
    "SLA report",
    "hiring brief",
    "press kit",
    "backup job",
    "error budget",
    "user survey",
]
TAGS = ("urgent", "blocked", "customer", "backend", "frontend", "design", "bug", "docs", "q3")
COMMENTS = (
    "Looks good to me.",
    "Can we move this to next week?",
    "I pushed a first version, feedback welcome.",
    "Blocked on the review from legal.",
    "Done, closing the loop here.",
    "Please take a look when you have a minute.",
    "Numbers are in the shared sheet.",
    "Let's discuss in the stand-up.",
    "Updated the estimate after the call.",
    "The customer confirmed the new date.",
)


@dataclass(frozen=True)
class DemoResult:
    org_id: int
    owner_id: int
    owner_email: str
    event_count: int
    workspaces: int
    users: int
    projects: int
    tasks: int
    comments: int


@dataclass
class _World:
    """What the generator knows, kept in memory so it never re-reads the database."""

    users: list[EntityRow] = field(default_factory=list)
    workspaces: list[EntityRow] = field(default_factory=list)
    ws_members: dict[int, list[int]] = field(default_factory=dict)
    projects: list[int] = field(default_factory=list)
    project_ws: dict[int, int] = field(default_factory=dict)
    tasks: list[int] = field(default_factory=list)
    task_ws: dict[int, int] = field(default_factory=dict)
    comments: list[int] = field(default_factory=list)
    rows: dict[int, EntityRow] = field(default_factory=dict)
    deleted: list[int] = field(default_factory=list)


class _Clock:
    """Timestamps spread evenly over the working hours (Mon-Fri, 08:00-19:00 UTC) between
    `start` and now, with jitter, never decreasing."""

    def __init__(self, rng: random.Random, start: int, events: int) -> None:
        self.rng = rng
        self.end = now_micros()
        self.events = max(events, 1)
        self.calls = 0
        self.intervals: list[tuple[int, int]] = []
        day = micros_to_datetime(start).date()
        while True:
            opens = datetime_to_micros(dt.datetime(day.year, day.month, day.day, 8, tzinfo=dt.UTC))
            if opens >= self.end:
                break
            closes = min(opens + 11 * 3600 * 1_000_000, self.end)
            if day.weekday() < 5 and closes > max(opens, start):
                self.intervals.append((max(opens, start), closes))
            day += dt.timedelta(days=1)
        self.total = sum(b - a for a, b in self.intervals)
        self.index = 0
        self.offset = 0  # working time before intervals[index]
        self.last = start

    def tick(self) -> int:
        if not self.intervals:
            return self.end
        fraction = (min(self.calls, self.events - 1) + self.rng.random()) / self.events
        self.calls += 1
        target = int(self.total * fraction)
        while self.index < len(self.intervals) - 1:
            a, b = self.intervals[self.index]
            if target < self.offset + (b - a):
                break
            self.offset += b - a
            self.index += 1
        a, b = self.intervals[self.index]
        self.last = max(self.last, min(a + max(0, target - self.offset), b))
        return self.last


class _Generator:
    def __init__(self, store: Store, org_id: int, events: int, seed: int, start: int) -> None:
        self.store = store
        self.org_id = org_id
        self.target = events
        self.rng = random.Random(seed)
        self.clock = _Clock(self.rng, start, events)
        self.world = _World()
        self.written = 2  # the organization and its owner
        self.tx: WriteTransaction | None = None
        self.rec: Recorder | None = None
        self.in_batch = 0

    # -- plumbing ------------------------------------------------------------------------

    def record(
        self,
        entity_type: EntityType,
        entity: EntityRow | None,
        state: State,
        actor: Actor | None,
        action: Action | None = None,
    ) -> WriteResult | None:
        assert self.rec is not None
        result = self.rec.record(
            entity_type, entity, state, action=action, occurred_at=self.clock.tick(), actor=actor
        )
        self.world.rows[result.entity.id] = result.entity
        if result.event is None:
            return None
        self.written += 1
        self.in_batch += 1
        return result

    def actor_for(self, workspace_id: int | None) -> Actor:
        pool = self.world.ws_members.get(workspace_id or 0) or [u.id for u in self.world.users]
        user = self.world.rows[self.rng.choice(pool)]
        return Actor(user.id, str(user.state["name"]), str(user.state["email"]))

    def done(self) -> bool:
        return self.written >= self.target

    # -- setup ---------------------------------------------------------------------------

    def setup(self, owner: EntityRow) -> None:
        rng, world = self.rng, self.world
        world.users.append(owner)
        world.rows[owner.id] = owner
        owner_actor = Actor(owner.id, str(owner.state["name"]), str(owner.state["email"]))
        surnames = rng.sample(LAST, len(LAST))
        names = [f"{first} {surnames[i % len(surnames)]}" for i, first in enumerate(FIRST[1:])]
        for i, name in enumerate(names):
            role = Role.ADMIN if i < 3 else Role.GUEST if i % 11 == 10 else Role.MEMBER
            email = name.lower().replace(" ", ".") + "@" + DOMAIN
            state = {**initial_state(EntityType.USER), "name": name, "email": email}
            state["role"] = role.value
            result = self.record(EntityType.USER, None, state, owner_actor)
            assert result is not None
            world.users.append(result.entity)
        for name in WORKSPACES:
            members = [owner.id] + [u.id for u in rng.sample(world.users[1:], 14)]
            state = {**initial_state(EntityType.WORKSPACE), "name": name}
            state["members"] = sorted(set(members))
            state["description"] = f"Everything {name} works on."
            result = self.record(EntityType.WORKSPACE, None, state, owner_actor)
            assert result is not None
            world.workspaces.append(result.entity)
            world.ws_members[result.entity.id] = state["members"]
        n_projects = max(3, min(2000, self.target // 200))
        # The setup is one transaction (at most a few tens of thousands of events), so it
        # never has to resume half-way.
        for _ in range(n_projects):
            if self.done():
                return
            self.new_project()
        for project in list(world.projects):
            for _ in range(rng.randint(4, 10)):
                if self.done():
                    return
                self.new_task(project)

    def new_project(self) -> None:
        rng, world = self.rng, self.world
        ws = rng.choice(world.workspaces)
        members = world.ws_members[ws.id]
        name = f"{rng.choice(PROJECT_WORDS)} {rng.choice(PROJECT_SUFFIX)}"
        state = {**initial_state(EntityType.PROJECT), "name": name, "workspace": ws.id}
        state["owner"] = rng.choice(members)
        state["members"] = sorted(rng.sample(members, min(len(members), rng.randint(2, 6))))
        if rng.random() < 0.5:
            state["due_on"] = self.future_date()
        result = self.record(EntityType.PROJECT, None, state, self.actor_for(ws.id))
        if result:
            world.projects.append(result.entity.id)
            world.project_ws[result.entity.id] = ws.id

    def new_task(self, project: int, parent: int | None = None) -> None:
        rng, world = self.rng, self.world
        ws = world.project_ws[project]
        state = {**initial_state(EntityType.TASK), "name": self.task_name()}
        if parent is not None:
            state["parent"] = parent
        else:
            state["project"] = project
        state["priority"] = rng.choice(PRIORITIES)
        state["status"] = "open"
        if rng.random() < 0.6:
            state["assignee"] = rng.choice(world.ws_members[ws])
        if rng.random() < 0.4:
            state["tags"] = sorted(rng.sample(TAGS, rng.randint(1, 2)))
        if rng.random() < 0.5:
            state["due_on"] = self.future_date()
        result = self.record(EntityType.TASK, None, state, self.actor_for(ws))
        if result:
            world.tasks.append(result.entity.id)
            world.task_ws[result.entity.id] = ws

    def task_name(self) -> str:
        return f"{self.rng.choice(VERBS)} {self.rng.choice(OBJECTS)}"

    def future_date(self) -> str:
        day = dt.date.today() + dt.timedelta(days=self.rng.randint(-20, 60))
        return day.isoformat()

    # -- activity ------------------------------------------------------------------------

    def activity(self) -> None:
        ops: list[tuple[float, Callable[[], None]]] = [
            (40, self.edit_task),
            (10, self.followers),
            (7, self.tags),
            (10, self.close_or_reopen),
            (12, self.comment),
            (4, self.edit_comment),
            (6, self.more_tasks),
            (1.5, self.delete_task),
            (1.5, self.restore_task),
            (1.5, self.move_task),
            (4, self.edit_project),
            (1, self.workspace_members),
        ]
        weights = [w for w, _ in ops]
        funcs = [f for _, f in ops]
        while not self.done():
            self.rng.choices(funcs, weights)[0]()
            self.maybe_commit()

    def live_task(self) -> EntityRow | None:
        for _ in range(8):
            task = self.world.rows[self.rng.choice(self.world.tasks)]
            if not task.deleted:
                return task
        return None

    def edit_task(self) -> None:
        task = self.live_task()
        if task is None:
            return
        rng, state = self.rng, dict(task.state)
        ws = self.world.task_ws[task.id]
        what = rng.randrange(8)
        if what == 0:
            state["name"] = self.task_name()
        elif what == 1:
            state["notes"] = rng.choice(COMMENTS) + " " + rng.choice(COMMENTS)
        elif what == 2:
            state["priority"] = rng.choice([p for p in PRIORITIES if p != state["priority"]])
        elif what == 3:
            state["status"] = rng.choice([s for s in STATUSES if s != state["status"]])
        elif what == 4:
            state["due_on"] = self.future_date()
        elif what == 5:
            state["assignee"] = rng.choice(self.world.ws_members[ws])
        elif what == 6:
            custom = dict(state.get("custom_fields") or {})
            custom["points"] = rng.choice([1, 2, 3, 5, 8, 13])
            if rng.random() < 0.3:
                custom["team"] = rng.choice(["alpha", "beta", "gamma"])
            state["custom_fields"] = custom
        else:
            state["due_at"] = f"{self.future_date()}T{rng.randint(8, 18):02d}:00:00.000Z"
        self.record(EntityType.TASK, task, state, self.actor_for(ws))

    def followers(self) -> None:
        task = self.live_task()
        if task is None:
            return
        ws = self.world.task_ws[task.id]
        current = set(task.state.get("followers") or [])
        user = self.rng.choice(self.world.ws_members[ws])
        current ^= {user}
        state = {**task.state, "followers": sorted(current)}
        self.record(EntityType.TASK, task, state, self.actor_for(ws))

    def tags(self) -> None:
        task = self.live_task()
        if task is None:
            return
        current = set(task.state.get("tags") or [])
        current ^= {self.rng.choice(TAGS)}
        state = {**task.state, "tags": sorted(current)}
        self.record(EntityType.TASK, task, state, self.actor_for(self.world.task_ws[task.id]))

    def close_or_reopen(self) -> None:
        task = self.live_task()
        if task is None:
            return
        completed = not task.state.get("completed")
        state = {**task.state, "completed": completed, "status": "done" if completed else "open"}
        self.record(EntityType.TASK, task, state, self.actor_for(self.world.task_ws[task.id]))

    def comment(self) -> None:
        task = self.live_task()
        if task is None:
            return
        state = {**initial_state(EntityType.COMMENT), "task": task.id}
        state["text"] = self.rng.choice(COMMENTS)
        result = self.record(
            EntityType.COMMENT, None, state, self.actor_for(self.world.task_ws[task.id])
        )
        if result:
            self.world.comments.append(result.entity.id)

    def edit_comment(self) -> None:
        if not self.world.comments:
            return self.comment()
        comment = self.world.rows[self.rng.choice(self.world.comments)]
        task = self.world.rows[comment.state["task"]]
        if comment.deleted or task.deleted:
            return None
        state = {**comment.state, "text": comment.state["text"] + " (edited)"}
        self.record(EntityType.COMMENT, comment, state, self.actor_for(self.world.task_ws[task.id]))
        return None

    def more_tasks(self) -> None:
        parent = self.live_task() if self.rng.random() < 0.3 else None
        if parent is not None:
            project = self.top_project(parent)
            self.new_task(project, parent=parent.id)
        else:
            self.new_task(self.rng.choice(self.world.projects))

    def top_project(self, task: EntityRow) -> int:
        while task.state.get("parent"):
            task = self.world.rows[task.state["parent"]]
        return int(task.state["project"])

    def delete_task(self) -> None:
        task = self.live_task()
        if task is None:
            return
        ws = self.world.task_ws[task.id]
        if self.record(EntityType.TASK, task, task.state, self.actor_for(ws), Action.DELETED):
            self.world.deleted.append(task.id)

    def restore_task(self) -> None:
        if not self.world.deleted:
            return
        task = self.world.rows[self.world.deleted.pop(self.rng.randrange(len(self.world.deleted)))]
        if task.state.get("parent") and self.world.rows[task.state["parent"]].deleted:
            return
        ws = self.world.task_ws[task.id]
        self.record(EntityType.TASK, task, task.state, self.actor_for(ws), Action.RESTORED)

    def move_task(self) -> None:
        task = self.live_task()
        if task is None or task.state.get("parent"):
            return
        ws = self.world.task_ws[task.id]
        choices = [p for p in self.world.projects if self.world.project_ws[p] == ws]
        target = self.rng.choice(choices)
        if target == task.state.get("project") or self.world.rows[target].deleted:
            return
        self.record(EntityType.TASK, task, {**task.state, "project": target}, self.actor_for(ws))

    def edit_project(self) -> None:
        project = self.world.rows[self.rng.choice(self.world.projects)]
        ws = self.world.project_ws[project.id]
        state: dict[str, Any] = dict(project.state)
        what = self.rng.randrange(4)
        if what == 0:
            state["name"] = f"{self.rng.choice(PROJECT_WORDS)} {self.rng.choice(PROJECT_SUFFIX)}"
        elif what == 1:
            state["description"] = self.rng.choice(COMMENTS)
        elif what == 2:
            state["members"] = sorted(
                set(state["members"]) ^ {self.rng.choice(self.world.ws_members[ws])}
            )
        else:
            state["archived"] = not state.get("archived")
        self.record(EntityType.PROJECT, project, state, self.actor_for(ws))

    def workspace_members(self) -> None:
        ws = self.rng.choice(self.world.workspaces)
        ws = self.world.rows[ws.id]
        user = self.rng.choice(self.world.users[1:])
        members = set(ws.state["members"]) ^ {user.id}
        state = {**ws.state, "members": sorted(members)}
        owner = self.world.users[0]
        actor = Actor(owner.id, str(owner.state["name"]), str(owner.state["email"]))
        if self.record(EntityType.WORKSPACE, ws, state, actor):
            self.world.ws_members[ws.id] = state["members"]

    # -- transactions --------------------------------------------------------------------

    def maybe_commit(self) -> None:
        if self.in_batch >= BATCH:
            self.commit()

    def commit(self) -> None:
        raise _Commit


class _Commit(Exception):
    """Ends the current transaction; the generator opens the next one."""


def build_demo(
    store: Store,
    *,
    events: int = 20_000,
    seed: int = 7,
    weeks: int = 6,
    progress: Callable[[int], None] | None = None,
    org_name: str = "Acme Robotics",
) -> DemoResult:
    """Create a demo organization whose history holds `events` events (at least the setup)."""
    owner_email = f"olivia.owner@{DOMAIN}"
    start = now_micros() - weeks * 7 * 86_400 * 1_000_000
    created = create_organization(store, org_name, "Olivia Owner", owner_email, occurred_at=start)
    gen = _Generator(store, created.org_id, events, seed, start)
    owner = store.get_entity(created.org_id, created.owner_id)
    assert owner is not None
    phase = "setup"
    while True:
        with store.write(created.org_id) as tx:
            gen.tx, gen.in_batch = tx, 0
            gen.rec = Recorder(tx, None, source="system")
            try:
                if phase == "setup":
                    gen.setup(owner)
                    phase = "activity"
                gen.activity()
                finished = True
            except _Commit:
                finished = False
        if progress:
            progress(gen.written)
        if finished:
            break
    world = gen.world
    return DemoResult(
        org_id=created.org_id,
        owner_id=created.owner_id,
        owner_email=owner_email,
        event_count=gen.written,
        workspaces=len(world.workspaces),
        users=len(world.users),
        projects=len(world.projects),
        tasks=len(world.tasks),
        comments=len(world.comments),
    )
