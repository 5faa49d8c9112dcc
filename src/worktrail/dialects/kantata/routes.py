"""Kantata OX's Subscribed Events at Kantata's own paths.

    GET /api/v1/subscribed_events[.json]               the account's recent events
    GET /api/v1/subscribed_events/event_types[.json]   the event types and their fields

Only account administrators (worktrail owners and admins) may read them. The window is the
organization's `kantata_retention_days` (9, as Kantata's) back from now, on the time each
event was recorded (Kantata's `created_at`); older events stay in worktrail's store and in
its other APIs. Counts and the newest-event-per-subject filters are computed by the
database (Store.count_matching, EventQuery.newest_per_subject).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...auth import Principal
from ...errors import Pruned
from ...model import Event, EventQuery
from ...query import Reader
from ...web.deps import PrincipalDep, ReaderDep, ServicesDep
from ...web.openapi import content, parameters
from ...web.org_settings import choice_setting, int_setting, org_settings
from ...web.services import Services
from .. import kit
from .errors import forbidden, invalid, json_response, too_many_requests
from .mapping import KANTATA_TYPES, all_event_types, event_type_schemas
from .params import PARAMETERS, EventsRequest, read_request
from .render import (
    RESULT_KEY,
    page_meta,
    render_event,
    render_subject,
    subject_ref,
    zone_named,
)

DAY = 86_400_000_000
RATE_SCOPE = "kantata"

RETENTION_DAYS = int_setting(
    "kantata_retention_days",
    9,
    0,
    3650,
    "Days of history GET /api/v1/subscribed_events returns (Kantata keeps 9).",
)
PAYLOAD_ENCODING = choice_setting(
    "kantata_payload_encoding",
    "object",
    ("object", "string"),
    "Kantata payloads (previous_payload, current_payload, payload_changes) as JSON objects, "
    "or as strings holding JSON, as Kantata's Swagger contract types them.",
)

router = APIRouter(prefix="/api/v1", tags=["kantata"])


def admit(services: Services, principal: Principal) -> None:
    kit.admit(services, RATE_SCOPE, f"token:{principal.token_id}", too_many_requests)
    if not principal.is_admin:
        raise forbidden()


def account_zone(reader: Reader) -> ZoneInfo:
    return zone_named(str(reader.organization().state.get("timezone") or "UTC"))


def build_query(asked: EventsRequest, org_id: int, window_start: int) -> EventQuery:
    recorded_from = window_start
    if asked.created_after is not None:
        recorded_from = max(recorded_from, asked.created_after + 1)
    return EventQuery(
        org_id=org_id,
        # the subject types Kantata has a name for (never, say, a webhook's settings)
        subject_types=(asked.subject_type.value,)
        if asked.subject_type
        else tuple(sorted(t.value for t in KANTATA_TYPES)),
        subject_ids=asked.subject_ids,
        subject_actions=asked.subject_actions or (),
        actor_ids=asked.user_ids,
        seqs=asked.seqs or (),
        recorded_from=recorded_from,
        recorded_to=asked.created_before,
        ascending=asked.ascending,
        limit=asked.paging.size,
        offset=asked.paging.offset,
        newest_per_subject=asked.newest_per_subject,
    )


def events_response(
    request: Request, services: Services, principal: Principal, reader: Reader
) -> Response:
    admit(services, principal)
    org_id = reader.org_id
    settings = org_settings(reader)
    zone = account_zone(reader)
    asked = read_request(request.query_params, org_id, zone)
    window_start = kit.now(services) - int(settings[RETENTION_DAYS.name]) * DAY
    query = build_query(asked, org_id, window_start)
    try:  # a window reaching events retention removed: Kantata's 422 on created_after
        reader.check_window(query.recorded_from or window_start)
    except Pruned as exc:
        raise invalid(
            "created_after", f"reaches events that are no longer kept: {exc.detail}"
        ) from exc
    count, events = 0, []
    if not asked.matches_nothing:
        count = reader.count(query)
        if query.offset < count:
            events = reader.page(query).events
    as_strings = settings[PAYLOAD_ENCODING.name] == "string"
    refs: dict[int, dict[str, str] | None] = {}
    loaded: dict[str, dict[str, Any]] = {}
    if asked.include_subject:
        refs, loaded = _subjects(reader, events, zone)
    rendered = {
        str(e.id): render_event(
            e,
            zone,
            asked.optional_fields,
            as_strings,
            refs.get(e.subject_id) if asked.include_subject else False,
        )
        for e in events
    }
    body: dict[str, Any] = {
        "count": count,
        "meta": page_meta(count, asked.paging.size, asked.paging.page_number),
        "results": [{"key": RESULT_KEY, "id": str(e.id)} for e in events],
        RESULT_KEY: rendered,
        **loaded,
    }
    return json_response(body)


def _subjects(
    reader: Reader, events: list[Event], zone: ZoneInfo
) -> tuple[dict[int, dict[str, str] | None], dict[str, dict[str, Any]]]:
    """Each subject's ref (None once deleted) and the current state of the live ones,
    under their plural keys."""
    entities = reader.names(e.subject_id for e in events)
    refs = {e.subject_id: subject_ref(entities.get(e.subject_id)) for e in events}
    loaded: dict[str, dict[str, Any]] = {}
    for entity_id, ref in refs.items():
        if ref is not None:
            loaded.setdefault(ref["key"], {})[ref["id"]] = render_subject(entities[entity_id], zone)
    return refs, loaded


def event_types_response(services: Services, principal: Principal) -> Response:
    admit(services, principal)
    return json_response(
        {
            "subscribed_event_types": all_event_types(),
            "subscribed_event_type_schemas": event_type_schemas(),
        }
    )


SUMMARY = "Kantata: subscribed events"
DESCRIPTION = (
    "Kantata OX-compatible Subscribed Events (account administrators only): the events of "
    "the last `kantata_retention_days` (9) days, newest first, paged with page/per_page or "
    "limit/offset. Filters: created_after, created_before, event_types, most_recent, "
    "most_recent_by_event_type, only, subject_type, subject_id, user_ids; include=subject; "
    "optional_fields=previous_payload,current_payload,payload_changes; order."
)


EVENTS = {
    "type": "object",
    "required": ["count", "meta", "results", "subscribed_events"],
    "properties": {
        "count": {"type": "integer"},
        "meta": {"type": "object"},
        "results": {"type": "array", "items": {"type": "object"}},
        "subscribed_events": {"type": "object"},
    },
}


@router.get(
    "/subscribed_events",
    summary=SUMMARY,
    description=DESCRIPTION,
    openapi_extra=parameters(*PARAMETERS),
    responses={
        200: {
            "description": "a page of events",
            "content": content("application/json", schema=EVENTS),
        }
    },
)
def get_subscribed_events(
    request: Request, services: ServicesDep, principal: PrincipalDep, reader: ReaderDep
) -> Response:
    return events_response(request, services, principal, reader)


@router.get("/subscribed_events.json", include_in_schema=False)
def get_subscribed_events_json(
    request: Request, services: ServicesDep, principal: PrincipalDep, reader: ReaderDep
) -> Response:
    return events_response(request, services, principal, reader)


@router.get("/subscribed_events/event_types", summary="Kantata: subscribed event types")
def get_event_types(services: ServicesDep, principal: PrincipalDep) -> Response:
    return event_types_response(services, principal)


@router.get("/subscribed_events/event_types.json", include_in_schema=False)
def get_event_types_json(services: ServicesDep, principal: PrincipalDep) -> Response:
    return event_types_response(services, principal)
