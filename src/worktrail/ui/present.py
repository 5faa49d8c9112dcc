"""Events as people read them: who did what to which thing, where, and what changed, in
words ("due date 3 Dec → 10 Dec", "tags +blocked -docs"), with times relative and absolute
in the organization's time zone. Templates render these views; they hold no logic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..diff import micros_to_datetime
from ..model import ENTITY_SPECS, PLURALS, EntityRow, EntityType, Event, FieldKind
from .worddiff import is_long, word_diff

LABELS = {
    "due_on": "due date",
    "due_at": "due time",
    "parent": "parent task",
    "email": "e-mail",
    "timezone": "time zone",
    "custom_fields": "custom fields",
}
# Types whose entities have a page of their own (webhooks and legal holds are an admin's
# API matter).
PAGED = frozenset(t for t in EntityType if t not in (EntityType.WEBHOOK, EntityType.LEGAL_HOLD))
HUES = 8


@dataclass(frozen=True)
class Value:
    text: str
    href: str | None = None
    empty: bool = False


@dataclass(frozen=True)
class Change:
    field: str
    label: str
    kind: str  # scalar, set or text
    old: Value | None = None
    new: Value | None = None
    added: tuple[Value, ...] = ()
    removed: tuple[Value, ...] = ()
    pieces: tuple[tuple[str, str], ...] | None = None  # a word diff of long texts


@dataclass(frozen=True)
class Person:
    name: str
    initials: str
    hue: int
    href: str | None


@dataclass(frozen=True)
class Thing:
    kind: str  # the entity type, in words
    name: str
    href: str | None


@dataclass(frozen=True)
class When:
    iso: str
    absolute: str
    relative: str


@dataclass(frozen=True)
class EventView:
    seq: int
    id: int
    actor: Person | None
    action: str
    subject: Thing
    places: tuple[Thing, ...]
    changes: tuple[Change, ...]
    when: When
    hash: str = field(repr=False)


def entity_href(entity_type: EntityType | str, entity_id: int) -> str | None:
    kind = EntityType(entity_type)
    return f"/{PLURALS[kind]}/{entity_id}" if kind in PAGED else None


def entity_name(entity_type: EntityType, state: Mapping[str, Any] | None, entity_id: int) -> str:
    """What to call an entity: its name, a comment's first words, else its type and id."""
    state = state or {}
    name = state.get("name") or (state.get("text") if entity_type is EntityType.COMMENT else None)
    if isinstance(name, str) and name.strip():
        text = " ".join(name.split())
        return text if len(text) <= 80 else text[:79] + "…"
    return f"{entity_type.value} {entity_id}"


def initials(name: str) -> str:
    parts = [p for p in name.replace(".", " ").split() if p[:1].isalnum()]
    letters = "".join(p[0] for p in parts[:2]) if len(parts) > 1 else name[:2]
    return letters.upper() or "?"


def person(actor_id: int, name: str) -> Person:
    return Person(name or f"user {actor_id}", initials(name), actor_id % HUES, None)


