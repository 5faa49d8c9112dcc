"""Asana's webhooks at Asana's own paths (owners and admins of the organization).

    POST   /api/1.0/webhooks                {"data": {"resource", "target", "filters"?}}
                                            → 201 {"data": webhook, "X-Hook-Secret": …}
    GET    /api/1.0/webhooks?workspace=GID[&resource=GID][&limit=N][&offset=…]
    GET    /api/1.0/webhooks/{webhook_gid}
    PUT    /api/1.0/webhooks/{webhook_gid}  {"data": {"filters": [...]}}
    DELETE /api/1.0/webhooks/{webhook_gid}

A webhook watches a workspace, a project or a task, with what lies in it; it is a `webhook`
subscription of kind "asana" whose native filter is the resource's scope (so dispatch only
looks at its events) and whose options hold the resource and Asana's filters. Creation
waits for the handshake (handshake.py); deliveries go out in Asana's style (hook_style.py).
`opt_fields` and `opt_pretty` work as on Asana's other routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ...auth import Principal, check_admin
from ...delivery.filters import check_filter
from ...diff import micros_to_iso
from ...errors import InvalidInput, NotFound
from ...model import EntityRow, EntityType, Scope
from ...query import Reader
from ...web.deps import PrincipalDep, ReaderDep, ServicesDep
from ...web.jsonbody import json_object
from .. import kit
from . import hook_docs as docs
from .errors import bad_request, forbidden, json_response, too_many_requests, unknown_object
from .fields import FieldTree, parse_opt_fields, select
from .handshake import checked_target, handshake, handshake_seconds, new_secret
from .hook_filters import check_filters
from .hook_style import FAILING_FOR, KIND
from .params import flag, locate, parse_gid, single
from .render import RESOURCE_TYPES, compact
from .routes import RATE_SCOPE

router = APIRouter(prefix="/api/1.0", tags=["asana"])

WATCHABLE = (EntityType.WORKSPACE, EntityType.PROJECT, EntityType.TASK)
RESOURCE_HELP = "A webhook watches a workspace, a project or a task: give its gid."
MAX_PAGE = 100
SCAN = 200  # subscriptions read at a time while a page of Asana webhooks is gathered


def admin(services: ServicesDep, principal: PrincipalDep) -> Principal:
    """The principal, counted against the dialect's rate limit and an owner or admin."""
    kit.admit(services, RATE_SCOPE, f"token:{principal.token_id}", too_many_requests)
    check_admin(principal)
    return principal


@dataclass(frozen=True)
class Output:
    """How the client wants webhooks shown: `opt_fields` and `opt_pretty`."""

    fields: FieldTree | None
    pretty: bool

    @classmethod
    def of(cls, request: Request) -> Output:
        qp = request.query_params
        return cls(parse_opt_fields(qp.getlist("opt_fields")), flag(qp, "opt_pretty"))

    def respond(self, data: Any, status: int = 200, **extra: Any) -> Response:
        shown = data if self.fields is None or not data else select(data, self.fields)
        return json_response({"data": shown, **extra}, status, pretty=self.pretty)


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object of the request; what is wrong with it, in Asana's 400."""
    try:
        return await json_object(request)
    except InvalidInput as exc:
        raise bad_request(f"data: {exc.detail}")


Admin = Annotated[Principal, Depends(admin)]
Shown = Annotated[Output, Depends(Output.of)]
Body = Annotated[dict[str, Any], Depends(json_body)]


