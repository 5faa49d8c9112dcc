"""A subscription's filter: the keys of `GET /api/v1/events` that choose events — `scope`
(TYPE:ID, with its descendants), `subject_type`, `action`, `actor` — as an object; lists as
JSON arrays or comma-separated strings. Checked when the subscription is written, turned
into an EventQuery when its events are dispatched."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from ..model import MAX_ID, Action, EntityType, EventQuery, Scope

KEYS = ("scope", "subject_type", "action", "actor")


def check_filter(raw: Any) -> dict[str, Any]:
    """The filter in its stored form, or InvalidInput naming what is wrong."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput("'filter' must be an object", field="filter")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise InvalidInput(
            f"unknown filter key(s) {', '.join(unknown)}; a filter takes {', '.join(KEYS)}",
            field="filter",
        )
    out: dict[str, Any] = {}
    if raw.get("scope") is not None:
        out["scope"] = str(_scope(raw["scope"]))
    types = _names(raw.get("subject_type"), "subject_type", [t.value for t in EntityType])
    actions = _names(raw.get("action"), "action", [a.value for a in Action])
    actors = _ids(raw.get("actor"))
    out.update(
        {k: v for k, v in (("subject_type", types), ("action", actions), ("actor", actors)) if v}
    )
    return out


def to_query(org_id: int, stored: dict[str, Any]) -> EventQuery:
    """The events a subscription with this (checked) filter is owed, oldest first."""
    scope = Scope.parse(stored["scope"]) if stored.get("scope") else None
    return EventQuery(
        org_id=org_id,
        scope=scope,
        subject_types=tuple(stored.get("subject_type") or ()),
        actions=tuple(stored.get("action") or ()),
        actor_ids=tuple(stored.get("actor") or ()),
        ascending=True,
    )


def _scope(value: Any) -> Scope:
    try:
        return Scope.parse(value) if isinstance(value, str) else _bad_scope(value)
    except ValueError as exc:
        raise InvalidInput(f"filter 'scope' {exc}", field="filter")


def _bad_scope(value: Any) -> Scope:
    raise ValueError(f"must look like TYPE:ID, e.g. project:12; got {value!r}")


def _listed(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return value
    raise InvalidInput(
        f"filter '{name}' must be a list or a comma-separated string", field="filter"
    )


def _names(value: Any, name: str, choices: list[str]) -> list[str]:
    items = _listed(value, name)
    bad = [v for v in items if v not in choices]
    if bad:
        raise InvalidInput(
            f"filter '{name}' takes {', '.join(choices)}; got {bad[0]!r}", field="filter"
        )
    return sorted(set(items))


def _ids(value: Any) -> list[int]:
    out = []
    for item in _listed(value, "actor"):
        if isinstance(item, str) and item.isascii() and item.isdigit() and len(item) <= 19:
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, int) or not 0 < item <= MAX_ID:
            raise InvalidInput(f"filter 'actor' takes user ids; got {item!r}", field="filter")
        out.append(item)
    return sorted(set(out))
