"""The OpenAPI description of Asana's webhook routes (webhooks.py): their parameters,
bodies and answers, as Asana's own document describes them."""

from __future__ import annotations

from typing import Any

from ...web.openapi import content, parameters, query
from .hook_filters import ACTIONS, EVENT_TYPES, MAX_FILTERS

Json = dict[str, Any]

GID: Json = {"type": "string", "pattern": "^[0-9]{1,19}$"}
NAME: Json = {"type": "string", "pattern": "^[A-Za-z0-9_]{1,100}$"}
TIME: Json = {"type": ["string", "null"], "format": "date-time"}

FILTER: Json = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "description": "an event is sent if it matches every key of any filter; `fields` "
    "only with `action: changed`",
    "properties": {
        "resource_type": {"enum": list(EVENT_TYPES)},
        "resource_subtype": NAME,
        "action": {"enum": list(ACTIONS)},
        "fields": {"type": "array", "minItems": 1, "items": NAME},
    },
}
FILTERS: Json = {"type": "array", "maxItems": MAX_FILTERS, "items": FILTER}

WEBHOOK: Json = {
    "type": "object",
    "description": "Asana's WebhookResponse (`opt_fields` chooses among its fields)",
    "required": ["gid", "resource_type"],
    "properties": {
        "gid": {"type": "string"},
        "resource_type": {"enum": ["webhook"]},
        "active": {"type": "boolean"},
        "resource": {
            "type": "object",
            "required": ["gid", "resource_type"],
            "properties": {
                "gid": {"type": "string"},
                "resource_type": {"type": "string"},
                "name": {"type": ["string", "null"]},
            },
        },
        "target": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "last_success_at": TIME,
        "last_failure_at": TIME,
        "last_failure_content": {"type": ["string", "null"]},
        "delivery_retry_count": {"type": "integer", "minimum": 0},
        "next_attempt_after": TIME,
        "failure_deletion_timestamp": TIME,
        "filters": {"type": "array", "items": {"type": "object"}},
    },
}

OUTPUT = (
    query(
        "opt_fields",
        {"type": "string", "pattern": r"^[A-Za-z0-9_., ]*$"},
        "comma-separated fields of the webhook to return",
    ),
    query("opt_pretty", {"enum": ["", "true", "false", "1", "0", "yes", "no"]}, "indent JSON"),
)

CREATE = (
    "Asana-compatible: watch a workspace, project or task (with what lies in it). While "
    "this request is open, the target gets a POST with `X-Hook-Secret` and must answer "
    "200 or 204 echoing it within 10 seconds; the answer carries the secret, which signs "
    "every delivery (`X-Hook-Signature`, hex HMAC-SHA256 of the body). Owners and admins."
)


def _body(data: Json) -> Json:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["data"],
        "properties": {"data": data},
    }
    return {"required": True, "content": content("application/json", schema=schema)}


def _answer(description: str, schema: Json) -> Json:
    return {"description": description, "content": content("application/json", schema=schema)}


def _data(schema: Json, **extra: Json) -> Json:
    return {
        "type": "object",
        "required": ["data", *extra],
        "properties": {"data": schema, **extra},
    }


def create_extra() -> Json:
    data = {
        "type": "object",
        "additionalProperties": False,
        "required": ["resource", "target"],
        "properties": {
            "resource": GID,
            "target": {"type": "string", "format": "uri", "maxLength": 2000},
            "filters": {**FILTERS, "type": ["array", "null"]},
        },
    }
    return {**parameters(*OUTPUT), "requestBody": _body(data)}


def update_extra() -> Json:
    data = {
        "type": "object",
        "additionalProperties": False,
        "required": ["filters"],
        "properties": {"filters": FILTERS},
    }
    return {**parameters(*OUTPUT), "requestBody": _body(data)}


def output_extra() -> Json:
    return parameters(*OUTPUT)


def list_extra() -> Json:
    return parameters(
        query("workspace", GID, "a workspace gid (or the organization's: all)", required=True),
        query("resource", GID, "only the webhooks on this resource"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "results per page"),
        query("offset", GID, "the offset of the previous page's next_page"),
        *OUTPUT,
    )


def created() -> dict[int | str, Any]:
    secret = {"type": "string", "description": "the handshake's secret: the signing key"}
    return {201: _answer("the webhook, made", _data(WEBHOOK, **{"X-Hook-Secret": secret}))}


def listed() -> dict[int | str, Any]:
    page = {
        "type": "object",
        "required": ["data", "next_page"],
        "properties": {
            "data": {"type": "array", "items": WEBHOOK},
            "next_page": {
                "type": ["object", "null"],
                "required": ["offset", "path", "uri"],
                "properties": {
                    "offset": {"type": "string"},
                    "path": {"type": "string"},
                    "uri": {"type": "string"},
                },
            },
        },
    }
    return {200: _answer("a page of webhooks", page)}


def one(description: str) -> dict[int | str, Any]:
    return {200: _answer(description, _data(WEBHOOK))}


def deleted() -> dict[int | str, Any]:
    return {200: _answer("the webhook is deleted", _data({"type": "object"}))}
