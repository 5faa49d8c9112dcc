"""Field values in, field-level changes out.

`normalize_fields` checks and canonicalizes client-supplied values against an entity type's
field table (so equal values compare equal: sets are sorted, dates checked, datetimes in
UTC). `diff_states` compares two states and yields the changes: old/new for scalar fields,
added/removed for multi-value fields, and one change per key for JSON maps
(`custom_fields.<key>`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from .errors import InvalidInput
from .model import ENTITY_SPECS, EntityType, FieldKind, FieldSpec, State


def empty_value(spec: FieldSpec) -> Any:
    if spec.multi:
        return []
    if spec.kind is FieldKind.JSON_MAP:
        return {}
    if spec.kind is FieldKind.BOOL:
        return False
    return None


# Per entity type, built once: the empty state (its lists and objects are copied for each
# caller) and the fields as diff_states walks them, with their empty values (compared only).
_EMPTY_STATES: dict[EntityType, State] = {
    t: {name: empty_value(spec) for name, spec in s.fields.items()} for t, s in ENTITY_SPECS.items()
}
_MUTABLE_EMPTY: dict[EntityType, tuple[str, ...]] = {
    t: tuple(name for name, value in state.items() if isinstance(value, (list, dict)))
    for t, state in _EMPTY_STATES.items()
}
_DIFF_FIELDS: dict[EntityType, tuple[tuple[str, bool, bool, Any], ...]] = {
    t: tuple(
        (name, spec.multi, spec.kind is FieldKind.JSON_MAP, empty_value(spec))
        for name, spec in s.fields.items()
    )
    for t, s in ENTITY_SPECS.items()
}


_REQUIRED: dict[EntityType, frozenset[str]] = {
    t: frozenset(name for name, spec in s.fields.items() if spec.required)
    for t, s in ENTITY_SPECS.items()
}


def initial_state(entity_type: EntityType) -> State:
    state = _EMPTY_STATES[entity_type].copy()
    for name in _MUTABLE_EMPTY[entity_type]:
        state[name] = state[name].copy()
    return state


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def normalize_value(name: str, spec: FieldSpec, value: Any) -> Any:
    """Return the canonical form of one field value, or raise InvalidInput naming the field."""
    if value is None:
        if spec.required:
            raise InvalidInput(f"field '{name}' is required and cannot be null", field=name)
        return empty_value(spec)
    kind = spec.kind
    if kind in (FieldKind.TEXT, FieldKind.ENUM):
        if not isinstance(value, str):
            raise InvalidInput(f"field '{name}' must be a string", field=name)
        if len(value) > spec.max_length:
            raise InvalidInput(
                f"field '{name}' is longer than {spec.max_length} characters", field=name
            )
        if kind is FieldKind.ENUM and value not in spec.choices:
            raise InvalidInput(
                f"field '{name}' must be one of {', '.join(spec.choices)}", field=name
            )
        if spec.required and not value.strip():
            raise InvalidInput(f"field '{name}' cannot be empty", field=name)
        return value
    if kind is FieldKind.BOOL:
        if not isinstance(value, bool):
            raise InvalidInput(f"field '{name}' must be true or false", field=name)
        return value
    if kind in (FieldKind.INT, FieldKind.REF):
        if not _is_int(value) or value <= 0 or value >= 2**62:
            raise InvalidInput(f"field '{name}' must be a positive integer id", field=name)
        return value
    if kind is FieldKind.DATE:
        try:
            return dt.date.fromisoformat(value).isoformat() if isinstance(value, str) else _bad()
        except ValueError:
            raise InvalidInput(f"field '{name}' must be a date YYYY-MM-DD", field=name)
    if kind is FieldKind.DATETIME:
        try:
            return format_datetime(parse_datetime(value))
        except (ValueError, TypeError):
            raise InvalidInput(
                f"field '{name}' must be an ISO-8601 date-time with a time zone", field=name
            )
    if kind is FieldKind.REF_SET:
        if not isinstance(value, list) or not all(_is_int(v) and v > 0 for v in value):
            raise InvalidInput(f"field '{name}' must be a list of integer ids", field=name)
        return sorted(set(value))
    if kind is FieldKind.TAG_SET:
        if not isinstance(value, list) or not all(
            isinstance(v, str) and 0 < len(v) <= 200 for v in value
        ):
            raise InvalidInput(f"field '{name}' must be a list of non-empty strings", field=name)
        return sorted(set(value))
    if kind is FieldKind.JSON_MAP:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and 0 < len(k) <= 200 for k in value
        ):
            raise InvalidInput(f"field '{name}' must be an object with string keys", field=name)
        return {k: value[k] for k in sorted(value) if value[k] is not None}
    raise AssertionError(f"unhandled field kind {kind}")  # pragma: no cover


def _bad() -> Any:
    raise ValueError


def normalize_fields(entity_type: EntityType, values: Mapping[str, Any], *, partial: bool) -> State:
    """Check `values` against the type's fields. Unknown fields are an error.

    With partial=False every required field must be present (a create).
    """
    spec = ENTITY_SPECS[entity_type]
    fields = spec.fields
    if not fields.keys() >= values.keys():
        unknown = sorted(set(values) - set(fields))
        raise InvalidInput(
            f"unknown field(s) for {entity_type.value}: {', '.join(unknown)}; "
            f"known: {', '.join(spec.fields)}",
            field=unknown[0],
        )
    out: State = {
        name: normalize_value(name, fields[name], value) for name, value in values.items()
    }
    if not partial and not out.keys() >= _REQUIRED[entity_type]:
        missing = [n for n, f in fields.items() if f.required and n not in out]
        if missing:
            raise InvalidInput(
                f"missing required field(s) for {entity_type.value}: {', '.join(missing)}",
                field=missing[0],
            )
    return out


def diff_states(entity_type: EntityType, old: State, new: State) -> list[dict[str, Any]]:
    """Field-level changes from `old` to `new`, in the type's field order."""
    changes: list[dict[str, Any]] = []
    old_get, new_get = old.get, new.get
    for name, multi, json_map, empty in _DIFF_FIELDS[entity_type]:
        before = old_get(name, empty)
        after = new_get(name, empty)
        if before == after:
            continue
        if multi:
            old_set, new_set = set(before), set(after)
            changes.append(
                {
                    "field": name,
                    "added": sorted(new_set - old_set),
                    "removed": sorted(old_set - new_set),
                }
            )
        elif json_map:
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    changes.append(
                        {"field": f"{name}.{key}", "old": before.get(key), "new": after.get(key)}
                    )
        else:
            changes.append({"field": name, "old": before, "new": after})
    return changes


