"""Deleting tasks and comments, and restoring what was deleted not long ago."""

from __future__ import annotations

from ..model import Action, EntityType
from .work import Work


def delete_task(work: Work) -> None:
    """A live task is deleted, often by its assignee."""
    task = work.live_task(completed=None)
    if task is None:
        return
    ws = work.task_ws[task.id]
    actor = work.people.pick_writer(ws, task.state["assignee"])
    if work.record(EntityType.TASK, task, task.state, actor, Action.DELETED):
        work.deleted.append(task.id)


def delete_comment(work: Work) -> None:
    """The author of a comment deletes it."""
    comment = work.live_comment()
    if comment is None:
        return
    author = work.comment_author[comment.id]
    if work.record(EntityType.COMMENT, comment, comment.state, author, Action.DELETED):
        work.deleted.append(comment.id)


def restore(work: Work) -> None:
    """Bring back something deleted not long ago, if what it lies in is still there."""
    deleted, rows = work.deleted, work.rows
    if not deleted:
        return
    # Mostly one of the last few deleted: a mistake noticed soon.
    index = len(deleted) - 1 - min(int(work.rng.expovariate(0.5)), len(deleted) - 1)
    row = rows[deleted[index]]
    is_comment = row.type is EntityType.COMMENT
    within = row.state["task"] if is_comment else row.state["parent"]
    if within is not None:
        container = rows[within]
        if container.deleted or (
            is_comment
            and container.state["parent"] is not None
            and rows[container.state["parent"]].deleted
        ):
            return
    ws = work.task_ws[within if is_comment else row.id]
    deleted.pop(index)
    work.record(row.type, row, row.state, work.people.pick_writer(ws), Action.RESTORED)