def request_data(
    body: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...]
) -> dict[str, Any]:
    """The `data` object of an Asana request body: only `allowed` keys, `required` ones
    given (and not null)."""
    unknown = sorted(set(body) - {"data"})
    if unknown:
        raise bad_request(f'{unknown[0]}: Unknown field; send the webhook in "data"')
    data = body.get("data")
    if not isinstance(data, dict):
        raise bad_request("data: Missing input" if data is None else "data: Must be an object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise bad_request(f"{unknown[0]}: Unknown field; give {', '.join(allowed)}")
    for key in required:
        if data.get(key) is None:
            raise bad_request(f"{key}: Missing input")
    return data


def watched(reader: Reader, gid: object) -> EntityRow:
    """The workspace, project or task a new webhook is to watch."""
    entity, hidden = locate(reader, "resource", gid, RESOURCE_HELP)
    if entity.deleted:
        raise unknown_object("resource", str(gid))
    if entity.type not in WATCHABLE:
        raise bad_request(
            f"resource: {gid} is a {entity.type.value}; webhooks watch workspaces, projects "
            "and tasks",
            RESOURCE_HELP,
        )
    if hidden:
        raise forbidden(str(gid))
    return entity


def asana_webhook(reader: Reader, gid: str) -> EntityRow:
    """The live Asana webhook `gid` names (others, native ones too, are unknown here)."""
    try:
        entity = reader.webhook(parse_gid("webhook", gid))
    except NotFound:
        raise unknown_object("webhook", gid)
    if entity.deleted or entity.state.get("kind") != KIND:
        raise unknown_object("webhook", gid)
    return entity


# -- rendering -----------------------------------------------------------------------------


def _iso(micros: int | None) -> str | None:
    return None if micros is None else micros_to_iso(micros, "milliseconds")


def webhooks_json(reader: Reader, rows: list[EntityRow]) -> list[dict[str, Any]]:
    """Asana's WebhookResponse of each subscription, with where its delivery stands."""
    ids = [r.id for r in rows]
    cursors, owed = reader.webhook_cursors(ids), reader.webhook_owed(ids)
    resources = reader.names(int(r.state["options"]["resource"]) for r in rows)
    out = []
    for row in rows:
        options, cursor = row.state["options"], cursors.get(row.id)
        resource = resources.get(int(options["resource"]))
        retries = cursor.consecutive_failures if cursor is not None else 0
        pending = owed.get(row.id)
        out.append(
            {
                "gid": str(row.id),
                "resource_type": "webhook",
                "active": row.state.get("status") == "active" and not row.deleted,
                "resource": compact(resource.type, resource.id, resource.state)
                if resource is not None
                else {"gid": options["resource"], "resource_type": options["resource_type"]},
                "target": row.state["url"],
                "created_at": _iso(row.created_at),
                "last_success_at": _iso(cursor.last_success_at if cursor else None),
                "last_failure_at": _iso(cursor.last_failure_at if cursor else None),
                "last_failure_content": cursor.last_failure if cursor else None,
                "delivery_retry_count": retries,
                "next_attempt_after": _iso(pending[1]) if pending and retries else None,
                "failure_deletion_timestamp": _iso(
                    cursor.failing_since + FAILING_FOR
                    if cursor is not None and cursor.failing_since is not None
                    else None
                ),
                "filters": options.get("filters") or [],
            }
        )
    return out


# -- routes --------------------------------------------------------------------------------


@router.post(
    "/webhooks",
    status_code=201,
    summary="Asana: establish a webhook",
    description=docs.CREATE,
    openapi_extra=docs.create_extra(),
    responses=docs.created(),
)
async def create_webhook(
    request: Request,
    principal: Admin,
    shown: Shown,
    body: Body,
    services: ServicesDep,
    reader: ReaderDep,
) -> Response:
    data = request_data(body, ("resource", "target", "filters"), ("resource", "target"))
    resource = await run_in_threadpool(watched, reader, data["resource"])
    resource_type = RESOURCE_TYPES[resource.type]
    filters = check_filters(data.get("filters"), resource_type)
    allow_private = bool(services.settings.webhooks_allow_private)
    target = await run_in_threadpool(checked_target, data["target"], allow_private)
    secret = new_secret()
    seconds = handshake_seconds(services.settings.webhook_timeout_seconds)
    await handshake(target, secret, allow_private, seconds)
    values = {
        "kind": KIND,
        "url": target,
        "filter": check_filter({"scope": str(Scope(resource.type, resource.id))}),
        "options": {
            "resource": str(resource.id),
            "resource_type": resource_type,
            "filters": filters,
        },
        "signing": "hmac",
    }
    result = await run_in_threadpool(services.writer.create_webhook, principal, values, secret)
    (made,) = await run_in_threadpool(webhooks_json, reader, [result.entity])
    return shown.respond(made, 201, **{"X-Hook-Secret": secret})


@router.get(
    "/webhooks",
    summary="Asana: get multiple webhooks",
    openapi_extra=docs.list_extra(),
    responses=docs.listed(),
)
def get_webhooks(
    request: Request, _: Admin, shown: Shown, services: ServicesDep, reader: ReaderDep
) -> Response:
    qp = request.query_params
    within = _workspace(reader, single(qp, "workspace"))
    resource = single(qp, "resource")
    if resource is not None:
        locate(reader, "resource", resource, RESOURCE_HELP)
    limit, offset = _limit(single(qp, "limit")), _offset(single(qp, "offset"))
    rows, more = _gather(reader, within, resource, offset, limit)
    next_page = None
    if more:
        next_offset = str(rows[-1].id)
        params = [(k, v) for k, v in qp.multi_items() if k != "offset"]
        path = "/webhooks?" + urlencode([*params, ("offset", next_offset)])
        uri = kit.base_url(request, services) + "/api/1.0" + path
        next_page = {"offset": next_offset, "path": path, "uri": uri}
    return shown.respond(webhooks_json(reader, rows), next_page=next_page)


def _workspace(reader: Reader, gid: str | None) -> int | None:
    """The workspace whose webhooks are listed (None: the organization's gid, all)."""
    if gid is None:
        raise bad_request("workspace: Missing input", "Give the gid of a workspace.")
    entity, _ = locate(reader, "workspace", gid)
    if entity.type is EntityType.ORGANIZATION:
        return None
    if entity.type is not EntityType.WORKSPACE:
        raise bad_request(f"workspace: {gid} is a {entity.type.value}, not a workspace")
    return entity.id


def _limit(raw: str | None) -> int:
    if raw is None:
        return MAX_PAGE
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise bad_request(f"limit: Must be between 1 and {MAX_PAGE}; got {raw!r}")
    return int(raw)


def _offset(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise bad_request(
            f"offset: Not an offset of this list: {raw!r}",
            "Pass the offset of the previous page's next_page, or none for the first page.",
        )
    return int(raw)


def _gather(
    reader: Reader, workspace: int | None, resource: str | None, after: int | None, limit: int
) -> tuple[list[EntityRow], bool]:
    """The next `limit` Asana webhooks after `after` on resources in `workspace` (None:
    anywhere), on `resource` if one is named; and whether more follow."""
    found: list[EntityRow] = []
    while len(found) <= limit:
        rows, next_after = reader.webhooks(after, SCAN)
        mine = [r for r in rows if r.state.get("kind") == KIND]
        if resource is not None:
            mine = [r for r in mine if r.state["options"]["resource"] == resource]
        if workspace is not None:
            found += _in_workspace(reader, mine, workspace)
        else:
            found += mine
        if next_after is None:
            break
        after = next_after
    return found[:limit], len(found) > limit


def _in_workspace(reader: Reader, rows: list[EntityRow], workspace: int) -> list[EntityRow]:
    watched_ids = [int(r.state["options"]["resource"]) for r in rows]
    places = reader.workspaces_of(watched_ids)
    places.update({i: i for i in watched_ids if i == workspace})
    return [r for r, i in zip(rows, watched_ids, strict=True) if places.get(i) == workspace]


@router.get(
    "/webhooks/{webhook_gid}",
    summary="Asana: get a webhook",
    openapi_extra=docs.output_extra(),
    responses=docs.one("the webhook"),
)
def get_webhook(webhook_gid: str, _: Admin, shown: Shown, reader: ReaderDep) -> Response:
    (found,) = webhooks_json(reader, [asana_webhook(reader, webhook_gid)])
    return shown.respond(found)


@router.put(
    "/webhooks/{webhook_gid}",
    summary="Asana: update a webhook's filters",
    openapi_extra=docs.update_extra(),
    responses=docs.one("the webhook with its new filters"),
)
def update_webhook(
    webhook_gid: str,
    principal: Admin,
    shown: Shown,
    body: Body,
    services: ServicesDep,
    reader: ReaderDep,
) -> Response:
    entity = asana_webhook(reader, webhook_gid)
    data = request_data(body, ("filters",), ("filters",))
    options = entity.state["options"]
    filters = check_filters(data["filters"], options["resource_type"])
    values = {"options": {**options, "filters": filters}}
    result = services.writer.update_webhook(principal, entity.id, values)
    (updated,) = webhooks_json(reader, [result.entity])
    return shown.respond(updated)


@router.delete(
    "/webhooks/{webhook_gid}",
    summary="Asana: delete a webhook",
    openapi_extra=docs.output_extra(),
    responses=docs.deleted(),
)
def delete_webhook(
    webhook_gid: str, principal: Admin, shown: Shown, services: ServicesDep, reader: ReaderDep
) -> Response:
    entity = asana_webhook(reader, webhook_gid)
    services.writer.delete_webhook(principal, entity.id)
    return shown.respond({})
