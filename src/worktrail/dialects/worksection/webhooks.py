"""Worksection's webhook admin actions, signed with the admin API key like `get_events`.

    action=add_webhook&url=U&events=post_task,close_task[&projects=P1,P2][&http_user=&http_pass=]
        → {"status":"ok","id":N}
    action=get_webhooks     → {"status":"ok","data":[{id, url, events, status, projects?}]}
    action=delete_webhook&id=N  → {"status":"ok"}, or code 10 "WebHook not found"

A webhook is a worktrail `webhook` subscription of kind "worksection", written as the
organization's owner (the admin API is the account owner's): its event names, projects
and Basic-auth user are its options, the password is kept with its secrets, never in its
history. It is active at once. Before it is created, its URL must answer an empty
delivery (`[]`) with HTTP 200 and `{"status":"OK"}` within 5 seconds (or within
`webhook_timeout_seconds`, when that is shorter), through the same guard as deliveries
(no private addresses unless `webhooks_allow_private`); otherwise code 11 and nothing is
written. Deliveries: hooks_style.py.

Only webhooks of kind "worksection" are listed and deleted here; a paused or disabled
one is listed as "paused" (Worksection knows only active and paused).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ...auth import Principal, principal_for_user
from ...delivery.client import Answer, DeliveryClient
from ...delivery.guard import TargetRefused, check_url
from ...errors import Conflict, NotFound
from ...model import EntityRow, EntityType, Role
from ...query import Reader
from ...web.services import Services
from .errors import (
    field_required,
    invalid_hash,
    invalid_project,
    json_response,
    url_unanswered,
    webhook_not_found,
)
from .hooks_style import EVENT_NAMES, KIND, accepted, native_filter, request_headers
from .params import Params

ACTIONS = ("add_webhook", "get_webhooks", "delete_webhook")
PROBE_SECONDS = 5.0  # how long the URL has to answer add_webhook's check
MAX_PROJECTS = 1000
MAX_CREDENTIAL = 256  # characters of http_user and of http_pass
_PAGE = 500


@dataclass(frozen=True)
class NewWebhook:
    """An add_webhook request, checked."""

    url: str
    events: tuple[str, ...]
    projects: tuple[int, ...]
    user: str
    password: str

    @property
    def secret(self) -> str:
        """The Basic-auth credentials as kept with the webhook's secrets ("" for none)."""
        if not (self.user or self.password):
            return ""
        return orjson.dumps({"user": self.user, "pass": self.password}).decode()


async def webhook_action(services: Services, reader: Reader, params: Params) -> Response:
    """One of ACTIONS, for the organization whose admin API key signed the request."""
    action = params.get("action")
    if action == "add_webhook":
        return await add_webhook(services, reader, params)
    if action == "get_webhooks":
        return await run_in_threadpool(get_webhooks, reader)
    return await run_in_threadpool(delete_webhook, services, reader, params)


async def add_webhook(services: Services, reader: Reader, params: Params) -> Response:
    allow_private = bool(services.settings.webhooks_allow_private)
    new = await run_in_threadpool(read_new_webhook, reader, params, allow_private)
    # Worksection's 5 s, or the deliveries' timeout when that is shorter
    timeout = min(PROBE_SECONDS, float(services.settings.webhook_timeout_seconds))
    answer = await probe(new, allow_private, timeout)
    if not accepted(answer):
        raise url_unanswered(new.url)
    webhook_id = await run_in_threadpool(_create, services, reader, new)
    return json_response({"status": "ok", "id": webhook_id})


def read_new_webhook(reader: Reader, params: Params, allow_private: bool) -> NewWebhook:
    """add_webhook's parameters, or the error Worksection answers for the first wrong one."""
    url = params.get("url") or ""
    if not url.strip():
        raise field_required("url")
    events = _events(params.get("events"))
    projects = _projects(reader, params.get("projects"))
    user, password = params.get("http_user") or "", params.get("http_pass") or ""
    for name, value in (("http_user", user), ("http_pass", password)):
        if len(value) > MAX_CREDENTIAL or (name == "http_user" and ":" in value):
            raise field_required(name)
    try:
        check_url(url, allow_private)
    except TargetRefused:
        raise url_unanswered(url[:2000]) from None
    return NewWebhook(url, events, projects, user, password)


