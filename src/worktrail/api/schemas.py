"""What the native API's requests and responses look like, as JSON Schema for its OpenAPI
document. Entity bodies are derived from the field tables (model/entities.py), so they say
what `normalize_fields` accepts; everything else is written out once here."""

from __future__ import annotations

from typing import Any

from ..model import ENTITY_SPECS, MAX_ID, Action, EntityType, FieldKind, FieldSpec
from ..web.jsonbody import MAX_KEY
from ..web.openapi import content, listed, query

Json = dict[str, Any]

ID: Json = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
TIME: Json = {"type": "string", "format": "date-time"}
NULLABLE_TIME: Json = {"type": ["string", "null"], "format": "date-time"}

EVENT: Json = {
    "type": "object",
    "required": [
        "id",
        "org_id",
        "seq",
        "occurred_at",
        "recorded_at",
        "actor",
        "action",
        "subject",
        "scopes",
        "changes",
        "context",
        "hash",
        "prev_hash",
    ],
    "properties": {
        "id": {"type": "integer"},
        "org_id": {"type": "integer"},
        "seq": {"type": "integer"},
        "occurred_at": TIME,
        "recorded_at": TIME,
        "actor": {
            "type": ["object", "null"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "email": {"type": "string"},
            },
        },
        "action": {"enum": [a.value for a in Action]},
        "subject": {
            "type": "object",
            "required": ["type", "id"],
            "properties": {
                "type": {"enum": [t.value for t in EntityType]},
                "id": {"type": "integer"},
            },
        },
        "scopes": {"type": "array", "items": {"type": "string"}},
        "changes": {"type": "array", "items": {"type": "object"}},
        "before": {"type": ["object", "null"]},
        "after": {"type": ["object", "null"]},
        "context": {"type": "object"},
        "idempotency_key": {"type": ["string", "null"]},
        "schema_version": {"type": "integer"},
        "prev_hash": {"type": "string"},
        "hash": {"type": "string"},
        "personal": {
            "type": "object",
            "description": (
                "schema version 2: each personal value by its JSON pointer into the event, "
                'with its salt (base64url), or {"$c": commitment} once erased '
                "(docs/integrity.md)"
            ),
            "additionalProperties": {
                "anyOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "required": ["$c"],
                        "properties": {"$c": {"type": "string"}},
                    },
                ]
            },
        },
    },
}
EVENTS_PAGE: Json = {
    "type": "object",
    "required": ["data", "next_cursor", "has_more"],
    "properties": {
        "data": {"type": "array", "items": EVENT},
        "next_cursor": {"type": ["string", "null"]},
        "has_more": {"type": "boolean"},
        "pruned_through": {
            "type": "integer",
            "description": "every event up to this seq was removed by retention (0: none)",
        },
    },
}
ENTITY: Json = {
    "type": "object",
    "description": "an entity's current state: its fields, and these",
    "required": ["id", "type", "deleted", "version", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "integer"},
        "type": {"enum": [t.value for t in EntityType]},
        "external_id": {"type": ["string", "null"]},
        "deleted": {"type": "boolean"},
        "version": {"type": "integer"},
        "hex_id": {"type": "string"},
        "created_at": TIME,
        "updated_at": TIME,
    },
}
ENTITY_PAGE: Json = {
    "type": "object",
    "required": ["data", "has_more", "next_after"],
    "properties": {
        "data": {"type": "array", "items": ENTITY},
        "has_more": {"type": "boolean"},
        "next_after": {"type": ["integer", "null"]},
    },
}
ONE_ENTITY: Json = {"type": "object", "required": ["data"], "properties": {"data": ENTITY}}
WRITE_RESULT: Json = {
    "type": "object",
    "required": ["data", "event"],
    "properties": {"data": ENTITY, "event": {"anyOf": [EVENT, {"type": "null"}]}},
}
STATE_AT: Json = {
    "type": "object",
    "required": ["data", "deleted", "as_of", "event"],
    "properties": {
        "data": {"type": ["object", "null"]},
        "deleted": {"type": "boolean"},
        "as_of": TIME,
        "event": EVENT,
    },
}

# -- query parameters -----------------------------------------------------------------

