"""worktrail events as Worksection `get_events` records.

Worksection knows three kinds of object: project, task (a subtask is a task) and comment.
Events about workspaces, users and the organization have no Worksection object and are
left out by the query (subject types), never rendered.

Actions: created → post, updated → update, closed → close, reopened → reopen,
deleted → delete. Worksection has no restore; a restored object is rendered as `post` with
its values, because it exists again and a client that mirrors Worksection objects takes
objects in only through `post`.

Fields, worktrail → Worksection (names as Worksection uses them):

    project  name → title, description → text, owner → user_to, due_on → date_end,
             archived → status ("archive" / "active")
    task     name → title, notes → text, assignee → user_to, due_on → date_end,
             due_at → date_end + time_end (in the organization's time zone),
             priority → priority (none/low/medium/high/urgent → "0"/"3"/"5"/"7"/"10",
             Worksection's 0..10 scale), tags → tags (comma-separated),
             followers → subscribers (users), custom_fields.<key> → custom_fields {key: value}
    comment  text → text

Fields Worksection has no counterpart for (workspace, project members, the task's workflow
status, moves between projects and parents) are left out, and an update that changes only
such fields is left out as a whole. Users are {id, email, name} strings; an unassigned
task's user_to is Worksection's "Anyone" user; an empty previous value is "" as in
Worksection. `post` carries the object's initial non-empty values (a task always carries
user_to), `update` the changed fields in `new` and their previous values in `old`,
`close`, `reopen` and `delete` neither.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...diff import micros_to_datetime, parse_datetime
from ...model import Action, EntityRow, EntityType, Event, State

ACTIONS = {
    Action.CREATED: "post",
    Action.UPDATED: "update",
    Action.CLOSED: "close",
    Action.REOPENED: "reopen",
    Action.DELETED: "delete",
    Action.RESTORED: "post",
}
OBJECT_TYPES = (EntityType.PROJECT, EntityType.TASK, EntityType.COMMENT)

# worktrail field → the Worksection field it becomes, per object type (in rendering order:
# due_at comes after due_on so that an exact due time wins over a due date).
FIELDS: dict[EntityType, dict[str, str]] = {
    EntityType.PROJECT: {
        "name": "title",
        "description": "text",
        "owner": "user_to",
        "due_on": "date_end",
        "archived": "status",
    },
    EntityType.TASK: {
        "name": "title",
        "notes": "text",
        "assignee": "user_to",
        "due_on": "date_end",
        "due_at": "date_end",
        "priority": "priority",
        "tags": "tags",
        "followers": "subscribers",
        "custom_fields": "custom_fields",
    },
    EntityType.COMMENT: {"text": "text"},
}
FIELDS_BY_NAME = {name: ws for fields in FIELDS.values() for name, ws in fields.items()}
USER_FIELDS = frozenset({"owner", "assignee"})
USER_SET_FIELDS = frozenset({"followers"})
PRIORITIES = {"none": "0", "low": "3", "medium": "5", "high": "7", "urgent": "10"}
ANYONE = {"id": "2", "email": "ANY", "name": "Anyone"}
# Worksection always names a user; changes worktrail recorded without one get this one.
SYSTEM_USER = {"id": "0", "email": "", "name": "System"}


@dataclass(frozen=True)
class RenderContext:
    tz: dt.tzinfo
    users: Mapping[int, EntityRow]  # the users the rendered events refer to


def renders(event: Event) -> bool:
    """Whether the event has a Worksection counterpart."""
    return has_counterpart(event.subject_type, event.action, event.changes)


def has_counterpart(
    subject_type: EntityType, action: Action, changes: Iterable[Mapping[str, Any]]
) -> bool:
    """Whether an event of this type and action with these changes has a Worksection
    counterpart (an update only when it changes a field Worksection shows)."""
    fields = FIELDS.get(subject_type)
    if fields is None or action not in ACTIONS:
        return False
    if action is not Action.UPDATED:
        return True
    return any(_base(change) in fields for change in changes)


def time_zone(name: object) -> zoneinfo.ZoneInfo:
    """The organization's time zone (its `timezone` field), UTC when unset or unknown."""
    try:
        return zoneinfo.ZoneInfo(str(name or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def referenced_users(events: Iterable[Event]) -> set[int]:
    """Ids of the users the events' rendered fields name (assignees, owners, followers)."""
    ids: set[int] = set()
    for event in events:
        for state in (event.before, event.after):
            for name, value in (state or {}).items():
                if name in USER_FIELDS and isinstance(value, int):
                    ids.add(value)
                elif name in USER_SET_FIELDS and isinstance(value, list):
                    ids.update(v for v in value if isinstance(v, int))
    return ids


def render_event(event: Event, ctx: RenderContext) -> dict[str, Any]:
    action = ACTIONS[event.action]
    record: dict[str, Any] = {
        "action": action,
        "object": {
            "type": event.subject_type.value,
            "id": str(event.subject_id),
            "page": page(event),
        },
        "date_added": date_added(event.occurred_at, ctx.tz),
        "user_from": _actor(event),
    }
    if action == "post":
        record["new"] = _initial_values(event.subject_type, event.after or {}, ctx)
    elif action == "update":
        record["new"], record["old"] = _changed_values(event, ctx)
    return record


def date_added(occurred_at: int, tz: dt.tzinfo) -> str:
    """Worksection's `YYYY-MM-DD HH:MM`, in the organization's time zone."""
    return micros_to_datetime(occurred_at).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def page(event: Event) -> str:
    """The object's web path: /project/P/ for a project, /project/P/T/ for a task (P its
    top project, at the time of the event) and, for a comment, its task's page."""
    # Scopes list the subject, then its ancestors at the time of the event nearest first,
    # then (after a move) the former ones: the first project is the one it lay in.
    project = next((s.id for s in event.scopes if s.type is EntityType.PROJECT), 0)
    if event.subject_type is EntityType.PROJECT:
        return f"/project/{event.subject_id}/"
    task = event.subject_id
    if event.subject_type is EntityType.COMMENT:
        state = event.after or event.before or {}
        first_task = next((s.id for s in event.scopes if s.type is EntityType.TASK), 0)
        task = state.get("task") or first_task
    return f"/project/{project}/{task}/"


def _base(change: Mapping[str, Any]) -> str:
    return str(change["field"]).split(".", 1)[0]


def _actor(event: Event) -> dict[str, str]:
    if event.actor is None:
        return dict(SYSTEM_USER)
    return {"id": str(event.actor.id), "email": event.actor.email, "name": event.actor.name}


def _initial_values(entity_type: EntityType, state: State, ctx: RenderContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in FIELDS[entity_type]:
        if name == "assignee" or _is_set(state.get(name)):
            values.update(_field_values(name, state, ctx))
    return values


def _changed_values(event: Event, ctx: RenderContext) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = FIELDS[event.subject_type]
    before, after = event.before or {}, event.after or {}
    new: dict[str, Any] = {}
    old: dict[str, Any] = {}
    changed = {_base(c) for c in event.changes}
    for name in fields:
        if name not in changed or name == "custom_fields":
            continue
        new.update(_field_values(name, after, ctx))
        old.update(_field_values(name, before, ctx))
    for change in event.changes:
        field = str(change["field"])
        if field.startswith("custom_fields.") and "custom_fields" in fields:
            key = field.split(".", 1)[1]
            new.setdefault("custom_fields", {})[key] = _or_empty(change.get("new"))
            old.setdefault("custom_fields", {})[key] = _or_empty(change.get("old"))
    return new, old


def _field_values(name: str, state: State, ctx: RenderContext) -> dict[str, Any]:
    """One worktrail field of a state as Worksection field(s)."""
    value = state.get(name)
    if name in USER_FIELDS:
        return {"user_to": _user(value, ctx) if isinstance(value, int) else dict(ANYONE)}
    if name in USER_SET_FIELDS:
        return {"subscribers": [_user(v, ctx) for v in value or []]}
    if name == "due_at":
        return _due_time(value, ctx.tz)
    if name == "priority":
        return {"priority": PRIORITIES.get(str(value), "") if value else ""}
    if name == "tags":
        return {"tags": ",".join(value or [])}
    if name == "archived":
        return {"status": "archive" if value else "active"}
    if name == "custom_fields":
        return {"custom_fields": {k: _or_empty(v) for k, v in (value or {}).items()}}
    return {FIELDS_BY_NAME[name]: _or_empty(value)}


def _due_time(value: Any, tz: dt.tzinfo) -> dict[str, str]:
    if not value:
        return {"date_end": "", "time_end": ""}
    local = parse_datetime(value).astimezone(tz)
    return {"date_end": local.strftime("%Y-%m-%d"), "time_end": local.strftime("%H:%M")}


def _user(user_id: int, ctx: RenderContext) -> dict[str, str]:
    user = ctx.users.get(user_id)
    state = user.state if user is not None else {}
    return {
        "id": str(user_id),
        "email": str(state.get("email") or ""),
        "name": str(state.get("name") or ""),
    }


def _is_set(value: Any) -> bool:
    return value not in (None, "", [], {}, False)


def _or_empty(value: Any) -> Any:
    return "" if value is None else value