def parse_datetime(value: Any) -> dt.datetime:
    """Parse an ISO-8601 date-time that names its zone ('Z' or an offset)."""
    if not isinstance(value, str):
        raise TypeError("not a string")
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    return parsed.astimezone(dt.UTC)


def format_datetime(value: dt.datetime, timespec: str = "milliseconds") -> str:
    text = value.astimezone(dt.UTC).isoformat(timespec=timespec)
    return text.replace("+00:00", "Z")


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def micros_to_datetime(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def micros_to_iso(us: int, timespec: str = "microseconds") -> str:
    """ISO-8601 in UTC with a Z; microseconds by default so times round-trip exactly."""
    if timespec == "microseconds":  # every event read renders two of these: the fast way
        minutes, micros = divmod(us, 60_000_000)
        return f"{_iso_minute(minutes)}{micros / 1e6:09.6f}Z"
    return format_datetime(micros_to_datetime(us), timespec)


@functools.lru_cache(maxsize=4096)
def _iso_minute(minutes: int) -> str:
    """'YYYY-MM-DDTHH:MM:' of a minute since the epoch (events come many to a minute)."""
    return (EPOCH + dt.timedelta(minutes=minutes)).isoformat()[:17]


def datetime_to_micros(value: dt.datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def now_micros() -> int:
    return datetime_to_micros(dt.datetime.now(dt.UTC))
