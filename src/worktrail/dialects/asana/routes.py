"""Asana's event stream at Asana's own paths.

    GET /api/1.0/events?resource=GID[&sync=TOKEN][&limit=N][&opt_fields=...][&opt_pretty]
    GET /api/1.0/projects/{gid}/events?sync=...
    GET /api/1.0/tasks/{gid}/events?sync=...

The subscribed resource is a project or a task; its stream carries the events of the
resource and of everything in it (tasks, subtasks, comments). Without a sync token, or
with one that cannot continue, the answer is Asana's 412 with a fresh token that marks
"now"; with a token, the events since it, oldest first, at most 100 (or `limit`), a new
token and `has_more`. Parameters Asana clients may add that the stream has no use for are
ignored, as Asana does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response

from ...auth import Principal
from ...errors import Pruned
from ...model import EntityRow, EntityType, EventQuery, Scope
from ...query import Reader
from ...web.deps import PrincipalDep, ReaderDep, ServicesDep
from ...web.openapi import content, parameters, query
from ...web.services import Services
from .. import kit
from .errors import (
    ERROR_SCHEMA,
    bad_request,
    forbidden,
    json_response,
    sync_required,
    too_many_requests,
    unknown_object,
)
from .fields import FieldTree, parse_opt_fields, select
from .params import flag, locate, single
from .render import render_events
from .sync import SyncPosition, SyncTokens, read_page

MAX_LIMIT = 100  # Asana's cap on the events of one sync call
RATE_SCOPE = "asana"
SUBSCRIBABLE = (EntityType.PROJECT, EntityType.TASK)
RESOURCE_HELP = "Subscribe to a project or a task: resource=<gid>, or GET /projects/<gid>/events."

router = APIRouter(prefix="/api/1.0", tags=["asana"])


def sync_tokens(request: Request, services: Services) -> SyncTokens:
    """The app's token codec: the server secret under its own purpose, made once."""
    tokens: SyncTokens | None = getattr(request.app.state, "asana_sync_tokens", None)
    if tokens is None:
        tokens = SyncTokens(services.secret, services.settings.sync_token_ttl_hours)
        request.app.state.asana_sync_tokens = tokens
    return tokens


@dataclass(frozen=True)
class EventsRequest:
    """What an Asana client asked for, read and checked before anything is looked up."""

    gid: str
    sync: str | None
    limit: int
    fields: FieldTree | None
    pretty: bool


def read_request(
    qp: QueryParams, path_type: EntityType | None, path_gid: str | None
) -> EventsRequest:
    return EventsRequest(
        gid=_resource_gid(qp, path_type, path_gid),
        sync=single(qp, "sync") or None,
        limit=_limit(qp),
        fields=parse_opt_fields(qp.getlist("opt_fields")),
        pretty=flag(qp, "opt_pretty"),
    )


def events_response(
    request: Request,
    services: Services,
    principal: Principal,
    reader: Reader,
    path_type: EntityType | None = None,
    path_gid: str | None = None,
) -> Response:
    kit.admit(services, RATE_SCOPE, f"token:{principal.token_id}", too_many_requests)
    asked = read_request(request.query_params, path_type, path_gid)
    resource = _resource(reader, asked.gid, path_type)
    org_id = reader.org_id
    tokens = sync_tokens(request, services)
    start = tokens.read(asked.sync, org_id, resource.id) if asked.sync else None
    query = EventQuery(org_id=org_id, scope=Scope(resource.type, resource.id))
    page = None
    if start is not None and asked.sync is not None:
        # a token whose events retention removed cannot continue: 412 and a fresh token
        try:
            seen = start.seq - 1 if start.part else start.seq
            reader.check_position(seen, True, tokens.issued_at(asked.sync))
        except Pruned as exc:
            fresh = tokens.mint(org_id, resource.id, SyncPosition(reader.head()))
            raise sync_required(fresh, exc.detail) from exc
        page = read_page(
            reader, query, start, asked.limit, lambda events: render_events(reader, events)
        )
    if page is None:
        raise sync_required(tokens.mint(org_id, resource.id, SyncPosition(reader.head())))
    body = {
        "data": _project(page.events, asked.fields),
        "sync": tokens.mint(org_id, resource.id, page.position),
        "has_more": page.has_more,
    }
    return json_response(body, pretty=asked.pretty)


