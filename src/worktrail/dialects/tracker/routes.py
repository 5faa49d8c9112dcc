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

from dataclasses import replace

from fastapi import Request
from starlette.responses import Response

from ...api.deps import ServicesDep
from ...auth import visible_workspaces
from ...model import EntityType, Scope
from ...query import EventQuery, run_query
from ...store import EntityRow, Store
from . import changelog
from .access import (
    TrackerPrincipal,
    entity_type,
    event_hex_id,
    readable_entity,
    readable_task,
)
from .errors import json_response
from .paths import tracker_get
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


def lifetime(store: Store, entity: EntityRow) -> Lifetime:
    """Who created the entity, when, and when it last changed, from its own first and last
    events: they say when the changes happened (the entity row, when they were recorded)."""
    own = EventQuery(entity.org_id, scope=Scope(entity.type, entity.id), descendants=False, limit=1)
    first = run_query(store, replace(own, ascending=True)).events
    last = run_query(store, own).events
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
)
def get_entity(
    kind: str,
    entity_id: str,
    request: Request,
    services: ServicesDep,
    principal: TrackerPrincipal,
) -> Response:
    entity = readable_entity(services, principal, entity_type(kind), entity_id)
    store = services.store
    ctx = Context.load(
        request, services.settings, store, principal.org_id, entity_references(entity)
    )
    body = render_entity(entity, lifetime(store, entity), ctx)
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
)
def entity_events(
    kind: str,
    entity_id: str,
    request: Request,
    services: ServicesDep,
    principal: TrackerPrincipal,
) -> Response:
    entity = readable_entity(services, principal, entity_type(kind), entity_id)
    asked = read_request(request.query_params, principal.org_id)
    store = services.store
    history = EventQuery(
        principal.org_id,
        scope=Scope(entity.type, entity.id),
        visible_workspaces=visible_workspaces(store, principal),
    )
    window = read_window(store, history, asked)
    ctx = Context.load(
        request, services.settings, store, principal.org_id, referenced_ids(window.events)
    )
    return json_response(
        {
            "events": [render_event(e, ctx) for e in window.events],
            "hasNext": window.has_next,
            "hasPrev": window.has_prev,
        }
    )


@tracker_get("/issues/{key}", "get a task as an issue", "`key`: TASK-<id>, <id> or the 24-hex id.")
def get_issue(
    key: str, request: Request, services: ServicesDep, principal: TrackerPrincipal
) -> Response:
    task = readable_task(services, principal, key)
    store = services.store
    ctx = Context.load(request, services.settings, store, principal.org_id, entity_references(task))
    return json_response(render_issue(task, lifetime(store, task), ctx))


def issue_changelog(
    key: str, request: Request, services: ServicesDep, principal: TrackerPrincipal
) -> Response:
    task = readable_task(services, principal, key)
    asked = changelog.read_request(request.query_params, principal.org_id)
    store = services.store
    history = EventQuery(
        principal.org_id,
        scope=Scope(EntityType.TASK, task.id),
        subject_types=(EntityType.TASK.value, EntityType.COMMENT.value),
        visible_workspaces=visible_workspaces(store, principal),
    )
    changes, has_more = changelog.read_changes(store, history, task.id, asked)
    ids = changelog.referenced_ids(changes) | referenced_ids(c.event for c in changes)
    ctx = Context.load(request, services.settings, store, principal.org_id, ids | {task.id})
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
tracker_get("/issues/{key}/changelog", "issue changelog", CHANGELOG_HELP)(issue_changelog)
tracker_get("/issues/{key}/changelog/", "issue changelog", CHANGELOG_HELP)(issue_changelog)
