"""worktrail task and comment events as Huddle audit changes, in JSON and in CSV.

One event is one change. When an update touches several fields, its `type` and `newValue`
are those of the most significant field (the first of CHANGE_ORDER it touches), so a
page's `skipitems` counts events and deep pages stay exact.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

from ...diff import micros_to_datetime
from ...model import Action, EntityType, Event
from .. import kit

CSV_COLUMNS = (
    "Title",
    "Created Date",
    "Type",
    "New Value",
    "Actor Name",
    "Actor Email",
    "Task URI",
)

# (field, type when set or changed, type when cleared or removed), most significant first
CHANGE_ORDER: tuple[tuple[str, str, str], ...] = (
    ("status", "TaskStatusChanged", "TaskStatusChanged"),
    ("name", "TaskTitleChanged", "TaskTitleChanged"),
    ("notes", "TaskDescriptionChanged", "TaskDescriptionChanged"),
    ("due_on", "TaskDueDateChanged", "TaskDueDateChanged"),
    ("due_at", "TaskDueDateChanged", "TaskDueDateChanged"),
    ("assignee", "TaskAssigneeAdded", "TaskAssigneeRemoved"),
    ("project", "TaskMoved", "TaskMoved"),
    ("parent", "TaskMoved", "TaskMoved"),
    ("priority", "TaskPriorityChanged", "TaskPriorityChanged"),
    ("followers", "TaskFollowerAdded", "TaskFollowerRemoved"),
    ("tags", "TaskTagAdded", "TaskTagRemoved"),
    ("custom_fields", "TaskCustomFieldChanged", "TaskCustomFieldChanged"),
    ("completed", "TaskCompleted", "TaskReopened"),
)
TASK_ACTIONS = {
    Action.CREATED: "TaskCreated",
    Action.DELETED: "TaskDeleted",
    Action.RESTORED: "TaskRestored",
    Action.CLOSED: "TaskCompleted",
    Action.REOPENED: "TaskReopened",
}
COMMENT_ACTIONS = {
    Action.CREATED: "TaskCommentCreated",
    Action.UPDATED: "TaskCommentEdited",
    Action.DELETED: "TaskCommentDeleted",
    Action.RESTORED: "TaskCommentRestored",
}
USER_FIELDS = ("assignee", "followers")  # the fields whose values are names of users


def users_named(events: Iterable[Event]) -> set[int]:
    """Ids of the users whose names the changes show (assignees, followers)."""
    return kit.referenced_ids(events, lambda target: target is EntityType.USER)


@dataclass(frozen=True)
class Change:
    title: str
    created: str
    type: str
    new_value: str
    actor: dict[str, Any] | None
    task_id: int


def _text(value: Any, names: kit.Names, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v, names, field) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v, names, field)}" for k, v in value.items())
    if field in USER_FIELDS and isinstance(value, int):
        return names.name(value, str(value))
    return str(value)


def _update(event: Event, names: kit.Names) -> tuple[str, str]:
    by_field = {str(c["field"]).split(".")[0]: c for c in event.changes}
    for field, set_type, cleared_type in CHANGE_ORDER:
        change = by_field.get(field)
        if change is None:
            continue
        if "added" in change:  # a set: added wins, as Huddle shows what was added
            added, removed = change.get("added") or [], change.get("removed") or []
            if added:
                return set_type, _text(added, names, field)
            return cleared_type, _text(removed, names, field)
        if field == "custom_fields":
            changed = {
                str(c["field"]).split(".", 1)[1]: c.get("new")
                for c in event.changes
                if str(c["field"]).startswith("custom_fields.")
            }
            return set_type, _text(changed, names, field)
        new = change.get("new")
        if field == "completed":
            return (set_type if new else cleared_type), ""
        return (set_type if new not in (None, "", False) else cleared_type), _text(
            new, names, field
        )
    return "TaskUpdated", ""


def kind_and_value(event: Event, names: kit.Names) -> tuple[str, str]:
    """Huddle's `type` of the event and its `newValue` (a string)."""
    after = event.after or {}
    if event.subject_type is EntityType.COMMENT:
        kind = COMMENT_ACTIONS.get(event.action, "TaskCommentEdited")
        if event.action is Action.UPDATED and any(c["field"] == "task" for c in event.changes):
            kind = "TaskCommentMoved"
        return kind, "" if event.action is Action.DELETED else str(after.get("text") or "")
    if event.action in TASK_ACTIONS:
        value = "" if event.action is Action.DELETED else str(after.get("name") or "")
        return TASK_ACTIONS[event.action], value
    return _update(event, names)


def change_of(event: Event, names: kit.Names) -> Change:
    task_id = kit.task_of(event) or 0
    if event.subject_type is EntityType.TASK:
        title = str((event.after or event.before or {}).get("name") or "")
    else:
        title = names.name(task_id)
    kind, value = kind_and_value(event, names)
    actor = event.actor.to_json() if event.actor else None
    created = format_datetime(micros_to_datetime(event.occurred_at), usegmt=True)
    return Change(title, created, kind, value, actor, task_id)


def change_json(change: Change, base: str, workspace_id: int) -> dict[str, Any]:
    actors = []
    if change.actor is not None:
        user = f"{base}/users/{change.actor['id']}"
        actors.append(
            {
                "name": change.actor.get("name") or "",
                "email": change.actor.get("email") or "",
                "rel": "Actor",
                "links": [
                    {"rel": "self", "href": user},
                    {
                        "rel": "avatar",
                        "href": f"{base}/files/users/{change.actor['id']}/avatar",
                        "type": "image/jpeg",
                    },
                    {
                        "rel": "alternate",
                        "href": f"{base}/user/{change.actor['id']}",
                        "type": "text/html",
                    },
                ],
            }
        )
    return {
        "title": change.title,
        "createdDate": change.created,
        "type": change.type,
        "newValue": change.new_value,
        "actors": actors,
        "links": [
            {"rel": "subject", "href": f"{base}/tasks/{change.task_id}"},
            {"rel": "workspace", "href": f"{base}/workspaces/{workspace_id}"},
        ],
    }


def changes_csv(changes: list[Change], base: str) -> bytes:
    """The page as CSV (RFC 4180), with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for change in changes:
        actor = change.actor or {}
        writer.writerow(
            [
                change.title,
                change.created,
                change.type,
                change.new_value,
                actor.get("name") or "",
                actor.get("email") or "",
                f"{base}/tasks/{change.task_id}",
            ]
        )
    return buffer.getvalue().encode()
