"""Webhook subscriptions of the native API (owners and admins; members and guests: 403).

    POST   /api/v1/webhooks                      {"url", "description"?, "filter"?, "signing"?}
                                                 → 201, with the secret (or public key) once
    GET    /api/v1/webhooks                      the subscriptions, keyset-paged by `after`
    GET    /api/v1/webhooks/{id}                 one, with where its delivery stands
    PATCH  /api/v1/webhooks/{id}                 url, description, filter, status active|paused
    DELETE /api/v1/webhooks/{id}                 no more deliveries
    POST   /api/v1/webhooks/{id}/rotate-secret   a new secret; the old one signs too for 24 h
    GET    /api/v1/webhooks/{id}/deliveries      the delivery log, an attempt a row, newest first
    POST   /api/v1/webhooks/{id}/replay          {"since": time} or {"cursor": …}: deliver again
    POST   /api/v1/webhooks/{id}/test            send a ping now and say what the endpoint answered

Deliveries are Standard Webhooks: the native event JSON of `GET /api/v1/events/{id}`,
signed (`webhook-signature: v1,…`, or `v1a,…` with an Ed25519 key for `"signing":
"ed25519"`). The filter takes the keys of `GET /api/v1/events`: scope, subject_type,
action, actor. A vendor's subscription (kind worksection, asana) is listed, paused,
resumed, replayed and deleted here too, but not rotated or pinged: 409.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..auth import check_admin
from ..delivery import signing
from ..delivery.client import DeliveryClient
from ..delivery.filters import to_query
from ..delivery.styles import ROTATION_OVERLAP, Subscription, message_id, signing_keys
from ..delivery.subscriptions import (
    SIGNINGS,
    UPDATE_KEYS,
    new_key,
    new_subscription,
    subscription_values,
)
from ..diff import micros_to_iso
from ..errors import Conflict, InvalidInput
from ..model import MAX_ID, Attempt, Cursor, EntityRow, Outcome, Secrets, event_id
from ..query import Reader, decode_position
from ..web import params as p
from ..web.deps import PrincipalDep, ReaderDep, ServicesDep
from ..web.jsonbody import json_object
from ..web.openapi import parameters, query
from ..web.services import Services
from .schemas import request_body

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

JsonObject = Annotated[dict[str, Any], Depends(json_object)]
WebhookId = Annotated[int, Path(ge=1, le=MAX_ID)]


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _iso(micros: int | None) -> str | None:
    return None if micros is None else micros_to_iso(micros)


def webhook_json(
    entity: EntityRow,
    cursor: Cursor | None,
    public_key: str | None,
    owed: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A subscription as the API shows it: its settings, where delivery stands, never its
    secret (shown once, on creation and rotation)."""
    state = entity.state
    out: dict[str, Any] = {
        "id": entity.id,
        "kind": state["kind"],
        "url": state["url"],
        "description": state.get("description"),
        "filter": state.get("filter") or {},
        "options": state.get("options") or {},
        "status": "deleted" if entity.deleted else state["status"],
        "disabled_reason": state.get("disabled_reason"),
        "signing": state.get("signing") or "hmac",
        "created_at": micros_to_iso(entity.created_at),
        "updated_at": micros_to_iso(entity.updated_at),
    }
    if public_key is not None:
        out["public_key"] = public_key
    if cursor is not None:
        out["delivery"] = {
            "position": cursor.position,
            "consecutive_failures": cursor.consecutive_failures,
            "last_success_at": _iso(cursor.last_success_at),
            "last_failure_at": _iso(cursor.last_failure_at),
            "last_failure": cursor.last_failure,
            "pending": owed[0] if owed else 0,
            "next_attempt_at": _iso(owed[1]) if owed else None,
        }
    return out


def _shown(reader: Reader, entity: EntityRow, secret: str | None = None) -> dict[str, Any]:
    cursor = reader.webhook_cursors([entity.id]).get(entity.id)
    key = secret or reader.webhook_secrets([entity.id]).get(entity.id, None)
    stored = key if isinstance(key, str) else key.secret if key is not None else None
    public = signing.public_key(stored) if stored and stored.startswith("whsk_") else None
    body = webhook_json(entity, cursor, public, reader.webhook_owed([entity.id]).get(entity.id))
    if secret is not None and not secret.startswith("whsk_"):
        body["secret"] = secret  # this once
    return body


def attempt_json(row: Attempt) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_id": None if row.seq is None else event_id(row.org_id, row.seq),
        "webhook_id": None if row.seq is None else message_id(row.org_id, row.webhook_id, row.seq),
        "attempt": row.attempt,
        "attempted_at": micros_to_iso(row.attempted_at),
        "status_code": row.status_code,
        "latency_ms": row.latency_ms,
        "error": row.error,
        "response_body": row.response_body,
        "next_attempt_at": _iso(row.next_attempt_at),
    }


