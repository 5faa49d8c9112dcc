"""A realistic demo organization: a few workspaces, dozens of users, hundreds of projects
with their tasks and subtasks, comments, and weeks of activity, mostly on working days in
working hours. Every change is written through the same Recorder as any other write, so the
demo history is real history: field-level diffs, scopes, the hash chain.

The history holds exactly `events` events (or the fixed-size skeleton of users and
workspaces, `MIN_EVENTS`, when fewer are asked for) and is written in transactions of
`BATCH` events. The same seed gives the same changes in the same order; only the times
follow the moment it runs (the history always ends now). The generator keeps every entity
it wrote in memory and never reads one back from the database.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .diff import format_datetime, initial_state, micros_to_datetime, now_micros
from .model import PRIORITIES, Action, Actor, EntityType, Role, State
from .orgs import create_organization
from .store import EntityRow, Store, WriteTransaction
from .write import Recorder

BATCH = 2000
DOMAIN = "acme-robotics.example"
OWNER_NAME = "Olivia Owner"
OWNER_EMAIL = f"olivia.owner@{DOMAIN}"
USERS = 40  # the owner included
ADMINS = 3
GUESTS = 4

HOUR = 3_600_000_000
DAY = 24 * HOUR


def _words(*parts: str) -> tuple[str, ...]:
    """A '|'-separated vocabulary, written compactly across several string literals."""
    return tuple(w.strip() for w in "|".join(parts).split("|") if w.strip())


FIRST_NAMES = _words(
    "Liam|Emma|Noah|Ava|Elijah|Sophia|James|Isabella|Mia|Benjamin|Charlotte|Lucas|Amelia",
    "Henry|Harper|Theodore|Evelyn|Jack|Luna|Levi|Camila|Alexander|Elena|Mateo|Aria|Daniel",
    "Nora|Mason|Hazel|Sebastian|Zoe|Ethan|Riley|Priya|Arjun|Yuki|Hiroshi|Fatima|Omar|Ingrid",
    "Lars|Chiara|Marco|Ana|Diego|Wei|Mei|Kwame|Amara|Sofia|Jonas|Leila|Tomás|Aisha|Nikolai",
)
LAST_NAMES = _words(
    "Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez|Lopez|Wilson",
    "Anderson|Taylor|Moore|Martin|Lee|Thompson|White|Harris|Clark|Lewis|Robinson|Walker|Young",
    "Allen|King|Wright|Scott|Nguyen|Patel|Sharma|Tanaka|Sato|Khan|Haddad|Larsen|Rossi|Bianchi",
    "Silva|Fernandes|Chen|Wang|Mensah|Okafor|Novak|Schmidt|Fischer|Petrov|Kowalski|Dubois",
)


@dataclass(frozen=True)
class _Area:
    """What one workspace works on: the words its projects and tasks are named with."""

    name: str
    description: str
    weight: float  # share of the projects
    topics: tuple[str, ...]
    verbs: tuple[str, ...]
    objects: tuple[str, ...]
    tags: tuple[str, ...]


AREAS = (
    _Area(
        "Engineering",
        "Product development: platform, apps and infrastructure.",
        3.0,
        _words("API Platform|Mobile App|Billing|Search|Payments|Security|Data Pipeline"),
        _words("Implement|Fix|Refactor|Test|Review|Deploy|Migrate|Document|Profile|Design"),
        _words(
            "login flow|API rate limits|database schema|search index|invoice export|SSO",
            "webhook retries|flaky build|backup job|error budget|release pipeline|cache layer",
            "push notifications|audit log|feature flags|dependency upgrades|on-call runbook",
        ),
        _words("backend|frontend|bug|tech-debt|infra|security|performance"),
    ),
    _Area(
        "Marketing",
        "Campaigns, content and the website.",
        1.5,
        _words("Spring Campaign|Website|Newsletter|Product Launch|Brand|Events|SEO"),
        _words("Draft|Review|Publish|Plan|Schedule|Measure|Update|Write|Translate"),
        _words(
            "landing page|press release|launch blog post|newsletter issue|case study",
            "social calendar|webinar deck|ad copy|customer story|conference booth|keyword list",
        ),
        _words("content|social|launch|paid|events|web"),
    ),
    _Area(
        "Design",
        "Product design, research and the design system.",
        1.0,
        _words("Design System|Onboarding|Dashboard|Mobile Redesign|User Research|Icons"),
        _words("Design|Prototype|Review|Sketch|Test|Polish|Update|Audit"),
        _words(
            "empty states|settings page|color tokens|onboarding screens|usability study",
            "icon set|dark mode|illustrations|interview guide|accessibility pass",
        ),
        _words("ux|ui|research|a11y|design-system"),
    ),
    _Area(
        "Operations",
        "People, finance, legal and the office.",
        1.0,
        _words("Hiring|Office Move|Vendor Review|Budget|Compliance|Onboarding Ops|IT"),
        _words("Prepare|Review|Sign|Order|Schedule|Renew|Update|Collect|Approve"),
        _words(
            "hiring brief|offer letters|laptop orders|budget forecast|vendor contracts",
            "security training|travel policy|insurance renewal|payroll changes|SOC 2 evidence",
        ),
        _words("finance|legal|people|it|facilities"),
    ),
    _Area(
        "Sales",
        "Pipeline, accounts and partnerships.",
        1.5,
        _words("EMEA Pipeline|Enterprise Deals|Partner Program|Renewals|Pricing|Sales Enablement"),
        _words("Prepare|Send|Follow up on|Negotiate|Update|Review|Qualify|Schedule"),
        _words(
            "proposal for Globex|pricing table|demo for Initech|renewal quote|partner contract",
            "pilot plan for Umbrella|QBR deck|battle card|pipeline report|reference call",
        ),
        _words("enterprise|smb|renewal|partner|pricing"),
    ),
)
MIN_EVENTS = 2 + (USERS - 1) + len(AREAS)  # organization, owner, users, workspaces

SUFFIXES = _words("Q1|Q2|Q3|Q4|v2|Pilot|Refresh|Rollout|2.0|Phase 2")
SHARED_TAGS = _words("urgent|customer|blocked|quick-win|needs-review|q3")
NOTES = _words(
    "Context and acceptance criteria are in the linked doc.",
    "Scope agreed in Monday's planning.",
    "Customer asked for this twice; keep them posted.",
    "Depends on the vendor's answer.",
    "Keep it small: one iteration, then review.",
    "Numbers are in the shared sheet.",
    "First draft is done, needs a second pair of eyes.",
    "Estimate updated after the call.",
)
COMMENTS = _words(
    "Looks good to me.|Can we move this to next week?|Pushed a first version, feedback welcome.",
    "Blocked on the review from legal.|Done, closing the loop here.",
    "Please take a look when you have a minute.|Numbers are in the shared sheet.",
    "Let's discuss in the stand-up.|Updated the estimate after the call.",
    "The customer confirmed the new date.|I can pair on this tomorrow.",
    "Added screenshots to the doc.|This is bigger than we thought, splitting it up.",
    "Nice work!|Any update here?|Moved the meeting to Thursday.|Thanks, merged.",
    "I'll pick this up after lunch.|Should we loop in support?|Sent the draft for sign-off.",
)
COMMENT_EDITS = _words(
    " (edited: fixed the link)| Update: done.| Update: still waiting.| (typo fixed)",
    " Adding: see the thread in #general.",
)
STATUS_NEXT = {
    "open": ("in_progress", "in_progress", "blocked"),
    "in_progress": ("review", "review", "blocked", "open"),
    "blocked": ("in_progress", "open"),
    "review": ("in_progress", "done"),
    "done": ("review",),
}
PRIORITY_WEIGHTS = (30, 20, 30, 15, 5)  # none, low, medium, high, urgent
HOT_TASKS = 100  # tasks worked on lately ...
HOT_SHARE = 0.6  # ... get this share of the changes to tasks


@dataclass(frozen=True)
class DemoResult:
    org_id: int
    owner_id: int
    owner_email: str
    event_count: int  # events written, the organization's and the owner's included
    workspaces: int
    users: int
    projects: int
    tasks: int  # subtasks included
    subtasks: int
    comments: int
    first_at: int  # occurred_at of the first and the last event (microseconds, UTC)
    last_at: int


# Relative activity by hour of the day (UTC, the organization's zone) on a working day.
_HOURLY = (
    *(0.0,) * 6,
    *(0.02, 0.15, 0.6, 1.0, 1.0, 1.0, 0.6, 0.9, 1.0, 1.0, 0.9, 0.6, 0.3, 0.15, 0.08, 0.05),
    *(0.02, 0.01),
)
_WEEKEND = 0.04  # a weekend hour is this much as busy as the same hour on a working day


class _Clock:
    """Gives the n-th of `total` events its time: the inverse of the cumulative activity
    between `start` and `end`, by the hour (busy weekdays, quiet nights and weekends, some
    days busier than others), with jitter. Never decreasing."""

    def __init__(self, rng: random.Random, start: int, end: int, total: int) -> None:
        self.rng = rng
        self.total = max(total, 1)
        self.end = end
        self.bounds: list[int] = []
        self.cum: list[float] = []  # activity before bounds[k]
        day_factor: dict[int, float] = {}
        at, acc = start, 0.0
        while at < end:
            day = at // DAY
            if day not in day_factor:
                day_factor[day] = rng.uniform(0.6, 1.4)
            nxt = min((at // HOUR + 1) * HOUR, end)
            weight = _HOURLY[(at % DAY) // HOUR] * day_factor[day]
            if (day + 3) % 7 >= 5:  # 1970-01-01 was a Thursday
                weight *= _WEEKEND
            self.bounds.append(at)
            self.cum.append(acc)
            acc += weight * (nxt - at) / HOUR
            at = nxt
        self.bounds.append(end)
        self.cum.append(acc)
        self.activity = acc
        self.index = 0
        self.k = 0
        self.last = start
        self.current = start
        self.advance(first=True)

    def advance(self, first: bool = False) -> None:
        """Move to the next event's time (`current`)."""
        if not first:
            self.index += 1
        if self.activity <= 0:
            self.current = self.end
            return
        fraction = min((min(self.index, self.total - 1) + self.rng.random()) / self.total, 1.0)
        target = fraction * self.activity
        cum, k = self.cum, self.k
        while k < len(cum) - 2 and cum[k + 1] <= target:
            k += 1
        self.k = k
        width = cum[k + 1] - cum[k]
        a, b = self.bounds[k], self.bounds[k + 1]
        at = a + int((target - cum[k]) / width * (b - a)) if width > 0 else b
        self.last = max(self.last, min(at, self.end))
        self.current = self.last