class Presenter:
    """Turns events into views, with the names of the entities they refer to (read once
    per page, `needed_ids` first) and times in the organization's zone."""

    def __init__(self, zone: dt.tzinfo, now: dt.datetime) -> None:
        self.zone = zone
        self.now = now
        self.names: dict[int, EntityRow] = {}

    # -- what to look up -------------------------------------------------------------

    @staticmethod
    def needed_ids(events: Iterable[Event]) -> set[int]:
        """The ids of entities the views of `events` name: referenced values and places."""
        ids: set[int] = set()
        for event in events:
            ids.update(s.id for s in event.scopes if s.type is not event.subject_type)
            spec = ENTITY_SPECS[event.subject_type].fields
            for change in event.changes:
                kind = spec.get(change["field"].split(".")[0])
                if kind is None or kind.kind not in (FieldKind.REF, FieldKind.REF_SET):
                    continue
                for key in ("old", "new"):
                    if isinstance(change.get(key), int):
                        ids.add(change[key])
                ids.update(v for v in change.get("added", ()) + change.get("removed", ()) if v)
        return ids

    # -- views -------------------------------------------------------------------------

    def event(self, event: Event) -> EventView:
        subject_state = event.after if event.after is not None else event.before
        actor = None
        if event.actor is not None:
            actor = person(event.actor.id, event.actor.name)
            actor = Person(actor.name, actor.initials, actor.hue, f"/?actor={event.actor.id}")
        subject = Thing(
            event.subject_type.value,
            entity_name(event.subject_type, subject_state, event.subject_id),
            entity_href(event.subject_type, event.subject_id),
        )
        return EventView(
            seq=event.seq,
            id=event.id,
            actor=actor,
            action=event.action.value,
            subject=subject,
            places=self.places(event),
            changes=tuple(self.change(event.subject_type, c) for c in event.changes),
            when=self.when(event.occurred_at),
            hash=event.hash,
        )

    def places(self, event: Event) -> tuple[Thing, ...]:
        """Where the subject was: its nearest container, and the project above a task."""
        wanted = {
            EntityType.TASK: (EntityType.PROJECT,),
            EntityType.COMMENT: (EntityType.TASK,),
            EntityType.PROJECT: (EntityType.WORKSPACE,),
        }.get(event.subject_type, ())
        found: list[Thing] = []
        for scope in event.scopes:
            if scope.type in wanted and scope.id != event.subject_id:
                found.append(self.thing(scope.type, scope.id))
                break
        return tuple(found)

    def thing(self, entity_type: EntityType, entity_id: int) -> Thing:
        row = self.names.get(entity_id)
        name = entity_name(entity_type, row.state if row else None, entity_id)
        return Thing(entity_type.value, name, entity_href(entity_type, entity_id))

    def change(self, subject_type: EntityType, change: Mapping[str, Any]) -> Change:
        name = change["field"]
        top, _, key = name.partition(".")
        label = key.replace("_", " ") if key else LABELS.get(top, top.replace("_", " "))
        spec = ENTITY_SPECS[subject_type].fields.get(top)
        kind = spec.kind if spec is not None and not key else None
        if "added" in change:
            ref = spec.ref if spec is not None else None
            return Change(
                name,
                label,
                "set",
                added=tuple(self.value(v, kind, ref) for v in change.get("added", ())),
                removed=tuple(self.value(v, kind, ref) for v in change.get("removed", ())),
            )
        old, new = change.get("old"), change.get("new")
        ref = spec.ref if spec is not None else None
        if kind is FieldKind.TEXT and (is_long(old) or is_long(new)):
            pieces = word_diff(str(old or ""), str(new or ""))
            return Change(
                name,
                label,
                "text",
                old=self.value(old, kind, ref),
                new=self.value(new, kind, ref),
                pieces=tuple(pieces) if pieces is not None else None,
            )
        return Change(name, label, "scalar", self.value(old, kind, ref), self.value(new, kind, ref))

    def value(self, value: Any, kind: FieldKind | None, ref: EntityType | None) -> Value:
        if value is None or value == "" or value == [] or value == {}:
            return Value("—", empty=True)
        if kind is FieldKind.BOOL:
            return Value("yes" if value else "no")
        if kind is FieldKind.DATE and isinstance(value, str):
            return Value(self.day(value))
        if kind is FieldKind.DATETIME and isinstance(value, str):
            return Value(self.moment(value))
        if kind is FieldKind.ENUM and isinstance(value, str):
            return Value(value.replace("_", " "))
        if ref is not None and isinstance(value, int):
            thing = self.thing(ref, value)
            return Value(thing.name, thing.href)
        if isinstance(value, str):
            return Value(value)
        if isinstance(value, bool):
            return Value("yes" if value else "no")
        if isinstance(value, list):
            return Value(", ".join(str(v) for v in value))
        return Value(str(value))

    # -- times -------------------------------------------------------------------------

    def day(self, iso_date: str) -> str:
        try:
            day = dt.date.fromisoformat(iso_date)
        except ValueError:
            return iso_date
        text = f"{day.day} {day:%b}"
        return text if day.year == self.now.year else f"{text} {day.year}"

    def moment(self, iso: str) -> str:
        try:
            at = dt.datetime.fromisoformat(iso).astimezone(self.zone)
        except ValueError:
            return iso
        return f"{self.day(at.date().isoformat())} {at:%H:%M}"

    def when(self, micros: int) -> When:
        at = micros_to_datetime(micros)
        local = at.astimezone(self.zone)
        absolute = f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname() or ''}".strip()
        return When(at.isoformat().replace("+00:00", "Z"), absolute, self.relative(at))

    def relative(self, at: dt.datetime) -> str:
        seconds = (self.now - at).total_seconds()
        if seconds < 0:
            return self.day(at.astimezone(self.zone).date().isoformat())
        if seconds < 60:
            return "just now"
        if seconds < 3600:
            return f"{int(seconds // 60)} min ago"
        if seconds < 86_400:
            return f"{int(seconds // 3600)} h ago"
        days = int(seconds // 86_400)
        if days == 1:
            return "yesterday"
        if days < 31:
            return f"{days} days ago"
        return self.day(at.astimezone(self.zone).date().isoformat())