def _private(services: Services) -> bool:
    return bool(services.settings.webhooks_allow_private)


# -- routes --------------------------------------------------------------------------------

WEBHOOK_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "url": {"type": "string", "format": "uri", "maxLength": 2000},
        "description": {"type": ["string", "null"], "maxLength": 1000},
        "filter": {"type": ["object", "null"]},
        "signing": {"enum": list(SIGNINGS)},
    },
}


@router.post(
    "",
    status_code=201,
    summary="Subscribe an endpoint (admins)",
    openapi_extra=request_body(WEBHOOK_BODY),
)
def create_webhook(
    principal: PrincipalDep, body: JsonObject, services: ServicesDep, reader: ReaderDep
) -> Response:
    check_admin(principal)
    values, secret = new_subscription(body, reader=reader, allow_private=_private(services))
    result = services.writer.create_webhook(principal, values, secret)
    return json_response({"data": _shown(reader, result.entity, secret)}, 201)


@router.get(
    "",
    summary="List webhook subscriptions (admins)",
    openapi_extra=parameters(
        query("after", {"type": "integer", "minimum": 0, "maximum": MAX_ID}, "next_after"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
        query("include_deleted", {"type": "boolean"}),
    ),
)
def list_webhooks(
    request: Request, services: ServicesDep, principal: PrincipalDep, reader: ReaderDep
) -> Response:
    check_admin(principal)
    qp = request.query_params
    p.reject_unknown(qp, ("after", "limit", "include_deleted"))
    limit = p.int_param(qp, "limit", 100, 1, services.settings.page_limit_max) or 100
    after = p.int_param(qp, "after", None, 0, MAX_ID)
    rows, next_after = reader.webhooks(after, limit, p.bool_param(qp, "include_deleted", False))
    ids = [r.id for r in rows]
    cursors, secrets, owed = (
        reader.webhook_cursors(ids),
        reader.webhook_secrets(ids),
        reader.webhook_owed(ids),
    )
    data = []
    for row in rows:
        stored = secrets[row.id].secret if row.id in secrets else ""
        public = signing.public_key(stored) if stored.startswith("whsk_") else None
        data.append(webhook_json(row, cursors.get(row.id), public, owed.get(row.id)))
    return json_response(
        {"data": data, "has_more": next_after is not None, "next_after": next_after}
    )


@router.get("/{webhook_id}", summary="Get a webhook subscription (admins)")
def get_webhook(webhook_id: WebhookId, principal: PrincipalDep, reader: ReaderDep) -> Response:
    check_admin(principal)
    return json_response({"data": _shown(reader, reader.webhook(webhook_id))})


@router.patch(
    "/{webhook_id}",
    summary="Change a webhook subscription, pause or resume it (admins)",
    openapi_extra=request_body(
        {
            **WEBHOOK_BODY,
            "required": [],
            "properties": {
                **{k: v for k, v in WEBHOOK_BODY["properties"].items() if k != "signing"},  # type: ignore[attr-defined]
                "status": {"enum": ["active", "paused"]},
            },
        }
    ),
)
def update_webhook(
    webhook_id: WebhookId,
    principal: PrincipalDep,
    body: JsonObject,
    services: ServicesDep,
    reader: ReaderDep,
) -> Response:
    check_admin(principal)
    values = subscription_values(body, UPDATE_KEYS, reader=reader, allow_private=_private(services))
    result = services.writer.update_webhook(principal, webhook_id, values)
    return json_response({"data": _shown(reader, result.entity)})


@router.delete("/{webhook_id}", summary="Delete a webhook subscription (admins)")
def delete_webhook(
    webhook_id: WebhookId, principal: PrincipalDep, services: ServicesDep, reader: ReaderDep
) -> Response:
    check_admin(principal)
    result = services.writer.delete_webhook(principal, webhook_id)
    return json_response({"data": _shown(reader, result.entity)})


@router.post("/{webhook_id}/rotate-secret", summary="Rotate a webhook's secret (admins)")
def rotate_secret(
    webhook_id: WebhookId, principal: PrincipalDep, services: ServicesDep, reader: ReaderDep
) -> Response:
    check_admin(principal)
    entity = reader.webhook(webhook_id)
    _signed_by_us(entity)
    secret = new_key(str(entity.state.get("signing") or "hmac"))
    keep_until = services.clock() + ROTATION_OVERLAP
    entity = services.writer.rotate_webhook_secret(principal, webhook_id, secret, keep_until)
    return json_response({"data": _shown(reader, entity, secret)})


@router.get(
    "/{webhook_id}/deliveries",
    summary="A webhook's delivery log (admins)",
    openapi_extra=parameters(
        query("before", {"type": "integer", "minimum": 1}, "next_before of the previous page"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
    ),
)
def deliveries(
    webhook_id: WebhookId,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    reader: ReaderDep,
) -> Response:
    check_admin(principal)
    qp = request.query_params
    p.reject_unknown(qp, ("before", "limit"))
    limit = p.int_param(qp, "limit", 100, 1, services.settings.page_limit_max) or 100
    before = p.int_param(qp, "before", None, 1, 2**63 - 1)
    reader.webhook(webhook_id)
    rows, next_before = reader.webhook_deliveries(webhook_id, before, limit)
    return json_response(
        {
            "data": [attempt_json(r) for r in rows],
            "has_more": next_before is not None,
            "next_before": next_before,
        }
    )


@router.post(
    "/{webhook_id}/replay",
    summary="Deliver again from a point in time or a cursor (admins)",
    openapi_extra=request_body(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "since": {"type": "string", "format": "date-time"},
                "cursor": {"type": "string"},
            },
            "minProperties": 1,
            "maxProperties": 1,
        }
    ),
)
def replay(
    webhook_id: WebhookId,
    principal: PrincipalDep,
    body: JsonObject,
    services: ServicesDep,
    reader: ReaderDep,
) -> Response:
    check_admin(principal)
    entity = reader.webhook(webhook_id)
    position = _replay_position(services, reader, entity, body)
    entity = services.writer.replay_webhook(principal, webhook_id, position)
    return json_response({"data": _shown(reader, entity), "replay_from": position + 1}, 202)


