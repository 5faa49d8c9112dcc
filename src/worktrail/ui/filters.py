"""The timeline's filters as URL parameters, so that every view can be bookmarked and
shared: parsed and checked here, turned into an EventQuery for the read door, and written
back into links (a facet added or removed, a time range narrowed, a page turned).

    /?scope=project:12&type=task&action=closed&actor=7&field=due_on
     &after=2026-11-01&before=2026-12-01&text=release+notes

Several values of one filter (`type=task&type=comment`) match any of them. `after` and
`before` take a date (midnight in the organization's time zone) or an ISO 8601 date-time;
`after` is inclusive, `before` exclusive.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from ..diff import datetime_to_micros
from ..errors import BadRequest
from ..model import Action, EntityType, EventQuery, Scope

TYPES = tuple(t.value for t in EntityType if t not in (EntityType.WEBHOOK, EntityType.LEGAL_HOLD))
ACTIONS = tuple(a.value for a in Action)
FIELD = re.compile(r"[a-z_]{1,40}(\.[^\s\"\\]{1,100})?")
MAX_TEXT = 200
FILTER_PARAMS = ("scope", "type", "action", "actor", "field", "after", "before", "text")
PAGE_PARAMS = ("older", "newer")


@dataclass(frozen=True)
class Filters:
    scope: Scope | None = None
    types: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    actors: tuple[int, ...] = ()
    fields: tuple[str, ...] = ()
    after: str | None = None  # as given: a date or a date-time
    before: str | None = None
    text: str | None = None

    @property
    def active(self) -> bool:
        return self != Filters()

    def params(self) -> list[tuple[str, str]]:
        """The URL parameters of these filters."""
        pairs: list[tuple[str, str]] = []
        if self.scope is not None:
            pairs.append(("scope", str(self.scope)))
        pairs += [("type", v) for v in self.types]
        pairs += [("action", v) for v in self.actions]
        pairs += [("actor", str(v)) for v in self.actors]
        pairs += [("field", v) for v in self.fields]
        for name in ("after", "before", "text"):
            value = getattr(self, name)
            if value:
                pairs.append((name, value))
        return pairs

    def url(self, path: str = "/", *extra: tuple[str, str]) -> str:
        query = urlencode([*self.params(), *extra])
        return f"{path}?{query}" if query else path

    def without(self, name: str) -> Filters:
        """These filters without the one named (scope, after, before or text)."""
        return replace(self, **{name: None})  # type: ignore[arg-type]

    def toggled(self, name: str, value: str) -> Filters:
        """These filters with one value of a multi-valued filter added, or removed if it
        is there (a facet link)."""
        if name == "actor":
            actors = self.actors
            new = int(value)
            return replace(
                self,
                actors=tuple(a for a in actors if a != new) if new in actors else (*actors, new),
            )
        current: tuple[str, ...] = getattr(self, name)
        updated = tuple(v for v in current if v != value) if value in current else (*current, value)
        return replace(self, **{name: updated})  # type: ignore[arg-type]

    def query(self, org_id: int, zone: dt.tzinfo, limit: int) -> EventQuery:
        """The EventQuery of these filters (newest first)."""
        return EventQuery(
            org_id=org_id,
            scope=self.scope,
            subject_types=self.types,
            actions=self.actions,
            actor_ids=self.actors,
            changed_fields=self.fields,
            occurred_from=to_micros(self.after, zone) if self.after else None,
            occurred_to=to_micros(self.before, zone) if self.before else None,
            text=self.text,
            limit=limit,
        )


def parse_filters(qp: QueryParams, zone: dt.tzinfo) -> Filters:
    """The filters in a request's parameters, checked; BadRequest naming a wrong one."""
    scope = None
    if raw := _single(qp, "scope"):
        try:
            scope = Scope.parse(raw)
        except ValueError:
            raise BadRequest(f"'{raw}' is not a scope: use TYPE:ID, e.g. project:12")
    filters = Filters(
        scope=scope,
        types=_choices(qp, "type", TYPES),
        actions=_choices(qp, "action", ACTIONS),
        actors=_ids(qp, "actor"),
        fields=_fields(qp),
        after=_single(qp, "after") or None,
        before=_single(qp, "before") or None,
        text=(_single(qp, "text") or "").strip()[:MAX_TEXT] or None,
    )
    start = to_micros(filters.after, zone) if filters.after else None
    end = to_micros(filters.before, zone) if filters.before else None
    if start is not None and end is not None and start >= end:
        raise BadRequest("the time range is empty: 'after' must come before 'before'")
    return filters


def to_micros(value: str, zone: dt.tzinfo) -> int:
    """A date (its midnight in `zone`) or an ISO 8601 date-time (in `zone` unless it names
    its own), in microseconds since the epoch."""
    try:
        if len(value) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), zone)
        else:
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
        return datetime_to_micros(moment.astimezone(dt.UTC))
    except (ValueError, OverflowError):
        raise BadRequest(f"'{value}' is not a date (2026-11-01) or a date and time")


def _single(qp: QueryParams, name: str) -> str | None:
    values = qp.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"'{name}' was given {len(values)} times; give it once")
    return values[0].strip() if values else None


def _choices(qp: QueryParams, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = [v.strip() for raw in qp.getlist(name) for v in raw.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise BadRequest(f"'{bad[0]}' is not a known {name}; use one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(values))


def _ids(qp: QueryParams, name: str) -> tuple[int, ...]:
    values = [v.strip() for raw in qp.getlist(name) for v in raw.split(",") if v.strip()]
    bad = [v for v in values if not (v.isascii() and v.isdigit() and len(v) <= 18)]
    if bad:
        raise BadRequest(f"'{bad[0]}' is not a user id")
    return tuple(dict.fromkeys(int(v) for v in values))


def _fields(qp: QueryParams) -> tuple[str, ...]:
    values = [v.strip() for v in qp.getlist("field") if v.strip()]
    bad = [v for v in values if not FIELD.fullmatch(v)]
    if bad:
        raise BadRequest(f"'{bad[0][:100]}' is not a field name, e.g. due_on or tags")
    return tuple(dict.fromkeys(values))
