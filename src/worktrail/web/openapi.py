"""The OpenAPI document, made to tell the truth about every operation.

Routes declare what only they know: their query parameters (`query`, `listed`), their
request bodies and their success responses. What every operation shares is added here,
once: the errors it can answer, in the error shape of the API it belongs to (problem+json
for the native API, each vendor's own envelope for the dialects), with the headers those
errors carry (`Allow`, `Retry-After`, `WWW-Authenticate`), and how it authenticates. A test
runs schemathesis over every operation against this document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

Json = dict[str, Any]

PROBLEM_SCHEMA: Json = {
    "type": "object",
    "description": "RFC 9457 problem details; extra members name what was wrong",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "pointer": {"type": "string", "description": "where in the JSON body (a JSON pointer)"},
        "limit": {"type": "integer", "description": "the limit that was passed"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


@dataclass(frozen=True)
class ErrorShape:
    """How one API answers errors: a media type and the schema of the body."""

    media_type: str
    schema: Json


NATIVE_ERRORS = ErrorShape("application/problem+json", PROBLEM_SCHEMA)
BEARER_SCHEMES: Json = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "a worktrail API token (`worktrail token create`)",
    }
}
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
NO_AUTH: list[dict[str, list[str]]] = []

# what each error status means, wherever it is answered
STATUSES = {
    400: "a query parameter is missing or malformed",
    401: "no credentials, or credentials that are not (or no longer) valid",
    403: "the credentials may not do this",
    404: "no such resource, or one the credentials may not see",
    405: "the path is served with other methods (see Allow)",
    406: "no representation the Accept header allows",
    409: "the change conflicts with the entity's state",
    410: "the position reaches events the retention policy removed (start again without it)",
    413: "the body is larger than the route's limit",
    414: "the query string is too long",
    415: "the body's Content-Type is not one the route reads",
    422: "the body is not what the route takes (the detail says where)",
    429: "too many requests, or too many failed authentications (see Retry-After)",
    431: "the request's headers are too large",
    500: "a failure of the server's own; nothing of it is in the answer",
    503: "the database is unavailable; retry after Retry-After seconds",
    507: "the database's storage is full; nothing was written",
}
READ_ERRORS = (400, 401, 403, 404, 405, 413, 414, 422, 429, 431, 500, 503)
WRITE_ERRORS = (*READ_ERRORS, 409, 507)
HEADERS: dict[int, Json] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": False}},
    405: {"Allow": {"schema": {"type": "string"}, "required": True}},
    429: {"Retry-After": {"schema": {"type": "string"}, "required": True}},
    503: {"Retry-After": {"schema": {"type": "string"}, "required": True}},
}


def query(name: str, schema: Json, description: str = "", *, required: bool = False) -> Json:
    """A query parameter, as a route documents it in `openapi_extra`."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def listed(name: str, items: Json, description: str = "") -> Json:
    """A query parameter that takes a comma-separated list (or the parameter repeated)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "style": "form",
        "explode": False,
        "schema": {"type": "array", "items": items},
    }


def header(name: str, schema: Json, description: str = "", *, required: bool = False) -> Json:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": schema,
    }


def parameters(*params: Json) -> Json:
    """`openapi_extra` of a route that reads these parameters itself."""
    return {"parameters": list(params)}


def content(*media_types: str, schema: Json | None = None) -> Json:
    """A response's `content`: the same schema under each media type."""
    return {media: {"schema": schema or {}} for media in media_types}


# An operation's security requirements, by the first that names a prefix of its path
Security = Callable[[str], list[Json] | None]


def install_openapi(
    app: FastAPI,
    shapes: Iterable[tuple[str, ErrorShape]],
    security_schemes: Json,
    security_of: Security,
) -> None:
    """Replace the app's OpenAPI document with one built from its routes and completed
    here: errors in the shape of the API under each path prefix (`shapes`; the native one
    elsewhere), and each operation's security (`security_of(path)`)."""
    prefixes = sorted(shapes, key=lambda item: len(item[0]), reverse=True)

    def document() -> Json:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schema.setdefault("components", {})["securitySchemes"] = security_schemes
        for path, operations in schema.get("paths", {}).items():
            shape = next((s for p, s in prefixes if path.startswith(p)), NATIVE_ERRORS)
            for method, operation in operations.items():
                _complete(operation, method, shape, security_of(path))
        _drop_unused_validation_schemas(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = document  # type: ignore[method-assign]


def _complete(operation: Json, method: str, shape: ErrorShape, security: list[Json] | None) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's pydantic error, which no route answers
    statuses = READ_ERRORS if method in ("get", "head") else WRITE_ERRORS
    if "requestBody" in operation:
        statuses = (*statuses, 415)
    for status in statuses:
        response: Json = {
            "description": STATUSES[status],
            "content": {shape.media_type: {"schema": shape.schema}},
        }
        if status in HEADERS:
            response["headers"] = HEADERS[status]
        responses.setdefault(str(status), response)
    if security is not None:
        operation["security"] = security


def _drop_unused_validation_schemas(schema: Json) -> None:
    """FastAPI adds HTTPValidationError and ValidationError for the 422 it documents by
    default; no route answers it, so they go."""
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    if not components and "schemas" in schema.get("components", {}):
        del schema["components"]["schemas"]
