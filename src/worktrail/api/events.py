"""GET /api/v1/events: the history, filtered, paged by keyset cursors, as JSON, NDJSON or CSV.

Every history read of the native API (the organization's, an entity's with its
descendants, the live feed) goes the same way: the request is parsed in full (no database
work), then the read door authorizes its scope and pages.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import orjson
from fastapi import APIRouter, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response

from ..config import Settings
from ..errors import BadRequest, NotFound
from ..model import Action, EntityType, EventQuery, Scope, split_event_id
from ..query import Reader, decode_cursor, encode_position
from ..web import params as p
from ..web.deps import ReaderDep, ServicesDep
from ..web.openapi import content, parameters
from ..web.render import event_json, events_page_json
from ..web.services import Services

# re-exported: `worktrail export` reads with the API's chunk size and read-ahead
from ..web.streaming import EXPORT_CHUNK as EXPORT_CHUNK
from ..web.streaming import read_ahead as read_ahead
from ..web.streaming import stream_events
from .schemas import EVENT, HISTORY_FILTERS, HISTORY_RESPONSES, SCOPE

router = APIRouter(prefix="/api/v1", tags=["events"])

QUERY_PARAMS = (
    "scope",
    "descendants",
    "subject_type",
    "action",
    "actor",
    "occurred_after",
    "occurred_before",
    "order",
    "limit",
    "cursor",
    "format",
)
# every event up to this seq was removed by the retention policy (0: none); also the JSON
# page's `pruned_through`
PRUNED_HEADER = "Worktrail-Pruned-Through"
FORMATS = {"json": "application/json", "ndjson": "application/x-ndjson", "csv": "text/csv"}


def negotiate(request: Request) -> str:
    """json, ndjson or csv: from ?format=, else from the Accept header."""
    explicit = p.single(request.query_params, "format")
    if explicit is not None:
        if explicit not in FORMATS:
            raise BadRequest(f"'format' must be one of {', '.join(FORMATS)}")
        return explicit
    accept = request.headers.get("accept", "")
    if "application/x-ndjson" in accept or "application/jsonl" in accept:
        return "ndjson"
    if "text/csv" in accept:
        return "csv"
    return "json"


@dataclass(frozen=True)
class HistoryRequest:
    """A native history request, parsed: the query (without its position), the cursor that
    continues it, the format, and whether the client named a page size."""

    query: EventQuery
    cursor: str | None
    format: str
    limited: bool


def parse_history_request(
    request: Request, services: Services, org_id: int, path_scope: Scope | None = None
) -> HistoryRequest:
    """Everything the client asked for, checked; no database work."""
    qp = request.query_params
    p.reject_unknown(qp, QUERY_PARAMS)
    fmt = negotiate(request)
    query = history_query(qp, services.settings, org_id, path_scope)
    return HistoryRequest(query, p.single(qp, "cursor") or None, fmt, "limit" in qp)


def history_query(
    qp: QueryParams, settings: Settings, org_id: int, path_scope: Scope | None = None
) -> EventQuery:
    """The filters, order and page size of a history request, checked, as an EventQuery.
    `worktrail export` reads its options through here too, so both select the same events
    and refuse the same values with the same words."""
    scope = p.scope_param(qp)
    order = p.single(qp, "order") or "newest"
    if order not in ("newest", "oldest"):
        raise BadRequest("'order' must be newest or oldest")
    limit = p.int_param(qp, "limit", settings.page_limit_default, 1, settings.page_limit_max)
    occurred_from = p.time_param(qp, "occurred_after")
    occurred_to = p.time_param(qp, "occurred_before")
    if occurred_from is not None and occurred_to is not None and occurred_from >= occurred_to:
        raise BadRequest("'occurred_after' must be earlier than 'occurred_before'")
    return EventQuery(
        org_id=org_id,
        scope=path_scope if path_scope is not None else scope,
        descendants=p.bool_param(qp, "descendants", True),
        subject_types=p.list_param(qp, "subject_type", [t.value for t in EntityType]),
        actions=p.list_param(qp, "action", [a.value for a in Action]),
        actor_ids=p.ids_param(qp, "actor"),
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        ascending=order == "oldest",
        limit=limit or settings.page_limit_default,
    )


def authorized_query(services: Services, reader: Reader, asked: HistoryRequest) -> EventQuery:
    """The query with its scope authorized and its cursor's position."""
    query = asked.query
    if query.scope is not None:
        reader.scope(query.scope)
    if asked.cursor:
        position, issued = decode_cursor(services.cursors, query, asked.cursor)
        reader.check_position(position, query.ascending, issued)
        query = replace(query, after_seq=position)
    return query


@router.get(
    "/events",
    summary="List events",
    openapi_extra=parameters(SCOPE, *HISTORY_FILTERS),
    responses=HISTORY_RESPONSES,
    description=(
        "Events newest first (order=oldest for ascending). Filters: scope=TYPE:ID (with its "
        "descendants unless descendants=false), subject_type, action, actor, occurred_after, "
        "occurred_before. Page with limit and the opaque next_cursor. JSON by default; "
        "NDJSON (Accept: application/x-ndjson) and CSV (Accept: text/csv) stream every "
        "matching event unless limit is given."
    ),
)
def list_events(request: Request, services: ServicesDep, reader: ReaderDep) -> Response:
    return events_response(request, services, reader)


def events_response(
    request: Request, services: Services, reader: Reader, path_scope: Scope | None = None
) -> Response:
    asked = parse_history_request(request, services, reader.org_id, path_scope)
    query = authorized_query(services, reader, asked)
    if asked.format != "json" and not asked.limited:
        chunks = read_ahead(reader.iter_stored(query, EXPORT_CHUNK))
        return stream_events(chunks, asked.format, {PRUNED_HEADER: str(reader.pruned_through())})
    page = reader.page_stored(query)
    next_cursor = None
    if page.position is not None and (page.has_more or query.ascending):
        next_cursor = encode_position(services.cursors, query, page.position)
    through = reader.pruned_through()
    headers = {"X-Has-More": "true" if page.has_more else "false", PRUNED_HEADER: str(through)}
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    if asked.format == "json":
        body = events_page_json(
            page.events,
            {"next_cursor": next_cursor, "has_more": page.has_more, "pruned_through": through},
        )
        return Response(body, media_type="application/json", headers=headers)
    return stream_events([page.events], asked.format, headers)


@router.get(
    "/events/{event_id}",
    summary="Get one event",
    responses={
        200: {"description": "the event", "content": content("application/json", schema=EVENT)}
    },
)
def get_event(event_id: str, reader: ReaderDep) -> Response:
    if not (event_id.isascii() and event_id.isdigit()) or len(event_id) > 19:
        raise NotFound(f"event {event_id} does not exist")
    org_id, seq = split_event_id(int(event_id))
    event = reader.event(seq) if org_id == reader.org_id else None
    if event is None:
        raise NotFound(f"event {event_id} does not exist")
    return Response(orjson.dumps(event_json(event)), media_type="application/json")
