"""Changes to tasks: new tasks and subtasks, and the everyday edits (name, notes, assignee,
followers, tags, due dates, priority, status, custom fields), closing and reopening, and
moving a task to another project."""

from __future__ import annotations

import datetime as dt

from ..diff import format_datetime, initial_state
from ..model import PRIORITIES, EntityType
from .projects import new_project
from .words import NOTES, SHARED_TAGS, change_custom_fields, task_name
from .work import Work

PRIORITY_WEIGHTS = (30, 20, 30, 15, 5)  # none, low, medium, high, urgent
# Where a task's status goes next; "done" only by closing the task.
STATUS_NEXT = {
    "open": ("in_progress", "in_progress", "blocked"),
    "in_progress": ("review", "review", "blocked", "open"),
    "blocked": ("in_progress", "open"),
    "review": ("in_progress", "done"),
    "done": ("review",),
}


def new_task(work: Work, project: int, parent: int | None = None) -> int | None:
    """Create a task in `project` (or a subtask of `parent`, in the parent's project),
    mostly by one of the project's members; its id."""
    rng, people = work.rng, work.people
    ws = work.project_ws[project]
    area = people.ws_area[ws]
    writers = people.ws_writer_set[ws]
    team = [u for u in work.rows[project].state["members"] if u in writers]
    actor = rng.choice(team) if team and rng.random() < 0.7 else people.pick_writer(ws)
    state = {**initial_state(EntityType.TASK), "name": task_name(rng, area)}
    if parent is None:
        state["project"] = project
    else:
        state["parent"] = parent
    state["priority"] = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
    state["status"] = "open"
    followers = {actor}
    if rng.random() < 0.7:
        assignee = rng.choice(team) if team else people.pick_writer(ws)
        state["assignee"] = assignee
        followers.add(assignee)
    state["followers"] = sorted(followers)
    if rng.random() < 0.5:
        state["notes"] = rng.choice(NOTES)
    if rng.random() < 0.4:
        state["tags"] = sorted(rng.sample((*area.tags, *SHARED_TAGS), rng.randint(1, 2)))
    if rng.random() < 0.5:
        state["due_on"] = work.due_date(1, 30)
    if rng.random() < 0.3:
        state["custom_fields"] = change_custom_fields(rng, {}, area)
    task = work.record(EntityType.TASK, None, state, actor)
    if task is None:
        return None
    work.tasks.append(task.id)
    work.task_ws[task.id] = ws
    if parent is None:
        work.top_tasks.append(task.id)
    else:
        work.subtasks += 1
    return task.id


def add_task(work: Work) -> None:
    """A new task in a recent project that is not archived (the first project, if none)."""
    if not work.projects:
        new_project(work)
        return
    for _ in range(8):
        project = work.recent(work.projects)
        if not work.rows[project].state["archived"]:
            new_task(work, project)
            return


def add_subtask(work: Work) -> None:
    """A new subtask under a live task."""
    parent = work.live_task(top=True)
    if parent is not None:
        new_task(work, parent.state["project"], parent=parent.id)


def rename_task(work: Work) -> None:
    """A task gets another name."""
    task = work.live_task()
    if task is None:
        return
    area = work.people.ws_area[work.task_ws[task.id]]
    name = task_name(work.rng, area)
    if name == task.state["name"]:
        name += " (follow-up)"
    work.update_task(task, {**task.state, "name": name})


def edit_notes(work: Work) -> None:
    """A line is added to a task's notes, or the notes are replaced."""
    task = work.live_task()
    if task is None:
        return
    notes = task.state["notes"]
    line = work.rng.choice(NOTES)
    keep = notes and len(notes) < 1000 and work.rng.random() < 0.6
    notes = f"{notes}\n{line}" if keep else line
    if notes == task.state["notes"]:
        notes += "\nUpdated."
    work.update_task(task, {**task.state, "notes": notes})


def change_assignee(work: Work) -> None:
    """A task goes to someone else (who then follows it), or now and then to nobody."""
    task = work.live_task()
    if task is None:
        return
    ws = work.task_ws[task.id]
    old = task.state["assignee"]
    candidates = [u for u in work.people.ws_writers[ws] if u != old]
    if not candidates:
        return
    unassign = old is not None and work.rng.random() < 0.08
    assignee = None if unassign else work.rng.choice(candidates)
    state = {**task.state, "assignee": assignee}
    if assignee is not None and assignee not in task.state["followers"]:
        state["followers"] = sorted([*task.state["followers"], assignee])
    work.update_task(task, state, old)