class _Demo:
    def __init__(self, owner: EntityRow, rng: random.Random, clock: _Clock) -> None:
        self.rng = rng
        self.clock = clock
        self.written = 2  # the organization and its owner
        self.last_at = clock.current
        self.in_batch = 0
        self.tx: WriteTransaction | None = None
        self.recorders: dict[int, Recorder] = {}
        self.rows: dict[int, EntityRow] = {owner.id: owner}
        self.owner = owner.id
        # users
        self.users: list[int] = [owner.id]
        self.actors: dict[int, Actor] = {owner.id: _actor(owner)}
        self.roles: dict[int, Role] = {owner.id: Role.OWNER}
        self.first_names: dict[int, str] = {owner.id: "Olivia"}
        self.user_ws: dict[int, set[int]] = {owner.id: set()}
        # workspaces: members, members who may write (no guests), and what they work on
        self.workspaces: list[int] = []
        self.ws_area: dict[int, _Area] = {}
        self.ws_members: dict[int, list[int]] = {}
        self.ws_writers: dict[int, list[int]] = {}
        self.ws_writer_set: dict[int, set[int]] = {}
        self.ws_projects: dict[int, list[int]] = {}
        self.ws_cum_weights: list[float] = []
        # projects, tasks, comments
        self.projects: list[int] = []
        self.project_ws: dict[int, int] = {}
        self.tasks: list[int] = []
        self.top_tasks: list[int] = []
        self.task_ws: dict[int, int] = {}
        self.subtasks = 0
        self.comments: list[int] = []
        self.comment_author: dict[int, int] = {}
        self.deleted: list[int] = []  # deleted tasks and comments, candidates for a restore
        self.hot: list[int] = []  # tasks worked on lately
        self.hot_next = 0

    # -- plumbing ------------------------------------------------------------------------

    def begin(self, tx: WriteTransaction) -> None:
        self.tx = tx
        self.recorders = {}
        self.in_batch = 0

    def record(
        self,
        entity_type: EntityType,
        entity: EntityRow | None,
        state: State,
        actor_id: int,
        action: Action | None = None,
    ) -> EntityRow | None:
        """Write one change as `actor_id`; the new row, or None when nothing changed."""
        rec = self.recorders.get(actor_id)
        if rec is None:
            assert self.tx is not None
            rec = Recorder(self.tx, None, actor=self.actors[actor_id], source="system")
            self.recorders[actor_id] = rec
        at = self.clock.current
        result = rec.record(entity_type, entity, state, occurred_at=at, action=action)
        self.rows[result.entity.id] = result.entity
        if result.event is None:
            return None
        self.last_at = at
        self.written += 1
        self.in_batch += 1
        self.clock.advance()
        if entity_type is EntityType.TASK:
            self.touch(result.entity.id)
        elif entity_type is EntityType.COMMENT:
            self.touch(state["task"])
        return result.entity

    def touch(self, task: int) -> None:
        """Remember a task as worked on lately: work comes in bursts (assigned, started,
        discussed, reviewed, closed), so the next changes often touch the same tasks."""
        if len(self.hot) < HOT_TASKS:
            self.hot.append(task)
        else:
            self.hot[self.hot_next] = task
            self.hot_next = (self.hot_next + 1) % HOT_TASKS

    def today(self) -> dt.date:
        return micros_to_datetime(self.clock.current).date()

    def due_date(self, low: int = -2, high: int = 30) -> str:
        return (self.today() + dt.timedelta(days=self.rng.randint(low, high))).isoformat()

    def pick_writer(self, ws: int, *prefer: int | None) -> int:
        """Someone who may change things in `ws`, often one of `prefer` (assignee, author)."""
        writers = self.ws_writer_set[ws]
        for user in prefer:
            if user is not None and user in writers and self.rng.random() < 0.5:
                return user
        return self.rng.choice(self.ws_writers[ws])

    def admin(self, ws: int) -> int:
        """An owner or admin who belongs to `ws` (the owner belongs to every workspace)."""
        return self.rng.choice(
            [u for u in self.ws_members[ws] if self.roles[u] in (Role.OWNER, Role.ADMIN)]
        )

    def recent(self, items: list[int]) -> int:
        """A random item: half the time any, half the time biased towards recent ones
        (recent work gets more attention, older work still some)."""
        u = 2 * self.rng.random()
        return items[int(len(items) * (u if u < 1 else (u - 1) ** 0.5))]

    # -- the plan: one step, at most one event -------------------------------------------

    def plan(self, n_projects: int) -> Iterator[None]:
        yield from self.setup_users()
        yield from self.setup_workspaces()
        for _ in range(n_projects):
            yield from self.setup_project()
        ops = self.operations()
        funcs = [f for f, _ in ops]
        cum_weights = list(_accumulate([w for _, w in ops]))
        choices = self.rng.choices
        while True:
            choices(funcs, cum_weights=cum_weights)[0]()
            yield

    def setup_users(self) -> Iterator[None]:
        rng = self.rng
        firsts = rng.sample(FIRST_NAMES, USERS - 1)
        lasts = rng.sample(LAST_NAMES, USERS - 1)
        roles = [Role.ADMIN] * ADMINS + [Role.GUEST] * GUESTS
        roles += [Role.MEMBER] * (USERS - 1 - len(roles))
        rng.shuffle(roles)
        for first, last, role in zip(firsts, lasts, roles, strict=True):
            email = _ascii(f"{first}.{last}@{DOMAIN}".lower())
            state = {**initial_state(EntityType.USER), "name": f"{first} {last}", "email": email}
            state["role"] = role.value
            user = self.record(EntityType.USER, None, state, self.owner)
            assert user is not None
            self.users.append(user.id)
            self.actors[user.id] = _actor(user)
            self.roles[user.id] = role
            self.first_names[user.id] = first
            self.user_ws[user.id] = set()
            yield

    def setup_workspaces(self) -> Iterator[None]:
        rng = self.rng
        n = len(AREAS)
        # Everyone has a home workspace (spread evenly) and may belong to one or two more;
        # the owner belongs to all.
        members: list[set[int]] = [{self.owner} for _ in AREAS]
        others = self.users[1:]
        rng.shuffle(others)
        for i, user in enumerate(others):
            home = i % n
            extra = rng.choices((0, 1, 2), (45, 40, 15))[0]
            for index in (home, *rng.sample([a for a in range(n) if a != home], extra)):
                members[index].add(user)
        weights = []
        for area, people in zip(AREAS, members, strict=True):
            state = {**initial_state(EntityType.WORKSPACE), "name": area.name}
            state["description"] = area.description
            state["members"] = sorted(people)
            ws = self.record(EntityType.WORKSPACE, None, state, self.owner)
            assert ws is not None
            self.workspaces.append(ws.id)
            self.ws_area[ws.id] = area
            self.ws_projects[ws.id] = []
            self.set_members(ws.id, state["members"])
            weights.append(area.weight)
            yield
        self.ws_cum_weights = list(_accumulate(weights))

    def set_members(self, ws: int, members: list[int]) -> None:
        for user in self.ws_members.get(ws, ()):
            self.user_ws[user].discard(ws)
        for user in members:
            self.user_ws[user].add(ws)
        self.ws_members[ws] = members
        self.ws_writers[ws] = [u for u in members if self.roles[u] is not Role.GUEST]
        self.ws_writer_set[ws] = set(self.ws_writers[ws])

    def setup_project(self) -> Iterator[None]:
        project = self.new_project()
        if project is None:
            return
        yield
        for _ in range(self.rng.randint(6, 14)):
            task = self.new_task(project)
            yield
            if task is not None and self.rng.random() < 0.2:
                for _ in range(self.rng.randint(1, 3)):
                    self.new_task(project, parent=task)
                    yield

    # -- creating ------------------------------------------------------------------------

    def new_project(self) -> int | None:
        rng = self.rng
        ws = rng.choices(self.workspaces, cum_weights=self.ws_cum_weights)[0]
        area = self.ws_area[ws]
        actor = self.pick_writer(ws)
        owner = actor if rng.random() < 0.7 else rng.choice(self.ws_writers[ws])
        team = rng.sample(self.ws_members[ws], min(len(self.ws_members[ws]), rng.randint(2, 6)))
        state = {**initial_state(EntityType.PROJECT), "workspace": ws, "owner": owner}
        state["name"] = f"{rng.choice(area.topics)} {rng.choice(SUFFIXES)}"
        state["members"] = sorted({owner, actor, *team})
        if rng.random() < 0.6:
            state["description"] = rng.choice(NOTES)
        if rng.random() < 0.5:
            state["due_on"] = self.due_date(14, 90)
        project = self.record(EntityType.PROJECT, None, state, actor)
        if project is None:
            return None
        self.projects.append(project.id)
        self.project_ws[project.id] = ws
        self.ws_projects[ws].append(project.id)
        return project.id

    def new_task(self, project: int, parent: int | None = None) -> int | None:
        rng = self.rng
        ws = self.project_ws[project]
        area = self.ws_area[ws]
        team = [u for u in self.rows[project].state["members"] if u in self.ws_writer_set[ws]]
        actor = rng.choice(team) if team and rng.random() < 0.7 else self.pick_writer(ws)
        state = {**initial_state(EntityType.TASK), "name": _task_name(rng, area)}
        if parent is None:
            state["project"] = project
        else:
            state["parent"] = parent
        state["priority"] = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
        state["status"] = "open"
        followers = {actor}
        if rng.random() < 0.7:
            assignee = rng.choice(team) if team else self.pick_writer(ws)
            state["assignee"] = assignee
            followers.add(assignee)
        state["followers"] = sorted(followers)
        if rng.random() < 0.5:
            state["notes"] = rng.choice(NOTES)
        if rng.random() < 0.4:
            state["tags"] = sorted(rng.sample((*area.tags, *SHARED_TAGS), rng.randint(1, 2)))
        if rng.random() < 0.5:
            state["due_on"] = self.due_date(1, 30)
        if rng.random() < 0.3:
            state["custom_fields"] = _custom_fields(rng, {}, area)
        task = self.record(EntityType.TASK, None, state, actor)
        if task is None:
            return None
        self.tasks.append(task.id)
        self.task_ws[task.id] = ws
        if parent is None:
            self.top_tasks.append(task.id)
        else:
            self.subtasks += 1
        return task.id

    # -- activity ------------------------------------------------------------------------

    def operations(self) -> list[tuple[Callable[[], None], float]]:
        return [
            (self.rename_task, 3),
            (self.edit_notes, 4),
            (self.change_assignee, 6),
            (self.change_followers, 6),
            (self.change_tags, 5),
            (self.change_due, 5),
            (self.change_priority, 4),
            (self.change_status, 7),
            (self.change_custom_fields, 4),
            (self.close_task, 7),
            (self.reopen_task, 1.2),
            (self.add_comment, 13),
            (self.edit_comment, 2.5),
            (self.delete_comment, 0.4),
            (self.add_task, 4),
            (self.add_subtask, 1.5),
            (self.delete_task, 0.8),
            (self.restore, 0.5),
            (self.move_task, 0.8),
            (self.edit_project, 1.2),
            (self.change_project_members, 0.8),
            (self.add_project, 0.3),
            (self.change_workspace_members, 0.25),
        ]

    def live_task(self, completed: bool | None = False, top: bool = False) -> EntityRow | None:
        """A task that is not deleted (nor its parent) in a project that is not archived;
        with `completed` given, only open (False) or closed (True) tasks."""
        pool = self.top_tasks if top else self.tasks
        if not pool:
            return None
        rows, rng, hot = self.rows, self.rng, self.hot
        for _ in range(12):
            if hot and rng.random() < HOT_SHARE:
                task = rows[rng.choice(hot)]
                if top and task.state["parent"] is not None:
                    continue
            else:
                task = rows[self.recent(pool)]
            if task.deleted:
                continue
            state = task.state
            if completed is not None and state["completed"] is not completed:
                continue
            if state["parent"] is not None:
                parent = rows[state["parent"]]
                if parent.deleted:
                    continue
                state = parent.state
            if rows[state["project"]].state["archived"]:
                continue
            return task
        return None

    def update_task(self, task: EntityRow, state: State, *prefer: int | None) -> None:
        ws = self.task_ws[task.id]
        actor = self.pick_writer(ws, *prefer, task.state["assignee"])
        self.record(EntityType.TASK, task, state, actor)

    def rename_task(self) -> None:
        task = self.live_task()
        if task is None:
            return
        area = self.ws_area[self.task_ws[task.id]]
        name = _task_name(self.rng, area)
        if name == task.state["name"]:
            name += " (follow-up)"
        self.update_task(task, {**task.state, "name": name})

    def edit_notes(self) -> None:
        task = self.live_task()
        if task is None:
            return
        notes = task.state["notes"]
        line = self.rng.choice(NOTES)
        keep = notes and len(notes) < 1000 and self.rng.random() < 0.6
        notes = f"{notes}\n{line}" if keep else line
        if notes == task.state["notes"]:
            notes += "\nUpdated."
        self.update_task(task, {**task.state, "notes": notes})

    def change_assignee(self) -> None:
        task = self.live_task()
        if task is None:
            return
        ws = self.task_ws[task.id]
        old = task.state["assignee"]
        candidates = [u for u in self.ws_writers[ws] if u != old]
        if not candidates:
            return
        unassign = old is not None and self.rng.random() < 0.08
        assignee = None if unassign else self.rng.choice(candidates)
        state = {**task.state, "assignee": assignee}
        if assignee is not None and assignee not in task.state["followers"]:
            state["followers"] = sorted([*task.state["followers"], assignee])
        self.update_task(task, state, old)

    def change_followers(self) -> None:
        task = self.live_task(completed=None)
        if task is None:
            return
        ws = self.task_ws[task.id]
        followers = set(task.state["followers"])
        absent = [u for u in self.ws_members[ws] if u not in followers]
        if followers and (not absent or self.rng.random() < 0.35):
            user = self.rng.choice(sorted(followers))
            followers.discard(user)
        elif absent:
            user = self.rng.choice(absent)
            followers.add(user)
        else:
            return
        actor = user if user in self.ws_writer_set[ws] and self.rng.random() < 0.6 else None
        state = {**task.state, "followers": sorted(followers)}
        self.record(EntityType.TASK, task, state, actor or self.pick_writer(ws))

    def change_tags(self) -> None:
        task = self.live_task()
        if task is None:
            return
        tags = set(task.state["tags"])
        if tags and self.rng.random() < 0.35:
            tags.discard(self.rng.choice(sorted(tags)))
        else:
            area = self.ws_area[self.task_ws[task.id]]
            tags ^= {self.rng.choice((*area.tags, *SHARED_TAGS))}
        self.update_task(task, {**task.state, "tags": sorted(tags)})

    def change_due(self) -> None:
        task = self.live_task()
        if task is None:
            return
        rng, state = self.rng, {**task.state}
        if rng.random() < 0.15:
            hour = rng.choice((9, 10, 11, 14, 15, 16))
            day = self.today() + dt.timedelta(days=rng.randint(1, 10))
            at = dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)
            state["due_at"] = format_datetime(at)
            if state["due_at"] == task.state["due_at"]:
                state["due_at"] = format_datetime(at + dt.timedelta(hours=1))
        else:
            current = state["due_on"]
            if current is not None and rng.random() < 0.6:  # postponed
                day = dt.date.fromisoformat(current) + dt.timedelta(days=rng.randint(1, 14))
                state["due_on"] = day.isoformat()
            elif current is not None and rng.random() < 0.15:
                state["due_on"] = None
            else:
                state["due_on"] = self.due_date(1, 30)
                if state["due_on"] == current:
                    state["due_on"] = None
        self.update_task(task, state)

    def change_priority(self) -> None:
        task = self.live_task()
        if task is None:
            return
        options = [p for p in PRIORITIES if p != task.state["priority"]]
        self.update_task(task, {**task.state, "priority": self.rng.choice(options)})

    def change_status(self) -> None:
        task = self.live_task()
        if task is None:
            return
        status = task.state["status"] or "open"
        options = [s for s in STATUS_NEXT[status] if s != "done"] or ["in_progress"]
        new = self.rng.choice(options)
        if new == task.state["status"]:
            return
        self.update_task(task, {**task.state, "status": new})

    def change_custom_fields(self) -> None:
        task = self.live_task()
        if task is None:
            return
        area = self.ws_area[self.task_ws[task.id]]
        custom = _custom_fields(self.rng, task.state["custom_fields"], area)
        if custom == task.state["custom_fields"]:
            return
        self.update_task(task, {**task.state, "custom_fields": custom})

    def close_task(self) -> None:
        task = self.live_task()
        if task is None:
            return
        state = {**task.state, "completed": True, "status": "done"}
        self.update_task(task, state, task.state["assignee"])

    def reopen_task(self) -> None:
        task = self.live_task(completed=True)
        if task is None:
            return
        state = {**task.state, "completed": False, "status": self.rng.choice(("open", "review"))}
        self.update_task(task, state)

    def add_comment(self) -> None:
        task = self.live_task(completed=None)
        if task is None:
            return
        ws = self.task_ws[task.id]
        author = self.pick_writer(ws, task.state["assignee"], *task.state["followers"][:2])
        text = self.rng.choice(COMMENTS)
        if self.rng.random() < 0.25:
            other = self.rng.choice(self.ws_members[ws])
            if other != author:
                text = f"@{self.first_names[other]} {text}"
        state = {**initial_state(EntityType.COMMENT), "task": task.id, "text": text}
        comment = self.record(EntityType.COMMENT, None, state, author)
        if comment is not None:
            self.comments.append(comment.id)
            self.comment_author[comment.id] = author

    def live_comment(self) -> EntityRow | None:
        if not self.comments:
            return None
        for _ in range(8):
            comment = self.rows[self.recent(self.comments)]
            author = self.comment_author[comment.id]
            if comment.deleted or author not in self.ws_writer_set[self.comment_ws(comment)]:
                continue
            task = self.rows[comment.state["task"]]
            parent = task.state["parent"]
            if task.deleted or (parent is not None and self.rows[parent].deleted):
                continue
            return comment
        return None

    def comment_ws(self, comment: EntityRow) -> int:
        return self.task_ws[comment.state["task"]]

    def edit_comment(self) -> None:
        comment = self.live_comment()
        if comment is None:
            return
        text = comment.state["text"]
        if len(text) > 1000:
            text = self.rng.choice(COMMENTS)
        text += self.rng.choice(COMMENT_EDITS)
        state = {**comment.state, "text": text}
        self.record(EntityType.COMMENT, comment, state, self.comment_author[comment.id])

    def delete_comment(self) -> None:
        comment = self.live_comment()
        if comment is None:
            return
        author = self.comment_author[comment.id]
        if self.record(EntityType.COMMENT, comment, comment.state, author, Action.DELETED):
            self.deleted.append(comment.id)

    def add_task(self) -> None:
        if not self.projects:
            self.add_project()
            return
        for _ in range(8):
            project = self.recent(self.projects)
            if not self.rows[project].state["archived"]:
                self.new_task(project)
                return

    def add_subtask(self) -> None:
        parent = self.live_task(top=True)
        if parent is not None:
            self.new_task(parent.state["project"], parent=parent.id)

    def delete_task(self) -> None:
        task = self.live_task(completed=None)
        if task is None:
            return
        ws = self.task_ws[task.id]
        actor = self.pick_writer(ws, task.state["assignee"])
        if self.record(EntityType.TASK, task, task.state, actor, Action.DELETED):
            self.deleted.append(task.id)

    def restore(self) -> None:
        """Bring back something deleted not long ago, if what it lies in is still there."""
        if not self.deleted:
            return
        index = len(self.deleted) - 1 - min(int(self.rng.expovariate(0.5)), len(self.deleted) - 1)
        row = self.rows[self.deleted[index]]
        is_comment = row.type is EntityType.COMMENT
        within = row.state["task"] if is_comment else row.state["parent"]
        if within is not None:
            container = self.rows[within]
            if container.deleted or (
                is_comment
                and container.state["parent"] is not None
                and self.rows[container.state["parent"]].deleted
            ):
                return
        ws = self.task_ws[within if is_comment else row.id]
        self.deleted.pop(index)
        self.record(row.type, row, row.state, self.pick_writer(ws), Action.RESTORED)

    def move_task(self) -> None:
        """A task moves to another (recent, not archived) project of its workspace."""
        task = self.live_task(completed=None, top=True)
        if task is None:
            return
        projects = self.ws_projects[self.task_ws[task.id]]
        for _ in range(8):
            target = self.rows[self.recent(projects)]
            if target.id != task.state["project"] and not target.state["archived"]:
                self.update_task(task, {**task.state, "project": target.id})
                return

    def pick_project(self) -> EntityRow | None:
        if not self.projects:
            return None
        return self.rows[self.recent(self.projects)]

    def edit_project(self) -> None:
        project = self.pick_project()
        if project is None:
            return
        rng, ws = self.rng, self.project_ws[project.id]
        state = {**project.state}
        what = rng.random()
        if state["archived"]:
            if what < 0.3:  # taken out of the archive again
                state["archived"] = False
                self.record(EntityType.PROJECT, project, state, self.pick_writer(ws))
            return
        if what < 0.3:
            area = self.ws_area[ws]
            name = f"{rng.choice(area.topics)} {rng.choice(SUFFIXES)}"
            state["name"] = name if name != state["name"] else f"{name} (renamed)"
        elif what < 0.55:
            state["description"] = rng.choice(NOTES)
            if state["description"] == project.state["description"]:
                state["description"] += " Updated."
        elif what < 0.75:
            state["due_on"] = self.due_date(7, 90)
            if state["due_on"] == project.state["due_on"]:
                state["due_on"] = None
        elif what < 0.85:
            owners = [u for u in self.ws_writers[ws] if u != state["owner"]]
            if not owners:
                return
            state["owner"] = rng.choice(owners)
            state["members"] = sorted({*state["members"], state["owner"]})
        else:
            state["archived"] = True
        self.record(
            EntityType.PROJECT, project, state, self.pick_writer(ws, project.state["owner"])
        )

    def change_project_members(self) -> None:
        project = self.pick_project()
        if project is None or project.state["archived"]:
            return
        ws = self.project_ws[project.id]
        members = set(project.state["members"])
        removable = sorted(members - {project.state["owner"]})
        absent = [u for u in self.ws_members[ws] if u not in members]
        if removable and (not absent or self.rng.random() < 0.3):
            members.discard(self.rng.choice(removable))
        elif absent:
            members.add(self.rng.choice(absent))
        else:
            return
        state = {**project.state, "members": sorted(members)}
        self.record(EntityType.PROJECT, project, state, self.pick_writer(ws, state["owner"]))

    def add_project(self) -> None:
        self.new_project()

    def change_workspace_members(self) -> None:
        """Someone joins a workspace or leaves one (everyone stays in one to three)."""
        rng = self.rng
        user = rng.choice(self.users[1:])
        mine = self.user_ws[user]
        joinable = [w for w in self.workspaces if w not in mine]
        if len(mine) < 3 and joinable and (len(mine) < 2 or rng.random() < 0.5):
            ws = rng.choice(joinable)
            members = sorted([*self.ws_members[ws], user])
        elif len(mine) > 1:
            ws = rng.choice(sorted(mine))
            members = [u for u in self.ws_members[ws] if u != user]
            if len(members) - sum(self.roles[u] is Role.GUEST for u in members) < 4:
                return
        else:
            return
        row = self.rows[ws]
        state = {**row.state, "members": members}
        if self.record(EntityType.WORKSPACE, row, state, self.admin(ws)):
            self.set_members(ws, members)