def _replay_position(
    services: Services, reader: Reader, entity: EntityRow, body: dict[str, Any]
) -> int:
    if sorted(body) not in (["since"], ["cursor"]):
        raise InvalidInput('send {"since": an ISO-8601 time} or {"cursor": a cursor}')
    if "since" in body:
        since = p.parse_time(body["since"], "since")
        return reader.position_before(since)
    cursor = body["cursor"]
    if not isinstance(cursor, str):
        raise InvalidInput("'cursor' must be a string", field="cursor")
    sub = Subscription.of(entity)
    events = replace(to_query(reader.org_id, sub.filter), ascending=True)
    return decode_position(services.cursors, events, cursor)


def _signed_by_us(entity: EntityRow) -> None:
    """Refuse what only a native subscription has: a vendor's subscription keeps what its
    vendor's deliveries need as its secret (Worksection: Basic-auth credentials), not a
    Standard Webhooks signing key, so it is neither rotated nor pinged here."""
    kind = str(entity.state.get("kind") or "native")
    if kind != "native":
        raise Conflict(
            f"webhook {entity.id} is a {kind} webhook: it has no signing secret to rotate or "
            f"to sign a ping with; manage it through the {kind} API"
        )


def _pinged(reader: Reader, webhook_id: int) -> tuple[Subscription, Secrets]:
    entity = reader.webhook(webhook_id)
    _signed_by_us(entity)
    sub = Subscription.of(entity)
    return sub, reader.webhook_secrets([webhook_id])[webhook_id]


@router.post("/{webhook_id}/test", summary="Send a ping to a webhook's endpoint now (admins)")
async def test_webhook(
    webhook_id: WebhookId, principal: PrincipalDep, services: ServicesDep, reader: ReaderDep
) -> Response:
    check_admin(principal)
    now = services.clock()
    sub, secrets = await run_in_threadpool(_pinged, reader, webhook_id)
    body = orjson.dumps({"type": "ping", "webhook": sub.id, "sent_at": micros_to_iso(now)})
    headers = signing.headers(
        signing_keys(secrets, now), f"ping_{sub.id}_{now}", now // 10**6, body
    )
    client = DeliveryClient(
        timeout=float(services.settings.webhook_timeout_seconds),
        allow_private=bool(services.settings.webhooks_allow_private),
    )
    try:
        answer = await client.post(sub.url, body, {**headers, "Content-Type": "application/json"})
    finally:
        await client.close()
    outcome = Outcome(
        sub.org_id, sub.id, None, 0, 1, now, answer.status, answer.latency_ms, answer.error,
        answer.body[:1024].decode("utf-8", "replace") or None, answer.ok, None,
    )  # fmt: skip
    await run_in_threadpool(services.writer.record_webhook_attempt, principal, outcome)
    return json_response(
        {
            "delivered": answer.ok,
            "status_code": answer.status,
            "latency_ms": answer.latency_ms,
            "error": answer.error,
        }
    )
