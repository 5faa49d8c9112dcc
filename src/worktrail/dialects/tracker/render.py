"""worktrail events and entities in Tracker's shapes.

An event of an entity's history is `{id, author, date, transport, display, changes}`; each
change names its field (`field: {id, display}`) and says what happened in `diff` markup:
`<removed>old</removed><added>new</added>` for a value that changed, one element per value
added to or removed from a set (followers, tags, members). Values are the names people see
(user names, the names of projects and issues, "In progress", dates); the text inside the
markup is HTML-escaped, so a value cannot forge an element. worktrail adds to each event the
issue or entity it is about (`issue: {self, id, key, display}` for tasks and comments,
`entity: {self, id, shortId, entityType, display}` for projects and portfolios), since a
project's history carries the events of its tasks and comments too.

Names of users and of referenced entities are their current ones; the author's is the one
recorded with the event.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request

from ...diff import datetime_to_micros, micros_to_datetime, parse_datetime
from ...model import (
    ENTITY_SPECS,
    Actor,
    EntityRow,
    EntityType,
    Event,
    FieldKind,
    FieldSpec,
    entity_hex_id,
)
from ...query import Reader
from ...web.services import Services
from .. import kit
from .access import TRACKER_TYPES, event_hex_id, issue_key
from .fields import (
    CHOICES,
    RESOLVED,
    YES,
    Lang,
    event_name,
    language,
    tracker_field,
)

Json = dict[str, Any]


@dataclass(frozen=True)
class Links:
    """Absolute URLs of this server's Tracker resources, in the API version asked for."""

    base: str
    version: str

    @classmethod
    def of(cls, request: Request, services: Services) -> Links:
        base = kit.base_url(request, services)
        version = request.url.path.lstrip("/").partition("/")[0]
        return cls(base, version if version in ("v2", "v3") else "v2")

    def api(self, path: str) -> str:
        return f"{self.base}/{self.version}/{path}"


@dataclass(frozen=True)
class Context:
    """What rendering a page needs: links, language and the entities it refers to."""

    links: Links
    lang: Lang
    names: kit.Names

    @classmethod
    def load(
        cls, request: Request, services: Services, reader: Reader, ids: Iterable[int]
    ) -> Context:
        lang = language(request.headers.get("accept-language", ""))
        return cls(Links.of(request, services), lang, kit.Names.load(reader, ids))

    def name(self, entity_id: int) -> str:
        return self.names.name(entity_id, f"#{entity_id}")


def tracker_date(micros: int) -> str:
    """Tracker's date-time: YYYY-MM-DDThh:mm:ss.sss+0000 (UTC, milliseconds, no colon)."""
    moment = micros_to_datetime(micros)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def cloud_uid(user_id: int) -> str:
    """A stable Yandex Cloud-style user uid ("aje" and 17 more characters)."""
    return "aje" + hashlib.sha256(f"worktrail-user:{user_id}".encode()).hexdigest()[:17]


def user_ref(links: Links, user_id: int, name: str) -> Json:
    return {
        "self": links.api(f"users/{user_id}"),
        "id": str(user_id),
        "display": name,
        "cloudUid": cloud_uid(user_id),
        "passportUid": str(user_id),
    }


def author(links: Links, actor: Actor | None) -> Json | None:
    """The user who made a change; null for system changes (sidecar ingest without actor)."""
    return user_ref(links, actor.id, actor.name) if actor is not None else None


def transport(event: Event) -> str:
    """Tracker's service field: "front" for changes made in the web UI, else "v2" (API)."""
    return "front" if event.context.get("source") == "ui" else "v2"


def entity_ref(ctx: Context, entity_id: int) -> Json | None:
    entity = ctx.names.get(entity_id)
    if entity is None or entity.type not in TRACKER_TYPES:
        return None
    kind = TRACKER_TYPES[entity.type]
    hex_id = entity_hex_id(entity.id, entity.created_at)
    return {
        "self": ctx.links.api(f"entities/{kind}/{hex_id}"),
        "id": hex_id,
        "shortId": entity.id,
        "entityType": kind,
        "display": ctx.name(entity.id),
    }


def issue_ref(ctx: Context, task_id: int) -> Json:
    entity = ctx.names.get(task_id)
    key = issue_key(task_id)
    return {
        "self": ctx.links.api(f"issues/{key}"),
        "id": entity_hex_id(task_id, entity.created_at) if entity else f"{task_id:024x}",
        "key": key,
        "display": ctx.name(task_id),
    }


subject_task = kit.task_of


def referenced_ids(events: Iterable[Event]) -> set[int]:
    """Entities whose names or ids rendering `events` needs: subjects, their tasks and
    every entity the changes refer to."""
    events = list(events)
    ids = kit.referenced_ids(events)
    for event in events:
        ids.add(event.subject_id)
        task = subject_task(event)
        if task is not None:
            ids.add(task)
    return ids


# -- entity history events ---------------------------------------------------------------


def render_event(event: Event, ctx: Context) -> Json:
    out: Json = {
        "id": event_hex_id(event),
        "author": author(ctx.links, event.actor),
        "date": tracker_date(event.occurred_at),
        "transport": transport(event),
        "display": event_name(event.subject_type, event.action)(ctx.lang),
        "changes": changes(event, ctx),
    }
    task = subject_task(event)
    if task is not None:
        out["issue"] = issue_ref(ctx, task)
    elif event.subject_type in TRACKER_TYPES:
        out["entity"] = entity_ref(ctx, event.subject_id)
    return out


