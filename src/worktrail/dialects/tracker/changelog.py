"""`GET /v2/issues/{key}/changelog`: a task's history as Tracker's issue changelog.

The changelog of a task holds its own events and those of the comments on it (not those of
its subtasks, which are issues with changelogs of their own), oldest first. Each event is
one change `{id, self, issue, updatedAt, updatedBy, type, transport, fields, comments}` of a
documented type:

    task created                      IssueCreated (fields: the values it was created with)
    task updated                      IssueUpdated; IssueWorkflow when the status changed;
                                      IssueMoved when it moved to another project or parent
    task closed, reopened             IssueWorkflow (field resolution set / cleared)
    task deleted, restored            IssueUpdated (field deleted: false → true / back)
    comment added, restored           IssueCommentAdded   (comments.added)
    comment edited                    IssueCommentUpdated (comments.updated)
    comment deleted, moved elsewhere  IssueCommentRemoved (comments.removed)

`fields[].from`/`to` are the whole values before and after, as Tracker gives them: strings
for text and dates, `{self, id, display}` for users (arrays for followers), `{id, key,
display}` for status, priority and resolution, arrays of strings for tags, null when empty.

Paging: `perPage` changes (default 50) after the change `id`, filtered by `field` and
`type` (each repeatable or comma-separated); the `Link` header carries `rel="first"` and,
while more changes follow, `rel="next"`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from ...diff import datetime_to_micros, parse_datetime
from ...model import ENTITY_SPECS, LOCATION_FIELDS, Action, EntityType, Event, EventQuery, FieldKind
from ...query import Reader
from ...web.openapi import listed as oa_listed
from ...web.openapi import query
from .access import event_hex_id, event_seq, issue_key, pruned, unknown_event
from .errors import bad_parameter
from .fields import DELETED, tracker_field
from .relative import EVENT_ID, PER_PAGE, listed, per_page, single
from .render import (
    Context,
    Json,
    author,
    choice_ref,
    entity_ref,
    issue_ref,
    subject_task,
    tracker_date,
    transport,
    user_ref,
)

CHANGE_TYPES = frozenset(
    {
        "IssueUpdated",
        "IssueCreated",
        "IssueMoved",
        "IssueCloned",
        "IssueCommentAdded",
        "IssueCommentUpdated",
        "IssueCommentRemoved",
        "IssueWorklogAdded",
        "IssueWorklogUpdated",
        "IssueWorklogRemoved",
        "IssueCommentReactionAdded",
        "IssueCommentReactionRemoved",
        "IssueVoteAdded",
        "IssueVoteRemoved",
        "IssueLinked",
        "IssueLinkChanged",
        "IssueUnlinked",
        "RelatedIssueResolutionChanged",
        "IssueAttachmentAdded",
        "IssueAttachmentRemoved",
        "IssueWorkflow",
    }
)
COMMENT_TYPES = {
    Action.CREATED: ("IssueCommentAdded", "added"),
    Action.RESTORED: ("IssueCommentAdded", "added"),
    Action.UPDATED: ("IssueCommentUpdated", "updated"),
    Action.DELETED: ("IssueCommentRemoved", "removed"),
}


@dataclass(frozen=True)
class ChangelogRequest:
    after: str | None  # the change id as given
    after_seq: int | None
    per_page: int
    fields: frozenset[str]
    types: frozenset[str]


def read_request(qp: QueryParams, org_id: int) -> ChangelogRequest:
    after = single(qp, "id")
    types = listed(qp, "type")
    unknown = sorted(types - CHANGE_TYPES)
    if unknown:
        raise bad_parameter("type", f"Unknown change type: {', '.join(unknown)}")
    return ChangelogRequest(
        after=after,
        after_seq=event_seq("id", after, org_id) if after is not None else None,
        per_page=per_page(qp),
        fields=listed(qp, "field"),
        types=types,
    )


@dataclass(frozen=True)
class Change:
    """One changelog entry before rendering: the event and what it is for this issue."""

    event: Event
    type: str
    comment_list: str | None  # added / updated / removed, for comment events


def read_changes(
    reader: Reader, history: EventQuery, task_id: int, asked: ChangelogRequest
) -> tuple[list[Change], bool]:
    """Up to perPage changes after `asked.after` that pass the filters, and whether more do."""
    start = asked.after_seq - 1 if asked.after_seq is not None else None
    # Events of subtasks are skipped, so a chunk may hold fewer changes than it has rows.
    chunk = max(asked.per_page + 2, 100)
    events = reader.iter_events(replace(history, ascending=True, after_seq=start), chunk=chunk)
    if asked.after_seq is not None:
        pruned(reader, asked.after_seq, True)
        first = next(events, None)
        if first is None or first.seq != asked.after_seq:
            raise unknown_event(asked.after or "")
    found: list[Change] = []
    for change in _changes(events, task_id):
        if asked.types and change.type not in asked.types:
            continue
        if asked.fields and not asked.fields & set(_field_ids(change)):
            continue
        if len(found) == asked.per_page:
            return found, True
        found.append(change)
    return found, False


def _changes(events: Iterator[Event], task_id: int) -> Iterator[Change]:
    for event in events:
        if event.subject_type is EntityType.TASK and event.subject_id == task_id:
            yield Change(event, _task_change_type(event), None)
        elif event.subject_type is EntityType.COMMENT:
            now_here = subject_task(event) == task_id
            was_here = (event.before or {}).get("task") == task_id
            if not (now_here or was_here):
                continue  # a comment on a subtask
            kind, listed = COMMENT_TYPES.get(event.action, COMMENT_TYPES[Action.UPDATED])
            if not now_here:
                kind, listed = COMMENT_TYPES[Action.DELETED]
            elif not was_here and event.action is Action.UPDATED:
                kind, listed = COMMENT_TYPES[Action.CREATED]
            yield Change(event, kind, listed)


def _task_change_type(event: Event) -> str:
    if event.action is Action.CREATED:
        return "IssueCreated"
    if event.action in (Action.CLOSED, Action.REOPENED):
        return "IssueWorkflow"
    changed = {str(c["field"]) for c in event.changes}
    if changed & LOCATION_FIELDS:
        return "IssueMoved"
    if "status" in changed:
        return "IssueWorkflow"
    return "IssueUpdated"


def _field_ids(change: Change) -> list[str]:
    event = change.event
    if change.comment_list is not None:
        return []
    if event.action in (Action.DELETED, Action.RESTORED):
        return [DELETED.id]
    return [tracker_field(EntityType.TASK, str(c["field"])).id for c in event.changes]


# -- rendering ---------------------------------------------------------------------------


def referenced_ids(changes: list[Change]) -> set[int]:
    """Users and entities the changes name, whole sets included (from/to are whole values)."""
    ids: set[int] = set()
    for change in changes:
        event = change.event
        for state in (event.before or {}, event.after or {}):
            for name in ("assignee", "project", "parent"):
                if isinstance(state.get(name), int):
                    ids.add(state[name])
            ids.update(v for v in state.get("followers") or () if isinstance(v, int))
    return ids


def render_change(change: Change, task_id: int, ctx: Context) -> Json:
    event = change.event
    key = issue_key(task_id)
    change_id = event_hex_id(event)
    actor = author(ctx.links, event.actor)
    out: Json = {
        "id": change_id,
        "self": ctx.links.api(f"issues/{key}/changelog/{change_id}"),
        "issue": issue_ref(ctx, task_id),
        "updatedAt": tracker_date(event.occurred_at),
        "updatedBy": actor,
        "type": change.type,
        "transport": transport(event),
        "fields": [] if change.comment_list else _fields(event, ctx),
    }
    if change.comment_list is not None:
        state = event.after or event.before or {}
        comment = {
            "self": ctx.links.api(f"issues/{key}/comments/{event.subject_id}"),
            "id": str(event.subject_id),
            "display": state.get("text") or "",
        }
        out["comments"] = {change.comment_list: [comment]}
    return out


def _fields(event: Event, ctx: Context) -> list[Json]:
    if event.action in (Action.DELETED, Action.RESTORED):
        deleted = event.action is Action.DELETED
        return [_entry(ctx, DELETED.id, DELETED.name(ctx.lang), not deleted, deleted)]
    before, after = event.before or {}, event.after or {}
    out = []
    for change in event.changes:
        name = str(change["field"])
        field = tracker_field(EntityType.TASK, name)
        if "added" in change or "removed" in change:
            old, new = before.get(name), after.get(name)
        else:
            old, new = change.get("old"), change.get("new")
        old, new = _value(name, old, ctx), _value(name, new, ctx)
        if old != new:  # not between two empty values (no priority → "none")
            out.append(_entry(ctx, field.id, field.name(ctx.lang), old, new))
    return out


def _entry(ctx: Context, field_id: str, display: str, old: Any, new: Any) -> Json:
    field = {"self": ctx.links.api(f"fields/{field_id}"), "id": field_id, "display": display}
    return {"field": field, "from": old, "to": new}


def _value(name: str, value: Any, ctx: Context) -> Any:
    """A task field's value as Tracker's changelog gives it (None for an empty value)."""
    spec = ENTITY_SPECS[EntityType.TASK].fields.get(name)
    if spec is None:  # a custom field: as it was given
        return value
    if name in ("completed", "status", "priority"):
        return choice_ref(name, value, ctx.lang)
    if value is None or value == "" or value == []:
        return None
    if name == "project":
        return entity_ref(ctx, value)
    if name == "parent":
        return issue_ref(ctx, value)
    if spec.ref is EntityType.USER:
        if spec.multi:
            return [user_ref(ctx.links, u, ctx.name(u)) for u in value]
        return user_ref(ctx.links, value, ctx.name(value))
    if spec.kind is FieldKind.DATETIME:
        return tracker_date(datetime_to_micros(parse_datetime(value)))
    return value


def link_header(
    ctx: Context, task_id: int, asked: ChangelogRequest, last: str | None, has_more: bool
) -> str:
    """Tracker's paging links: the first page, and the next while more changes follow."""
    base = ctx.links.api(f"issues/{issue_key(task_id)}/changelog")
    filters = [("field", f) for f in sorted(asked.fields)] + [
        ("type", t) for t in sorted(asked.types)
    ]
    first = urlencode([("perPage", asked.per_page), *filters])
    links = [f'<{base}?{first}>; rel="first"']
    if has_more and last is not None:
        following = urlencode([("id", last), ("perPage", asked.per_page), *filters])
        links.append(f'<{base}?{following}>; rel="next"')
    return ", ".join(links)


# what the OpenAPI document says of the changelog's parameters
PARAMETERS = (
    query("id", EVENT_ID, "the change to start after"),
    PER_PAGE,
    oa_listed("field", {"type": "string"}, "only changes of these fields"),
    oa_listed("type", {"enum": sorted(CHANGE_TYPES)}, "only changes of these types"),
)
