"""worktrail events and entities as Kantata subscribed events and side-loaded objects.

Ids are strings where Kantata writes them as strings (object ids, `*_id` fields in payloads
and objects, `context_workspace_id`) and integers where its contract says so (`account_id`,
`subject_id`, `user_id`). Times are ISO 8601 to the second in the account's time zone.
Payloads carry the subject's fields under Kantata's names (mapping.py); with the
organization setting `kantata_payload_encoding` = `string` they are JSON strings, as
Kantata's Swagger contract types them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from ...diff import micros_to_datetime
from ...model import ENTITY_SPECS, Action, EntityRow, EntityType, Event, FieldKind, State
from .mapping import KANTATA_TYPES, event_type

RESULT_KEY = "subscribed_events"


@lru_cache(maxsize=256)
def zone_named(name: str | None) -> ZoneInfo:
    """The time zone of that name; UTC for a missing or unknown one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def kantata_time(us: int, zone: ZoneInfo) -> str:
    local = micros_to_datetime(us).astimezone(zone).replace(microsecond=0)
    text = local.isoformat()
    return text[:-6] + "Z" if zone.key == "UTC" and text.endswith("+00:00") else text


def _value(spec_kind: FieldKind, name: str, value: Any) -> Any:
    if spec_kind is FieldKind.REF:
        text = str(value) if value is not None else None
        if name.endswith("_ids"):  # a single container Kantata lists (workspace_group_ids)
            return [text] if text is not None else []
        return text
    if spec_kind is FieldKind.REF_SET:
        return [str(v) for v in value or ()]
    return value


def payload(entity_type: EntityType, entity_id: int, state: State | None) -> dict[str, Any] | None:
    """A state of the subject as Kantata's payload: its id and its fields, renamed."""
    if state is None:
        return None
    specs = ENTITY_SPECS[entity_type].fields
    out: dict[str, Any] = {"id": str(entity_id)}
    for field, name in KANTATA_TYPES[entity_type].fields.items():
        out[name] = _value(specs[field].kind, name, state.get(field))
    return out


def payload_changes(event: Event) -> dict[str, list[Any]]:
    """`{field: [old, new]}` for each field the event changed, lists for multi-value fields."""
    changed = {str(c["field"]).split(".")[0] for c in event.changes}
    before = payload(event.subject_type, event.subject_id, event.before or {}) or {}
    after = payload(event.subject_type, event.subject_id, event.after or {}) or {}
    if event.action is Action.CREATED:
        before = {}
    return {
        name: [before.get(name), after.get(name)]
        for field, name in KANTATA_TYPES[event.subject_type].fields.items()
        if field in changed
    }


def _payloads(event: Event) -> tuple[Any, Any]:
    previous = None if event.action is Action.CREATED else event.before
    current = None if event.action is Action.DELETED else event.after
    return (
        payload(event.subject_type, event.subject_id, previous),
        payload(event.subject_type, event.subject_id, current),
    )


def context_workspace_id(event: Event) -> str | None:
    """The project (Kantata workspace) the event relates to: the newest one in its scopes."""
    for scope in event.scopes:
        if scope.type is EntityType.PROJECT:
            return str(scope.id)
    return None


def render_event(
    event: Event,
    zone: ZoneInfo,
    optional_fields: frozenset[str],
    as_strings: bool,
    subject_ref: dict[str, str] | bool | None = False,
) -> dict[str, Any]:
    """One subscribed event. `subject_ref` False leaves the key out (no include=subject)."""
    out: dict[str, Any] = {
        "id": str(event.id),
        "account_id": event.org_id,
        "context_workspace_id": context_workspace_id(event),
        "created_at": kantata_time(event.recorded_at, zone),
        "event_type": event_type(event.subject_type, event.action),
        "subject_changed_at": kantata_time(event.occurred_at, zone),
        "subject_id": event.subject_id,
        "subject_type": KANTATA_TYPES[event.subject_type].subject_type,
    }
    if subject_ref is not False:
        out["subject_ref"] = subject_ref
    out["user_id"] = event.actor.id if event.actor else None
    if optional_fields:
        previous, current = _payloads(event)
        optional = {
            "payload_changes": payload_changes(event),
            "previous_payload": previous,
            "current_payload": current,
        }
        for name, value in optional.items():
            if name in optional_fields:
                out[name] = _encode(value) if as_strings else value
    return out


def _encode(value: Any) -> str | None:
    return orjson.dumps(value).decode() if value is not None else None


def subject_ref(entity: EntityRow | None) -> dict[str, str] | None:
    """Where the subject's current state is side-loaded; None if it was deleted."""
    if entity is None or entity.deleted:
        return None
    return {"key": KANTATA_TYPES[entity.type].key, "id": str(entity.id)}


def render_subject(entity: EntityRow, zone: ZoneInfo) -> dict[str, Any]:
    out = payload(entity.type, entity.id, entity.state) or {}
    out["created_at"] = kantata_time(entity.created_at, zone)
    out["updated_at"] = kantata_time(entity.updated_at, zone)
    return out


def page_meta(count: int, size: int, page_number: int) -> dict[str, int]:
    return {
        "count": count,
        "page_count": -(-count // size),
        "page_number": page_number,
        "page_size": size,
    }
