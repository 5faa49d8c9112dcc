"""worktrail events as Asana events.

An Asana event is one action on one resource: `added`/`removed` (to or from a parent),
`changed` (one field), `deleted`, `undeleted`. A worktrail event can say more at once, so
it renders as one or more Asana events, always the same number for the same event (sync
positions count them):

    created                    added, parent = its container (task: project; subtask:
                               parent task; comment: task)
    updated, closed, reopened  one `changed` per changed field (`completed` on close/reopen)
    followers, tags, members   one `changed` per value, `change.action` added or removed
    moved (project, parent…)   `removed` from the old parent, then `added` to the new one
    deleted, restored          `deleted`, `undeleted`

Comments are Asana stories. Resources and users are compact (`gid`, `resource_type`,
`name`); names of parents and referenced users are their current ones, the resource's own
name is the one it had at the time of the event.

Values in `change`: Asana documents `new_value`/`added_value`/`removed_value` as present only
when the value is an Asana resource, rendered compact. worktrail renders users that way (and
tags as `{resource_type: "tag", name}`, since worktrail tags are plain names), and also gives
scalar values (name, notes, due dates, completed…) as a plain `new_value`: an audit trail that
withheld the new value would be less useful, and clients treat the key as conditional anyway.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...diff import micros_to_iso
from ...model import (
    ENTITY_SPECS,
    LOCATION_FIELDS,
    Action,
    Actor,
    EntityType,
    Event,
    FieldKind,
    FieldSpec,
    State,
)
from ...query import Reader
from .. import kit

AsanaEvent = dict[str, Any]

RESOURCE_TYPES = {
    EntityType.WORKSPACE: "workspace",
    EntityType.PROJECT: "project",
    EntityType.TASK: "task",
    EntityType.COMMENT: "story",
    EntityType.USER: "user",
}
RESOURCE_SUBTYPES = {EntityType.TASK: "default_task", EntityType.COMMENT: "comment_added"}
RENDERED_TYPES = (EntityType.PROJECT, EntityType.TASK, EntityType.COMMENT)
# worktrail field → Asana field, where Asana names the same thing differently.
FIELD_NAMES = {(EntityType.PROJECT, "description"): "notes"}
STORY_NAME_LENGTH = 100
SIMPLE_ACTIONS = {Action.DELETED: "deleted", Action.RESTORED: "undeleted"}


def compact(entity_type: EntityType, entity_id: int, state: State | None) -> dict[str, Any]:
    out: dict[str, Any] = {"gid": str(entity_id), "resource_type": RESOURCE_TYPES[entity_type]}
    out["name"] = _name(entity_type, state or {})
    subtype = RESOURCE_SUBTYPES.get(entity_type)
    if subtype:
        out["resource_subtype"] = subtype
    return out


def _compact(names: kit.Names, entity_type: EntityType, entity_id: int) -> dict[str, Any]:
    """An entity the event refers to, compact, under its current name."""
    entity = names.get(entity_id, entity_type)
    return compact(entity_type, entity_id, entity.state if entity is not None else None)


def _name(entity_type: EntityType, state: State) -> str | None:
    if entity_type is EntityType.COMMENT:
        text = str(state.get("text") or "")
        return text if len(text) <= STORY_NAME_LENGTH else text[: STORY_NAME_LENGTH - 1] + "…"
    name = state.get("name")
    return str(name) if name is not None else None


def render_events(reader: Reader, events: list[Event]) -> list[list[AsanaEvent]]:
    """Each event's Asana events (possibly none, for types Asana streams do not carry)."""
    names = kit.Names.load(reader, referenced_ids(events))
    return [render_event(event, names) for event in events]


def referenced_ids(events: list[Event]) -> set[int]:
    """Ids whose current names the rendering of `events` needs: the containers of created
    entities and every entity the changes refer to."""
    ids = kit.referenced_ids(events)
    for event in events:
        if event.action is Action.CREATED:
            parent = container(event.subject_type, event.after or {})
            if parent is not None:
                ids.add(parent[1])
    return ids


