"""Tracker's paths, each under /v2 and /v3 as Tracker serves them.

    GET /v2/entities/{project|portfolio}/{id}                  the entity (Tracker's shape)
    GET /v2/entities/{project|portfolio}/{id}/events/_relative its history, a window at a time
    GET /v2/issues/{key}                                       a task as an issue
    GET /v2/issues/{key}/changelog                             the task's changelog

and (lookups.py) what their `self` links point at: users, /v2/myself, fields.

Parameters Tracker clients may add that these reads have no use for (`expand`, the
official client's `_pyClientLocalMap…`) are ignored, as Tracker does.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from ...model import EntityRow, EntityType, EventQuery, Scope
from ...query import Reader
from ...web.deps import ServicesDep
from ...web.openapi import listed as oa_listed
from . import changelog
from .access import (
    TrackerReader,
    entity_type,
    event_hex_id,
    readable_entity,
    readable_task,
)
from .errors import json_response
from .paths import tracker_get
from .relative import PARAMETERS as RELATIVE_PARAMETERS
from .relative import listed, read_request, read_window
from .render import (
    Context,
    Lifetime,
    entity_references,
    referenced_ids,
    render_entity,
    render_event,
    render_issue,
)

ENTITY = {"type": "object", "required": ["self", "id"]}
WINDOW = {
    "type": "object",
    "required": ["events", "hasNext", "hasPrev"],
    "properties": {
        "events": {"type": "array", "items": {"type": "object"}},
        "hasNext": {"type": "boolean"},
        "hasPrev": {"type": "boolean"},
    },
}


def lifetime(reader: Reader, entity: EntityRow) -> Lifetime:
    """Who created the entity, when, and when it last changed, from its own first and last
    events: they say when the changes happened (the entity row, when they were recorded)."""
    first = reader.own_events(entity, ascending=True)
    last = reader.own_events(entity)
    return Lifetime(
        creator=first[0].actor if first else None,
        created_at=first[0].occurred_at if first else entity.created_at,
        updated_at=last[0].occurred_at if last else entity.updated_at,
    )


@tracker_get(
    "/entities/{kind}/{entity_id}",
    "get a project or portfolio",
    "A worktrail project (`project`) or workspace (`portfolio`) in Tracker's entity shape; "
    "`entity_id` is its 24-hex id or its numeric short id (the worktrail id).",
    params=(oa_listed("fields", {"type": "string"}, "only these fields"),),
    schema=ENTITY,
)
def get_entity(
    kind: str,
    entity_id: str,
    request: Request,
    services: ServicesDep,
    reader: TrackerReader,
) -> Response:
    entity = readable_entity(reader, entity_type(kind), entity_id)
    ctx = Context.load(request, services, reader, entity_references(entity))
    body = render_entity(entity, lifetime(reader, entity), ctx)
    wanted = listed(request.query_params, "fields")
    if wanted:
        body["fields"] = {k: v for k, v in body["fields"].items() if k in wanted}
    return json_response(body)


@tracker_get(
    "/entities/{kind}/{entity_id}/events/_relative",
    "entity event history",
    "The history of a project (with its tasks, subtasks and comments) or a portfolio (a "
    "workspace, with everything in it), a window at a time: perPage (1-1000, default 50), "
    "from or selected (an event id), newEventsOnTop, direction (forward/backward).",
    params=RELATIVE_PARAMETERS,
    schema=WINDOW,
)
def entity_events(
    kind: str,
    entity_id: str,
    request: Request,
    services: ServicesDep,
    reader: TrackerReader,
) -> Response:
    asked = read_request(request.query_params, reader.org_id)
    entity = readable_entity(reader, entity_type(kind), entity_id)
    history = EventQuery(reader.org_id, scope=Scope(entity.type, entity.id))
    window = read_window(reader, history, asked)
    ctx = Context.load(request, services, reader, referenced_ids(window.events))
    return json_response(
        {
            "events": [render_event(e, ctx) for e in window.events],
            "hasNext": window.has_next,
            "hasPrev": window.has_prev,
        }
    )


@tracker_get(
    "/issues/{key}",
    "get a task as an issue",
    "`key`: TASK-<id>, <id> or the 24-hex id.",
    schema=ENTITY,
)
def get_issue(key: str, request: Request, services: ServicesDep, reader: TrackerReader) -> Response:
    task = readable_task(reader, key)
    ctx = Context.load(request, services, reader, entity_references(task))
    return json_response(render_issue(task, lifetime(reader, task), ctx))


def issue_changelog(
    key: str, request: Request, services: ServicesDep, reader: TrackerReader
) -> Response:
    asked = changelog.read_request(request.query_params, reader.org_id)
    task = readable_task(reader, key)
    history = EventQuery(
        reader.org_id,
        scope=Scope(EntityType.TASK, task.id),
        subject_types=(EntityType.TASK.value, EntityType.COMMENT.value),
    )
    changes, has_more = changelog.read_changes(reader, history, task.id, asked)
    ids = changelog.referenced_ids(changes) | referenced_ids(c.event for c in changes)
    ctx = Context.load(request, services, reader, ids | {task.id})
    last = event_hex_id(changes[-1].event) if changes else None
    return json_response(
        [changelog.render_change(c, task.id, ctx) for c in changes],
        headers={"Link": changelog.link_header(ctx, task.id, asked, last, has_more)},
    )


CHANGELOG_HELP = (
    "The task's changes and those of its comments, oldest first: id (the change after which "
    "to start), perPage (default 50), field and type filters; paging by Link headers."
)
# The official client asks for the collection with a trailing slash.
for _path in ("/issues/{key}/changelog", "/issues/{key}/changelog/"):
    tracker_get(
        _path,
        "issue changelog",
        CHANGELOG_HELP,
        params=changelog.PARAMETERS,
        schema={"type": "array", "items": {"type": "object"}},
    )(issue_changelog)
