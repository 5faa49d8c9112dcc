"""The work the demo has written so far: projects, tasks and comments, where each lies, and
how the next change picks what to touch (recent and lately worked-on things more often)."""

from __future__ import annotations

import datetime as dt
import random

from ..diff import micros_to_datetime
from ..model import Action, EntityRow, EntityType, State
from .people import People
from .recording import Journal

HOT_TASKS = 100  # tasks worked on lately ...
HOT_SHARE = 0.6  # ... get this share of the changes to tasks


class Work:
    """Projects, tasks and comments as the demo wrote them, and the pickers the changes to
    them share."""

    def __init__(self, journal: Journal, people: People, rng: random.Random) -> None:
        self.journal = journal
        self.people = people
        self.rng = rng
        self.rows = journal.rows  # every entity, as last written
        self.projects: list[int] = []
        self.project_ws: dict[int, int] = {}
        self.ws_projects: dict[int, list[int]] = {}
        self.tasks: list[int] = []  # subtasks included
        self.top_tasks: list[int] = []
        self.task_ws: dict[int, int] = {}
        self.subtasks = 0
        self.comments: list[int] = []
        self.comment_author: dict[int, int] = {}
        self.deleted: list[int] = []  # deleted tasks and comments, candidates for a restore
        self.hot: list[int] = []  # tasks worked on lately
        self.hot_next = 0

    def record(
        self,
        entity_type: EntityType,
        entity: EntityRow | None,
        state: State,
        actor_id: int,
        action: Action | None = None,
    ) -> EntityRow | None:
        """Write one change as `actor_id`; the new row, or None when nothing changed."""
        row = self.journal.record(entity_type, entity, state, actor_id, action)
        if row is None:
            return None
        if entity_type is EntityType.TASK:
            self.touch(row.id)
        elif entity_type is EntityType.COMMENT:
            self.touch(state["task"])
        return row

    def touch(self, task: int) -> None:
        """Remember a task as worked on lately: work comes in bursts (assigned, started,
        discussed, reviewed, closed), so the next changes often touch the same tasks."""
        if len(self.hot) < HOT_TASKS:
            self.hot.append(task)
        else:
            self.hot[self.hot_next] = task
            self.hot_next = (self.hot_next + 1) % HOT_TASKS

    def today(self) -> dt.date:
        """The day of the next event."""
        return micros_to_datetime(self.journal.clock.current).date()

    def due_date(self, low: int = -2, high: int = 30) -> str:
        """An ISO date `low` to `high` days from today."""
        return (self.today() + dt.timedelta(days=self.rng.randint(low, high))).isoformat()

    def recent(self, items: list[int]) -> int:
        """A random item: half the time any, half the time biased towards recent ones
        (recent work gets more attention, older work still some)."""
        u = 2 * self.rng.random()
        return items[int(len(items) * (u if u < 1 else (u - 1) ** 0.5))]

    def live_task(self, completed: bool | None = False, top: bool = False) -> EntityRow | None:
        """A task that is not deleted (nor its parent) in a project that is not archived;
        with `completed` given, only open (False) or closed (True) tasks; with `top`, no
        subtasks. None when a few tries find none."""
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
        """Write `task`'s new state, as one of `prefer` or its assignee or anyone who may."""
        ws = self.task_ws[task.id]
        actor = self.people.pick_writer(ws, *prefer, task.state["assignee"])
        self.record(EntityType.TASK, task, state, actor)

    def live_comment(self) -> EntityRow | None:
        """A comment that is not deleted, on a live task, whose author may still write in
        its workspace; None when a few tries find none."""
        if not self.comments:
            return None
        for _ in range(8):
            comment = self.rows[self.recent(self.comments)]
            author = self.comment_author[comment.id]
            writers = self.people.ws_writer_set[self.task_ws[comment.state["task"]]]
            if comment.deleted or author not in writers:
                continue
            task = self.rows[comment.state["task"]]
            parent = task.state["parent"]
            if task.deleted or (parent is not None and self.rows[parent].deleted):
                continue
            return comment
        return None

    def pick_project(self) -> EntityRow | None:
        """A project, recent ones more often; None before the first."""
        if not self.projects:
            return None
        return self.rows[self.recent(self.projects)]
