"""Worksection's `get_events` at Worksection's own paths, and on the admin paths its
webhook actions (add_webhook, get_webhooks, delete_webhook: webhooks.py).

    GET|POST /api/admin/v2/?action=get_events&period=3d[&id_project=P]&hash=...
    GET|POST /api/admin/v2?action=get_events            (official SDK: JSON body, Admin header)
    GET|POST /api/admin/v2.1?action=get_events&...&time=T&hash=...
    GET|POST /api/oauth2?action=get_events&...           (Bearer token or access_token)

Every path is registered with and without its trailing slash, so no client is ever
answered with a redirect. `period` is 1m..360m, 1h..72h or 1d..30d and the window is
(now - period, now]. The answer holds every matching event, oldest first, in one response;
like Worksection it is capped at MAX_EVENTS, keeping the newest.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ...errors import NotFound, Pruned
from ...model import EntityType, Event, EventQuery, Scope
from ...query import Reader
from ...web.openapi import content, parameters, query
from ...web.services import Services, services_of
from .. import kit
from .auth import admin_org_id, oauth_principal
from .errors import (
    ERROR_SCHEMA,
    FIELD_REQUIRED,
    WorksectionError,
    client_error,
    field_required,
    invalid_action,
    invalid_project,
    json_response,
    too_many_requests,
)
from .params import Params, query_params, read_params
from .render import (
    OBJECT_TYPES,
    RenderContext,
    referenced_users,
    render_event,
    renders,
    time_zone,
)
from .webhooks import ACTIONS as WEBHOOK_ACTIONS
from .webhooks import webhook_action

ADMIN_PATHS = ("/api/admin/v2/", "/api/admin/v2", "/api/admin/v2.1", "/api/admin/v2.1/")
OAUTH_PATHS = ("/api/oauth2", "/api/oauth2/")
MAX_EVENTS = 10_000  # Worksection's cap on one response
ACTION = "get_events"
_PERIOD = re.compile(r"([1-9][0-9]{0,5})([mhd])")
_PERIOD_UNITS = {"m": (60, 360), "h": (3600, 72), "d": (86400, 30)}  # seconds, most allowed
RATE_SCOPE = "worksection"

router = APIRouter(tags=["worksection"])


async def admin_api(request: Request) -> Response:
    params = await read_params(request)
    services = services_of(request)
    org_id = await run_in_threadpool(_admin_org, services, request, params)
    reader = services.whole_reader(org_id)
    if params.get("action") in WEBHOOK_ACTIONS:
        return await webhook_action(services, reader, params)
    return await run_in_threadpool(get_events, services, reader, params)


async def oauth_api(request: Request) -> Response:
    services = services_of(request)
    try:
        params = await read_params(request)
    except WorksectionError:
        # who asks comes first: without a valid token (in the header or the query string,
        # the body being unreadable) a client learns nothing of what is wrong with its body
        await run_in_threadpool(oauth_principal, services, request, query_params(request))
        raise
    return await run_in_threadpool(_oauth_events, services, request, params)


def _admin_org(services: Services, request: Request, params: Params) -> int:
    """The organization whose admin API key signed the request, within its rate limit."""
    authorization = request.headers.get("authorization", "")
    now = kit.now(services) / 1_000_000
    try:
        org_id = admin_org_id(services.admin_keys(), params, authorization, now)
    except WorksectionError as exc:  # every way a signature fails
        raise services.refuse_authentication(exc) from None
    kit.admit(services, RATE_SCOPE, f"org:{org_id}", too_many_requests)
    return org_id


def _oauth_events(services: Services, request: Request, params: Params) -> Response:
    principal = oauth_principal(services, request, params)
    kit.admit(services, RATE_SCOPE, f"token:{principal.token_id}", too_many_requests)
    return get_events(services, services.reader(principal), params)


def get_events(services: Services, reader: Reader, params: Params) -> Response:
    """The action itself, as the organization's owner (admin API) or a token's user."""
    if params.get("action") != ACTION:
        raise invalid_action("action")
    seconds = period_seconds(params.get("period"))
    now = kit.now(services)
    query = EventQuery(
        org_id=reader.org_id,
        scope=_project_scope(reader, params.get("id_project")),
        subject_types=tuple(t.value for t in OBJECT_TYPES),
        occurred_from=now - seconds * 1_000_000 + 1,
        occurred_to=now + 1,
    )
    try:  # a period reaching events retention removed: code 10 on period, as out of range
        reader.check_window(now - seconds * 1_000_000 + 1)
    except Pruned as exc:
        raise client_error(FIELD_REQUIRED, "Field is required", f"period: {exc.detail}") from exc
    events = newest_events(reader, query, MAX_EVENTS)
    ctx = RenderContext(
        tz=time_zone(reader.organization().state.get("timezone")),
        users=reader.names(referenced_users(events)),
    )
    body = {"status": "ok", "data": [render_event(e, ctx) for e in events]}
    return json_response(body)


def period_seconds(raw: str | None) -> int:
    """The length of a `period` (1m..360m, 1h..72h, 1d..30d) in seconds, else code 10."""
    match = _PERIOD.fullmatch(raw or "")
    if match is None:
        raise field_required("period")
    unit, most = _PERIOD_UNITS[match[2]]
    count = int(match[1])
    if count > most:
        raise field_required("period")
    return count * unit


def newest_events(reader: Reader, query: EventQuery, cap: int) -> list[Event]:
    """The newest `cap` events with a Worksection counterpart, oldest first."""
    picked: list[Event] = []
    for event in reader.iter_events(replace(query, ascending=False)):
        if renders(event):
            picked.append(event)
            if len(picked) >= cap:
                break
    # Ingest may record events that occurred earlier than ones already committed;
    # Worksection lists by date.
    picked.sort(key=lambda e: (e.occurred_at, e.seq))
    return picked


def _project_scope(reader: Reader, raw: str | None) -> Scope | None:
    """`id_project` as a scope (the project with its tasks and comments), else code 4."""
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise invalid_project()
    try:
        project = reader.entity(int(raw), EntityType.PROJECT)
    except NotFound:
        raise invalid_project()
    return Scope(EntityType.PROJECT, project.id)


_SUMMARY = "Worksection get_events"
_DESCRIPTION = (
    "Worksection-compatible event history: action=get_events, period (1m..360m, 1h..72h, "
    "1d..30d), optional id_project. Parameters in the query string or a form/JSON body."
)
_ADMIN_DESCRIPTION = (
    " The admin API also manages Worksection webhooks: action=add_webhook (url, events, "
    "optional projects, http_user, http_pass), action=get_webhooks, action=delete_webhook "
    "(id). Signed with the organization's admin API key."
)
# Worksection answers a mistake in an action's parameters with HTTP 200 and its error
# envelope, so every value of these parameters is "accepted": they are documented as
# plain strings, with the values that make an action in their descriptions.
_EVENT_PARAMETERS = (
    query("period", {"type": "string"}, "1m..360m, 1h..72h or 1d..30d"),
    query("id_project", {"type": "string"}, "a project id: its events and its tasks'"),
)
_PARAMETERS = (query("action", {"type": "string"}, "get_events"), *_EVENT_PARAMETERS)
_ADMIN_PARAMETERS = (
    query(
        "action",
        {"type": "string"},
        "get_events, add_webhook, get_webhooks or delete_webhook",
    ),
    *_EVENT_PARAMETERS,
    query("url", {"type": "string"}, "add_webhook: where deliveries go"),
    query(
        "events",
        {"type": "string"},
        "add_webhook: comma-separated, of post_task, post_comment, post_project, "
        "update_task, update_comment, update_project, delete_task, delete_comment, "
        "close_task, reopen_task",
    ),
    query("projects", {"type": "string"}, "add_webhook: comma-separated project ids"),
    query("http_user", {"type": "string"}, "add_webhook: HTTP Basic auth user"),
    query("http_pass", {"type": "string"}, "add_webhook: HTTP Basic auth password"),
    query("id", {"type": "string"}, "delete_webhook: the webhook's id"),
    query("hash", {"type": "string"}, "the request's signature with the admin API key"),
    query("time", {"type": "string"}, "the Unix time the v2.1 signature covers"),
)
_BODY = {
    "required": False,
    "content": content(
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/json",
        schema={},
    ),
}
_EVENTS = {
    "type": "object",
    "required": ["status", "data"],
    "properties": {"status": {"const": "ok"}, "data": {"type": "array"}},
}
_ADMIN_OK = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"const": "ok"},
        "data": {"type": "array"},  # get_events, get_webhooks
        "id": {"type": "integer"},  # add_webhook
    },
}
_RESPONSES: dict[int | str, Any] = {
    200: {
        "description": "the events, or Worksection's error envelope for a mistake in them",
        "content": content("application/json", schema={"oneOf": [_EVENTS, ERROR_SCHEMA]}),
    }
}
_ADMIN_RESPONSES: dict[int | str, Any] = {
    200: {
        "description": "the action's answer, or Worksection's error envelope for a mistake",
        "content": content("application/json", schema={"oneOf": [_ADMIN_OK, ERROR_SCHEMA]}),
    }
}


def _extra(method: str, params: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    extra = parameters(*params)
    return {**extra, "requestBody": _BODY} if method == "POST" else extra


# One route per path and method: a route serving two methods would give both operations
# the same OpenAPI id.
for _method in ("GET", "POST"):
    for _path in ADMIN_PATHS:
        router.add_api_route(
            _path,
            admin_api,
            methods=[_method],
            name=f"worksection_admin_{_method.lower()}",
            summary=f"{_SUMMARY} and webhooks (admin API key)",
            description=_DESCRIPTION + _ADMIN_DESCRIPTION,
            include_in_schema=_path in ("/api/admin/v2/", "/api/admin/v2.1"),
            openapi_extra=_extra(_method, _ADMIN_PARAMETERS),
            responses=_ADMIN_RESPONSES,
        )
    for _path in OAUTH_PATHS:
        router.add_api_route(
            _path,
            oauth_api,
            methods=[_method],
            name=f"worksection_oauth_{_method.lower()}",
            summary=f"{_SUMMARY} (API token)",
            description=_DESCRIPTION + " Authorized with a worktrail API token as Bearer.",
            include_in_schema=_path == "/api/oauth2",
            openapi_extra=_extra(
                _method, (*_PARAMETERS, query("access_token", {"type": "string"}, "or Bearer"))
            ),
            responses=_RESPONSES,
        )