def changes(event: Event, ctx: Context) -> list[Json]:
    """The event's changes; one between two empty values (no priority → "none") says nothing."""
    rendered = (_change(event.subject_type, change, ctx) for change in event.changes)
    return [change for change in rendered if change["diff"]]


def _change(entity_type: EntityType, change: dict[str, Any], ctx: Context) -> Json:
    name = str(change["field"])
    field = tracker_field(entity_type, name)
    spec = ENTITY_SPECS[entity_type].fields.get(name)
    if "added" in change or "removed" in change:
        removed = [value_text(spec, name, v, ctx) for v in change.get("removed") or ()]
        added = [value_text(spec, name, v, ctx) for v in change.get("added") or ()]
    else:
        removed = [value_text(spec, name, change.get("old"), ctx)]
        added = [value_text(spec, name, change.get("new"), ctx)]
    out: Json = {
        "diff": diff_markup(removed, added),
        "field": {"id": field.id, "display": field.name(ctx.lang)},
    }
    if field.id == "comment.text":
        out["field"]["email"] = None
        out["commentUrl"] = ""
    return out


def diff_markup(removed: list[str | None], added: list[str | None]) -> str:
    parts = [f"<removed>{html.escape(v, quote=False)}</removed>" for v in removed if v]
    parts += [f"<added>{html.escape(v, quote=False)}</added>" for v in added if v]
    return "".join(parts)


def value_text(spec: FieldSpec | None, name: str, value: Any, ctx: Context) -> str | None:
    """A field value as people read it; None for an empty value."""
    if value is None or value == "" or value is False:
        return None
    if spec is None:  # a custom field
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    if spec.ref is not None and isinstance(value, int):
        return ctx.name(value)
    if spec.kind is FieldKind.ENUM and name in CHOICES:
        choice = CHOICES[name].get(str(value))
        return choice.name(ctx.lang) if choice is not None else None
    if spec.kind is FieldKind.BOOL:
        return (RESOLVED.name if name == "completed" else YES)(ctx.lang)
    if spec.kind is FieldKind.DATETIME and isinstance(value, str):
        return tracker_date(datetime_to_micros(parse_datetime(value)))
    return str(value)


# -- entities ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lifetime:
    """Who created an entity and when; when it last changed (microseconds)."""

    creator: Actor | None
    created_at: int
    updated_at: int


def render_entity(entity: EntityRow, life: Lifetime, ctx: Context) -> Json:
    """A project or portfolio as Tracker's entity read returns it."""
    kind = TRACKER_TYPES[entity.type]
    hex_id = entity_hex_id(entity.id, entity.created_at)
    state = entity.state
    created_by = author(ctx.links, life.creator)
    fields: Json = {
        "summary": state.get("name"),
        "description": state.get("description") or None,
        "author": created_by,
        "teamUsers": [_user(ctx, u) for u in state.get("members") or ()],
    }
    if entity.type is EntityType.PROJECT:
        owner = state.get("owner")
        fields["lead"] = _user(ctx, owner) if owner else None
        fields["end"] = state.get("due_on")
        fields["parentEntity"] = entity_ref(ctx, state["workspace"])
    return {
        "self": ctx.links.api(f"entities/{kind}/{hex_id}"),
        "id": hex_id,
        "version": entity.version,
        "shortId": entity.id,
        "entityType": kind,
        "createdBy": created_by,
        "createdAt": tracker_date(life.created_at),
        "updatedAt": tracker_date(life.updated_at),
        "fields": fields,
    }


def entity_references(entity: EntityRow) -> set[int]:
    state = entity.state
    ids = set(state.get("members") or ()) | set(state.get("followers") or ())
    for name in ("owner", "workspace", "assignee", "project", "parent"):
        if isinstance(state.get(name), int):
            ids.add(state[name])
    return ids | {entity.id}


def _user(ctx: Context, user_id: int) -> Json:
    return user_ref(ctx.links, user_id, ctx.name(user_id))


def render_issue(task: EntityRow, life: Lifetime, ctx: Context) -> Json:
    """A task as Tracker's issue read returns it (the fields worktrail has)."""
    state = task.state
    key = issue_key(task.id)
    assignee, project, parent = state.get("assignee"), state.get("project"), state.get("parent")
    return {
        "self": ctx.links.api(f"issues/{key}"),
        "id": entity_hex_id(task.id, task.created_at),
        "key": key,
        "version": task.version,
        "summary": state.get("name"),
        "description": state.get("notes") or None,
        "assignee": _user(ctx, assignee) if assignee else None,
        "followers": [_user(ctx, u) for u in state.get("followers") or ()],
        "tags": list(state.get("tags") or ()),
        "deadline": state.get("due_on"),
        "priority": choice_ref("priority", state.get("priority"), ctx.lang),
        "status": choice_ref("status", state.get("status"), ctx.lang),
        "resolution": choice_ref("completed", state.get("completed"), ctx.lang),
        "project": entity_ref(ctx, project) if project else None,
        "parent": issue_ref(ctx, parent) if parent else None,
        "createdBy": author(ctx.links, life.creator),
        "createdAt": tracker_date(life.created_at),
        "updatedAt": tracker_date(life.updated_at),
    }


def choice_ref(name: str, value: Any, lang: Lang) -> Json | None:
    """An enumeration value as Tracker's objects give it: {id, key, display}; None if empty."""
    if name == "completed":
        choice = RESOLVED if value else None
    else:
        choice = CHOICES[name].get(str(value)) if value else None
    if choice is None:
        return None
    return {"id": choice.key, "key": choice.key, "display": choice.name(lang)}