def container(entity_type: EntityType, state: State) -> tuple[EntityType, int] | None:
    """The entity an entity of this state lies in (a subtask's parent task before a project)."""
    if entity_type is EntityType.TASK and state.get("parent"):
        return EntityType.TASK, int(state["parent"])
    spec = ENTITY_SPECS[entity_type]
    if spec.parent_field and spec.parent_type and state.get(spec.parent_field):
        return spec.parent_type, int(state[spec.parent_field])
    return None


def render_event(event: Event, names: kit.Names) -> list[AsanaEvent]:
    if event.subject_type not in RENDERED_TYPES:
        return []
    if event.action is Action.CREATED:
        parent = container(event.subject_type, event.after or {})
        return [_base(event, "added", _compact(names, *parent) if parent else None)]
    simple = SIMPLE_ACTIONS.get(event.action)
    if simple is not None:
        return [_base(event, simple)]
    out: list[AsanaEvent] = []
    for change in event.changes:
        out.extend(_changed(event, names, change))
    return out


def _base(event: Event, action: str, parent: dict[str, Any] | None = None) -> AsanaEvent:
    resource_type = RESOURCE_TYPES[event.subject_type]
    state = event.after if event.after is not None else event.before
    return {
        "user": _user(event.actor),
        "resource": compact(event.subject_type, event.subject_id, state),
        "type": resource_type,
        "action": action,
        "parent": parent,
        "created_at": micros_to_iso(event.occurred_at, "milliseconds"),
    }


def _user(actor: Actor | None) -> dict[str, Any] | None:
    if actor is None:
        return None
    return {"gid": str(actor.id), "resource_type": "user", "name": actor.name}


def _changed(event: Event, names: kit.Names, change: dict[str, Any]) -> list[AsanaEvent]:
    field = str(change["field"])
    spec = ENTITY_SPECS[event.subject_type].fields.get(field)
    if spec is not None and spec.ref is not None and field in LOCATION_FIELDS:
        moves = []
        if change.get("old"):
            moves.append(_base(event, "removed", _compact(names, spec.ref, change["old"])))
        if change.get("new"):
            moves.append(_base(event, "added", _compact(names, spec.ref, change["new"])))
        return moves
    name = FIELD_NAMES.get((event.subject_type, field), field)
    if "added" in change or "removed" in change:
        removed = [
            _with_change(event, name, "removed", _value(names, spec, v))
            for v in change.get("removed") or ()
        ]
        added = [
            _with_change(event, name, "added", _value(names, spec, v))
            for v in change.get("added") or ()
        ]
        return removed + added
    if field.startswith("custom_fields."):
        key = field.partition(".")[2]
        value = {"resource_type": "custom_field", "name": key, "display_value": _text(change)}
        return [_with_change(event, "custom_fields", "changed", value)]
    return [_with_change(event, name, "changed", _value(names, spec, change.get("new")))]


def _with_change(event: Event, field: str, action: str, value: Any) -> AsanaEvent:
    key = {"changed": "new_value", "added": "added_value", "removed": "removed_value"}[action]
    return {**_base(event, "changed"), "change": {"field": field, "action": action, key: value}}


def _value(names: kit.Names, spec: FieldSpec | None, value: Any) -> Any:
    """A field value as Asana renders it: referenced entities compact, tags named, else plain."""
    if value is None or spec is None:
        return value
    if spec.ref is not None and isinstance(value, int):
        return _compact(names, spec.ref, value)
    if spec.kind is FieldKind.TAG_SET:
        return {"resource_type": "tag", "name": value}
    return value


def _text(change: dict[str, Any]) -> str | None:
    """A custom field's new value as Asana's `display_value` (text, or null when cleared)."""
    value = change.get("new")
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