def _accumulate(weights: list[float]) -> Iterator[float]:
    total = 0.0
    for weight in weights:
        total += weight
        yield total


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _actor(user: EntityRow) -> Actor:
    return Actor(user.id, str(user.state["name"]), str(user.state["email"]))


def _task_name(rng: random.Random, area: _Area) -> str:
    return f"{rng.choice(area.verbs)} {rng.choice(area.objects)}"


def _custom_fields(rng: random.Random, current: dict[str, object], area: _Area) -> State:
    custom = dict(current)
    what = rng.random()
    if what < 0.5:
        key = "story_points" if area.name == "Engineering" else "estimate_hours"
        custom[key] = rng.choice((1, 2, 3, 5, 8, 13) if key == "story_points" else (1, 2, 4, 8))
    elif what < 0.8:
        custom["sprint"] = f"Sprint {rng.randint(30, 42)}"
    elif custom and what < 0.9:
        del custom[rng.choice(sorted(custom))]
    else:
        custom["customer"] = rng.choice(("Globex", "Initech", "Umbrella", "Hooli", "Soylent"))
    return {key: custom[key] for key in sorted(custom)}


def build_demo(
    store: Store,
    *,
    events: int = 20_000,
    seed: int = 7,
    weeks: int = 6,
    progress: Callable[[int], None] | None = None,
    org_name: str = "Acme Robotics",
) -> DemoResult:
    """Create a demo organization whose history holds exactly max(events, MIN_EVENTS)
    events, spread over the last `weeks` weeks up to now; the same for the same seed.

    `progress(n)` is called after each transaction with the number of events written.
    """
    total = max(events, MIN_EVENTS)
    rng = random.Random(seed)
    end = now_micros()
    clock = _Clock(random.Random(f"clock-{seed}"), end - weeks * 7 * DAY, end, total)
    first_at = clock.current
    created = create_organization(store, org_name, OWNER_NAME, OWNER_EMAIL, occurred_at=first_at)
    clock.advance()
    clock.advance()
    if progress:
        progress(2)
    owner = store.get_entity(created.org_id, created.owner_id)
    assert owner is not None
    demo = _Demo(owner, rng, clock)
    # About one project (with its ~12 tasks and subtasks) per 170 events.
    n_projects = max(1, (total - MIN_EVENTS) // 170)
    steps = demo.plan(n_projects)
    while demo.written < total:
        with store.write(created.org_id) as tx:
            demo.begin(tx)
            while demo.in_batch < BATCH and demo.written < total:
                next(steps)
        demo.tx = None
        if progress:
            progress(demo.written)
    return DemoResult(
        org_id=created.org_id,
        owner_id=created.owner_id,
        owner_email=OWNER_EMAIL,
        event_count=demo.written,
        workspaces=len(demo.workspaces),
        users=len(demo.users),
        projects=len(demo.projects),
        tasks=len(demo.tasks),
        subtasks=demo.subtasks,
        comments=len(demo.comments),
        first_at=first_at,
        last_at=demo.last_at,
    )