def _project(events: list[dict[str, Any]], fields: FieldTree | None) -> list[dict[str, Any]]:
    return events if fields is None else [select(e, fields) for e in events]


def _resource_gid(qp: QueryParams, path_type: EntityType | None, path_gid: str | None) -> str:
    given = single(qp, "resource")
    if path_gid is not None:
        assert path_type is not None
        if given is not None and given != path_gid:
            raise bad_request(
                f"resource: {given} differs from the {path_type.value} in the path, {path_gid}",
                RESOURCE_HELP,
            )
        return path_gid
    if not given:
        raise bad_request("resource: Missing input", RESOURCE_HELP)
    return given


def _limit(qp: QueryParams) -> int:
    """`limit` as Asana's clients send it (1..100); larger asks get Asana's cap of 100."""
    raw = single(qp, "limit")
    if raw is None:
        return MAX_LIMIT
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise bad_request(f"limit: Not a positive integer: {raw!r}")
    return min(int(raw), MAX_LIMIT)


def _resource(reader: Reader, gid: str, path_type: EntityType | None) -> EntityRow:
    """The subscribed project or task, readable by the principal."""
    name = path_type.value if path_type is not None else "resource"
    entity, hidden = locate(reader, name, gid, RESOURCE_HELP)
    if path_type is not None and entity.type is not path_type:
        raise unknown_object(name, gid)
    if entity.type not in SUBSCRIBABLE:
        raise bad_request(
            f"resource: {gid} is a {entity.type.value}; worktrail streams the events of "
            "tasks and projects only (with their subtasks and comments)",
            RESOURCE_HELP,
        )
    if hidden:
        raise forbidden(gid)
    return entity


EVENTS_PAGE = {
    "type": "object",
    "required": ["data", "sync", "has_more"],
    "properties": {
        "data": {"type": "array", "items": {"type": "object"}},
        "sync": {"type": "string"},
        "has_more": {"type": "boolean"},
    },
}
STREAM_PARAMETERS = (
    query("sync", {"type": "string"}, "the sync token of the previous call"),
    query("limit", {"type": "integer", "minimum": 1}, "at most this many events (100 at most)"),
    query(
        "opt_fields",
        {"type": "string", "pattern": r"^[A-Za-z0-9_., ]*$"},
        "comma-separated field paths to return",
    ),
    query("opt_pretty", {"enum": ["", "true", "false", "1", "0", "yes", "no"]}, "indent JSON"),
)
STREAM_RESPONSES: dict[int | str, Any] = {
    200: {
        "description": "the events since the token",
        "content": content("application/json", schema=EVENTS_PAGE),
    },
    412: {
        "description": "no sync token, or one that cannot continue: a fresh one in `sync`",
        "content": content("application/json", schema=ERROR_SCHEMA),
    },
}


@router.get(
    "/events",
    summary="Asana: get events on a resource",
    openapi_extra=parameters(
        query(
            "resource",
            {"type": "string", "pattern": "^[0-9]{1,19}$"},
            "a project or task gid",
            required=True,
        ),
        *STREAM_PARAMETERS,
    ),
    responses=STREAM_RESPONSES,
    description=(
        "Asana-compatible event stream of a project or a task (with its subtasks and "
        "comments). The first call answers 412 with a sync token; each later call returns "
        "the events since the token, at most 100, with a new `sync` and `has_more`."
    ),
)
def get_events(
    request: Request, services: ServicesDep, principal: PrincipalDep, reader: ReaderDep
) -> Response:
    return events_response(request, services, principal, reader)


@router.get(
    "/projects/{gid}/events",
    summary="Asana: get events on a project",
    openapi_extra=parameters(*STREAM_PARAMETERS),
    responses=STREAM_RESPONSES,
)
def get_project_events(
    gid: str, request: Request, services: ServicesDep, principal: PrincipalDep, reader: ReaderDep
) -> Response:
    return events_response(request, services, principal, reader, EntityType.PROJECT, gid)


@router.get(
    "/tasks/{gid}/events",
    summary="Asana: get events on a task",
    openapi_extra=parameters(*STREAM_PARAMETERS),
    responses=STREAM_RESPONSES,
)
def get_task_events(
    gid: str, request: Request, services: ServicesDep, principal: PrincipalDep, reader: ReaderDep
) -> Response:
    return events_response(request, services, principal, reader, EntityType.TASK, gid)