async def probe(new: NewWebhook, allow_private: bool, timeout: float) -> Answer:
    """What the URL answers an empty delivery, through the delivery guard."""
    client = DeliveryClient(timeout=timeout, allow_private=allow_private)
    try:
        return await client.post(new.url, b"[]", request_headers(new.secret))
    finally:
        await client.close()


def _create(services: Services, reader: Reader, new: NewWebhook) -> int:
    options: dict[str, object] = {"events": list(new.events)}
    if new.projects:
        options["projects"] = list(new.projects)
    if new.user:
        options["http_user"] = new.user
    values = {
        "kind": KIND,
        "url": new.url,
        "filter": native_filter(new.events, new.projects),
        "options": options,
        "signing": "hmac",  # unused: Worksection deliveries are not signed
    }
    result = services.writer.create_webhook(owner_principal(reader), values, new.secret)
    return result.entity.id


def get_webhooks(reader: Reader) -> Response:
    data = [webhook_json(row) for row in _worksection_webhooks(reader)]
    return json_response({"status": "ok", "data": data})


def webhook_json(row: EntityRow) -> dict[str, str]:
    """A webhook as get_webhooks lists it."""
    options = row.state.get("options") or {}
    out = {
        "id": str(row.id),
        "url": str(row.state["url"]),
        "events": ",".join(options.get("events") or ()),
        "status": "active" if row.state.get("status") == "active" else "paused",
    }
    if options.get("projects"):
        out["projects"] = ",".join(str(p) for p in options["projects"])
    return out


def delete_webhook(services: Services, reader: Reader, params: Params) -> Response:
    raw = params.get("id")
    if not raw:
        raise field_required("id")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise webhook_not_found()
    try:
        entity = reader.webhook(int(raw))
        if entity.deleted or entity.state.get("kind") != KIND:
            raise webhook_not_found()
        services.writer.delete_webhook(owner_principal(reader), entity.id)
    except (NotFound, Conflict):  # none such, or deleted meanwhile
        raise webhook_not_found() from None
    return json_response({"status": "ok"})


def owner_principal(reader: Reader) -> Principal:
    """Who the admin API acts as: the organization's owner (else its first admin)."""
    admin: EntityRow | None = None
    for user in _all(reader, EntityType.USER):
        role = user.state.get("role")
        if role == Role.OWNER.value:
            return principal_for_user(user)
        if role == Role.ADMIN.value and admin is None:
            admin = user
    if admin is None:
        raise invalid_hash("the organization has no owner or admin the admin API acts as")
    return principal_for_user(admin)


def _worksection_webhooks(reader: Reader) -> list[EntityRow]:
    rows, after = [], None
    while True:
        page, after = reader.webhooks(after, _PAGE)
        rows += [r for r in page if r.state.get("kind") == KIND]
        if after is None:
            return rows


def _all(reader: Reader, entity_type: EntityType) -> list[EntityRow]:
    rows, after = [], None
    while True:
        page, after = reader.list_entities(entity_type, after_id=after, limit=_PAGE)
        rows += page
        if after is None:
            return rows


def _items(raw: str | None) -> list[str]:
    """A list parameter: comma-separated, or a JSON array (from a JSON body)."""
    text = (raw or "").strip()
    if text.startswith("["):
        try:
            decoded = orjson.loads(text)
        except orjson.JSONDecodeError:
            decoded = None
        if isinstance(decoded, list):
            return [str(item).strip() for item in decoded if str(item).strip()]
    return [item.strip() for item in text.split(",") if item.strip()]


def _events(raw: str | None) -> tuple[str, ...]:
    """The event names, in Worksection's order; code 10 `events` if none or one unknown."""
    names = set(_items(raw))
    if not names or not names <= set(EVENT_NAMES):
        raise field_required("events")
    return tuple(name for name in EVENT_NAMES if name in names)


def _projects(reader: Reader, raw: str | None) -> tuple[int, ...]:
    """The project ids, each a live project of the organization; else code 4."""
    items = list(dict.fromkeys(_items(raw)))
    if len(items) > MAX_PROJECTS or not all(
        i.isascii() and i.isdigit() and len(i) <= 18 for i in items
    ):
        raise invalid_project()
    ids = [int(i) for i in items]
    found = reader.names(ids)
    for project_id in ids:
        entity = found.get(project_id)
        if entity is None or entity.type is not EntityType.PROJECT or entity.deleted:
            raise invalid_project()
    return tuple(ids)