SCOPE_PATTERN = "^(" + "|".join(t.value for t in EntityType) + "):[0-9]{1,19}$"
HISTORY_FILTERS = (
    query(
        "descendants",
        {"type": "boolean"},
        "with the scope's descendants (default true)",
    ),
    listed("subject_type", {"enum": [t.value for t in EntityType]}, "only these subject types"),
    listed("action", {"enum": [a.value for a in Action]}, "only these actions"),
    listed("actor", ID, "only changes by these users"),
    query("occurred_after", TIME, "changes that occurred at or after this time"),
    query("occurred_before", TIME, "changes that occurred before this time"),
    query("order", {"enum": ["newest", "oldest"]}, "newest first (default) or oldest first"),
    query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "events per page"),
    query("cursor", {"type": "string", "maxLength": 4096}, "next_cursor of the previous page"),
    query("format", {"enum": ["json", "ndjson", "csv"]}, "instead of the Accept header"),
)
SCOPE = query(
    "scope",
    {"type": "string", "pattern": SCOPE_PATTERN},
    "TYPE:ID, e.g. project:12: that entity's history (with its descendants)",
)
HISTORY_RESPONSES: dict[int | str, Any] = {
    200: {
        "description": "a page of events (JSON), or every matching event streamed as NDJSON "
        "or CSV (by Accept or format; limit pages them too)",
        "content": {
            **content("application/json", schema=EVENTS_PAGE),
            **content("application/x-ndjson", "text/csv"),
        },
        "headers": {
            "X-Has-More": {"schema": {"type": "string"}},
            "X-Next-Cursor": {"schema": {"type": "string"}},
            "Worktrail-Pruned-Through": {"schema": {"type": "string"}},
        },
    },
    410: {
        "description": "the cursor reaches events the retention policy removed: start again "
        "without it (problem+json: pruned_through, pruned_first_seq, pruned_last_seq)",
        "content": content("application/problem+json"),
    },
}


# -- request bodies -------------------------------------------------------------------


def field_schema(spec: FieldSpec) -> Json:
    """What `normalize_fields` accepts for one field (null too, unless it is required)."""
    kinds: dict[FieldKind, Json] = {
        FieldKind.TEXT: {"type": "string", "maxLength": spec.max_length},
        FieldKind.ENUM: {"enum": list(spec.choices)},
        FieldKind.BOOL: {"type": "boolean"},
        FieldKind.INT: {"type": "integer", "minimum": 1, "maximum": MAX_ID - 1},
        FieldKind.REF: {"type": "integer", "minimum": 1, "maximum": MAX_ID - 1},
        FieldKind.DATE: {"type": "string", "format": "date"},
        FieldKind.DATETIME: TIME,
        FieldKind.REF_SET: {"type": "array", "items": {"type": "integer", "minimum": 1}},
        FieldKind.TAG_SET: {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 200},
        },
        FieldKind.JSON_MAP: {
            "type": "object",
            "propertyNames": {"minLength": 1, "maxLength": MAX_KEY},
        },
    }
    schema = dict(kinds[spec.kind])
    if spec.required:
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def entity_body(entity_type: EntityType, *, partial: bool, only: tuple[str, ...] = ()) -> Json:
    """The JSON body that creates (`partial` False) or changes an entity of this type."""
    fields = ENTITY_SPECS[entity_type].fields
    names = only or tuple(fields)
    body: Json = {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: field_schema(fields[name]) for name in names},
    }
    required = [n for n in names if fields[n].required and not partial]
    if required:
        body["required"] = required
    return body


def set_change_body(entity_type: EntityType, field: str) -> Json:
    items = field_schema(ENTITY_SPECS[entity_type].fields[field])["anyOf"][0]["items"]
    change = {"type": "array", "items": items}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"add": change, "remove": change},
    }


def request_body(schema: Json) -> Json:
    """`openapi_extra` of a route whose JSON body web/jsonbody.py reads."""
    return {
        "requestBody": {"required": True, "content": content("application/json", schema=schema)}
    }


INGEST_RECORD: Json = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "id"],
    "properties": {
        "op": {"enum": ["snapshot", "change", "delete", "restore"]},
        "type": {
            "enum": [
                t.value
                for t in EntityType
                if t not in (EntityType.ORGANIZATION, EntityType.WEBHOOK, EntityType.LEGAL_HOLD)
            ]
        },
        "id": {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 200},
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            ],
            "description": "a worktrail id, or your application's own id as a string",
        },
        "state": {"type": "object", "description": "a snapshot: the entity's fields"},
        "changes": {"type": "array", "minItems": 1, "items": {"type": "object"}},
        "occurred_at": {"anyOf": [TIME, {"type": "null"}]},
        "actor": {"anyOf": [ID, {"type": "string", "minLength": 1}, {"type": "null"}]},
        "idempotency_key": {
            "anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "null"}]
        },
    },
}
INGEST_BODY: Json = {
    "type": "object",
    "additionalProperties": False,
    "required": ["records"],
    "properties": {
        "records": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": INGEST_RECORD,
            "description": "at most ingest_batch_max (1,000) records, all or nothing",
        }
    },
}
INGEST_RESULT: Json = {
    "type": "object",
    "required": ["recorded", "results"],
    "properties": {
        "recorded": {"type": "integer"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "status", "entity", "event"],
                "properties": {
                    "index": {"type": "integer"},
                    "status": {"enum": ["recorded", "unchanged", "duplicate"]},
                    "entity": {"type": ["object", "null"]},
                    "event": {"type": ["object", "null"]},
                },
            },
        },
    },
}
