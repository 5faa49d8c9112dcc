"""Comments: written on live tasks by the people around them (now and then mentioning
someone), and edited later by their authors."""

from __future__ import annotations

from ..diff import initial_state
from ..model import EntityType
from .words import COMMENT_EDITS, COMMENTS
from .work import Work


def add_comment(work: Work) -> None:
    """A comment on a task, often by its assignee or one of its first followers."""
    task = work.live_task(completed=None)
    if task is None:
        return
    rng, people = work.rng, work.people
    ws = work.task_ws[task.id]
    author = people.pick_writer(ws, task.state["assignee"], *task.state["followers"][:2])
    text = rng.choice(COMMENTS)
    if rng.random() < 0.25:
        other = rng.choice(people.ws_members[ws])
        if other != author:
            text = f"@{people.first_names[other]} {text}"
    state = {**initial_state(EntityType.COMMENT), "task": task.id, "text": text}
    comment = work.record(EntityType.COMMENT, None, state, author)
    if comment is not None:
        work.comments.append(comment.id)
        work.comment_author[comment.id] = author


def edit_comment(work: Work) -> None:
    """The author of a comment adds to it (or, when it grew long, rewrites it)."""
    comment = work.live_comment()
    if comment is None:
        return
    text = comment.state["text"]
    if len(text) > 1000:
        text = work.rng.choice(COMMENTS)
    text += work.rng.choice(COMMENT_EDITS)
    state = {**comment.state, "text": text}
    work.record(EntityType.COMMENT, comment, state, work.comment_author[comment.id])
