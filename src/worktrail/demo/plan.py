"""The order of the demo's history: the people first, then a first round of projects with
their tasks, then everyday activity, each kind of change about as often as in a real team.
Each step writes at most one event; the caller takes as many steps as it needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from itertools import accumulate

from . import comments, projects, tasks, trash
from .people import People
from .work import Work

# The everyday changes and their relative frequency.
ACTIVITY: tuple[tuple[Callable[[Work], None], float], ...] = (
    (tasks.rename_task, 3),
    (tasks.edit_notes, 4),
    (tasks.change_assignee, 6),
    (tasks.change_followers, 6),
    (tasks.change_tags, 5),
    (tasks.change_due, 5),
    (tasks.change_priority, 4),
    (tasks.change_status, 7),
    (tasks.change_task_custom_fields, 4),
    (tasks.close_task, 7),
    (tasks.reopen_task, 1.2),
    (comments.add_comment, 13),
    (comments.edit_comment, 2.5),
    (trash.delete_comment, 0.4),
    (tasks.add_task, 4),
    (tasks.add_subtask, 1.5),
    (trash.delete_task, 0.8),
    (trash.restore, 0.5),
    (tasks.move_task, 0.8),
    (projects.edit_project, 1.2),
    (projects.change_project_members, 0.8),
    (projects.add_project, 0.3),
)
WORKSPACE_MEMBERS_WEIGHT = 0.25  # someone joins or leaves a workspace


def plan(people: People, work: Work, n_projects: int) -> Iterator[None]:
    """All the demo's steps, endless: users, workspaces, `n_projects` projects with their
    tasks, then changes picked at random by their frequency."""
    yield from people.setup_users()
    yield from people.setup_workspaces()
    for _ in range(n_projects):
        yield from setup_project(work)
    changes: list[Callable[[], None]] = [partial(change, work) for change, _ in ACTIVITY]
    changes.append(people.change_workspace_members)
    weights = [weight for _, weight in ACTIVITY] + [WORKSPACE_MEMBERS_WEIGHT]
    cum_weights = list(accumulate(float(weight) for weight in weights))
    choices = work.rng.choices
    while True:
        choices(changes, cum_weights=cum_weights)[0]()
        yield


def setup_project(work: Work) -> Iterator[None]:
    """A new project with 6 to 14 tasks, a fifth of them with one to three subtasks."""
    project = projects.new_project(work)
    if project is None:
        return
    yield
    rng = work.rng
    for _ in range(rng.randint(6, 14)):
        task = tasks.new_task(work, project)
        yield
        if task is not None and rng.random() < 0.2:
            for _ in range(rng.randint(1, 3)):
                tasks.new_task(work, project, parent=task)
                yield
