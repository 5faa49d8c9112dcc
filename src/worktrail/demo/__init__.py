"""A realistic demo organization: a few workspaces, dozens of users, hundreds of projects
with their tasks and subtasks, comments, and weeks of activity, mostly on working days in
working hours. Every change is written through the same Recorder as any other write, so the
demo history is real history: field-level diffs, scopes, the hash chain.

The history holds exactly `events` events (or the fixed-size skeleton of users and
workspaces, `MIN_EVENTS`, when fewer are asked for) and is written in transactions of
`BATCH` events. The same seed gives the same changes in the same order; only the times
follow the moment it runs (the history ends at `end`, by default now). The generator keeps
every entity it wrote in memory and never reads one back from the database.

The modules: `words` (the vocabulary), `timeline` (when events happen), `recording` (the
writes), `people` (users and workspaces), `work` (projects, tasks and comments so far),
`projects`, `tasks`, `comments` and `trash` (the changes), `plan` (their order).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from ..diff import now_micros
from ..store import Store
from .people import MIN_EVENTS, OWNER_EMAIL, OWNER_NAME, People
from .plan import plan
from .recording import Journal
from .timeline import WEEK, Clock
from .work import Work

__all__ = ["BATCH", "MIN_EVENTS", "DemoResult", "build_demo"]

BATCH = 2000
# About one project (with its ~12 tasks and subtasks) per this many events.
EVENTS_PER_PROJECT = 170


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


def build_demo(
    store: Store,
    *,
    events: int = 20_000,
    seed: int = 7,
    weeks: int = 6,
    progress: Callable[[int], None] | None = None,
    org_name: str = "Acme Robotics",
    end: int | None = None,
) -> DemoResult:
    """Create a demo organization whose history holds exactly max(events, MIN_EVENTS)
    events, spread over the `weeks` weeks before `end` (microseconds since the epoch, UTC;
    default: now); the same for the same seed (and, with `end` given, the same times too).

    `progress(n)` is called after each transaction with the number of events written.
    """
    total = max(events, MIN_EVENTS)
    if end is None:
        end = now_micros()
    # The clock has a random source of its own, so that the changes do not depend on times.
    clock = Clock(random.Random(f"clock-{seed}"), end - weeks * WEEK, end, total)
    first_at = clock.current
    journal = Journal.open(store, clock, org_name, OWNER_NAME, OWNER_EMAIL)
    if progress:
        progress(journal.written)
    rng = random.Random(seed)
    people = People(journal, rng)
    work = Work(journal, people, rng)
    n_projects = max(1, (total - MIN_EVENTS) // EVENTS_PER_PROJECT)
    journal.write(plan(people, work, n_projects), total, BATCH, progress)
    return DemoResult(
        org_id=journal.org_id,
        owner_id=journal.owner,
        owner_email=OWNER_EMAIL,
        event_count=journal.written,
        workspaces=len(people.workspaces),
        users=len(people.users),
        projects=len(work.projects),
        tasks=len(work.tasks),
        subtasks=work.subtasks,
        comments=len(work.comments),
        first_at=first_at,
        last_at=journal.last_at,
    )