def change_followers(work: Work) -> None:
    """Someone of the workspace starts or stops following a task, often doing it themself."""
    task = work.live_task(completed=None)
    if task is None:
        return
    rng, people = work.rng, work.people
    ws = work.task_ws[task.id]
    followers = set(task.state["followers"])
    absent = [u for u in people.ws_members[ws] if u not in followers]
    if followers and (not absent or rng.random() < 0.35):
        user = rng.choice(sorted(followers))
        followers.discard(user)
    elif absent:
        user = rng.choice(absent)
        followers.add(user)
    else:
        return
    actor = user if user in people.ws_writer_set[ws] and rng.random() < 0.6 else None
    state = {**task.state, "followers": sorted(followers)}
    work.record(EntityType.TASK, task, state, actor or people.pick_writer(ws))


def change_tags(work: Work) -> None:
    """A tag is taken off a task or toggled (one of its area's or a shared one)."""
    task = work.live_task()
    if task is None:
        return
    tags = set(task.state["tags"])
    if tags and work.rng.random() < 0.35:
        tags.discard(work.rng.choice(sorted(tags)))
    else:
        area = work.people.ws_area[work.task_ws[task.id]]
        tags ^= {work.rng.choice((*area.tags, *SHARED_TAGS))}
    work.update_task(task, {**task.state, "tags": sorted(tags)})


def change_due(work: Work) -> None:
    """A task gets a due time, or its due date is postponed, set or cleared."""
    task = work.live_task()
    if task is None:
        return
    rng, state = work.rng, {**task.state}
    if rng.random() < 0.15:
        hour = rng.choice((9, 10, 11, 14, 15, 16))
        day = work.today() + dt.timedelta(days=rng.randint(1, 10))
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
            state["due_on"] = work.due_date(1, 30)
            if state["due_on"] == current:
                state["due_on"] = None
    work.update_task(task, state)


def change_priority(work: Work) -> None:
    """A task gets another priority."""
    task = work.live_task()
    if task is None:
        return
    options = [p for p in PRIORITIES if p != task.state["priority"]]
    work.update_task(task, {**task.state, "priority": work.rng.choice(options)})


def change_status(work: Work) -> None:
    """A task's status moves along the workflow (to anything but done)."""
    task = work.live_task()
    if task is None:
        return
    status = task.state["status"] or "open"
    options = [s for s in STATUS_NEXT[status] if s != "done"] or ["in_progress"]
    new = work.rng.choice(options)
    if new == task.state["status"]:
        return
    work.update_task(task, {**task.state, "status": new})


def change_task_custom_fields(work: Work) -> None:
    """One of a task's custom fields is set, changed or removed."""
    task = work.live_task()
    if task is None:
        return
    area = work.people.ws_area[work.task_ws[task.id]]
    custom = change_custom_fields(work.rng, task.state["custom_fields"], area)
    if custom == task.state["custom_fields"]:
        return
    work.update_task(task, {**task.state, "custom_fields": custom})


def close_task(work: Work) -> None:
    """An open task is done, often closed by its assignee."""
    task = work.live_task()
    if task is None:
        return
    state = {**task.state, "completed": True, "status": "done"}
    work.update_task(task, state, task.state["assignee"])


def reopen_task(work: Work) -> None:
    """A closed task is opened again."""
    task = work.live_task(completed=True)
    if task is None:
        return
    state = {**task.state, "completed": False, "status": work.rng.choice(("open", "review"))}
    work.update_task(task, state)


def move_task(work: Work) -> None:
    """A task moves to another (recent, not archived) project of its workspace."""
    task = work.live_task(completed=None, top=True)
    if task is None:
        return
    projects = work.ws_projects[work.task_ws[task.id]]
    for _ in range(8):
        target = work.rows[work.recent(projects)]
        if target.id != task.state["project"] and not target.state["archived"]:
            work.update_task(task, {**task.state, "project": target.id})
            return
