"""Native entity routes, one set per entity type: list, read, create, update, delete,
restore, move, point-in-time state, history; close/reopen for tasks; add/remove for
multi-value fields (followers, tags, members)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from ..diff import micros_to_iso
from ..errors import BadRequest, InvalidInput, NotFound
from ..model import ENTITY_SPECS, LOCATION_FIELDS, MAX_ID, PLURALS, EntityType, Scope
from ..query import Reader
from ..web import params as p
from ..web.deps import PrincipalDep, ReaderDep, ServicesDep
from ..web.jsonbody import json_object
from ..web.openapi import content, parameters, query
from ..web.render import entity_json, event_json
from ..write import WriteResult
from .events import events_response
from .schemas import (
    ENTITY_PAGE,
    HISTORY_FILTERS,
    HISTORY_RESPONSES,
    ID,
    ONE_ENTITY,
    STATE_AT,
    TIME,
    WRITE_RESULT,
    entity_body,
    request_body,
    set_change_body,
)

router = APIRouter(prefix="/api/v1", tags=["entities"])

JsonObject = Annotated[dict[str, Any], Depends(json_object)]
# Out-of-range ids are a 404 (path errors), never a database overflow.
EntityId = Annotated[int, Path(ge=1, le=MAX_ID)]


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def write_response(result: WriteResult, status: int = 200) -> Response:
    return json_response(
        {
            "data": entity_json(result.entity),
            "event": event_json(result.event) if result.event else None,
        },
        status,
    )


WRITTEN = "the entity as it is now and the event that recorded the change (null: no change)"


def _ok(description: str, schema: dict[str, Any], status: int = 200) -> dict[int | str, Any]:
    return {
        status: {"description": description, "content": content("application/json", schema=schema)}
    }


def container_filter(entity_type: EntityType) -> tuple[str, ...]:
    """The query parameters that list the entities in one container (tasks: a project's or
    a parent task's)."""
    spec = ENTITY_SPECS[entity_type]
    if entity_type is EntityType.TASK:
        return ("project", "parent")
    return (spec.parent_field,) if spec.parent_field else ()


def register(entity_type: EntityType) -> None:
    plural = PLURALS[entity_type]
    name = entity_type.value
    multi_fields = [f for f, s in ENTITY_SPECS[entity_type].fields.items() if s.multi]
    tag: list[str | Enum] = [plural]

    @router.get(
        f"/{plural}",
        tags=tag,
        summary=f"List {plural}",
        openapi_extra=parameters(
            query("after", {"type": "integer", "minimum": 0, "maximum": MAX_ID}, "next_after"),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
            query("include_deleted", {"type": "boolean"}),
            *(query(f, ID, f"only those in this {f}") for f in container_filter(entity_type)),
        ),
        responses=_ok("a page of entities", ENTITY_PAGE),
    )
    def list_entities(request: Request, services: ServicesDep, reader: ReaderDep) -> Response:
        qp = request.query_params
        filters = container_filter(entity_type)
        p.reject_unknown(qp, ("after", "limit", "include_deleted", *filters))
        containers = [
            (field, value)
            for field in filters
            if (value := p.int_param(qp, field, None, 1, MAX_ID)) is not None
        ]
        limit = p.int_param(qp, "limit", 100, 1, services.settings.page_limit_max) or 100
        after = p.int_param(qp, "after", None, 0, MAX_ID)
        include_deleted = p.bool_param(qp, "include_deleted", False)
        container: int | None = None
        for field, value in containers:
            parent_type = ENTITY_SPECS[entity_type].fields[field].ref
            assert parent_type is not None
            container = reader.entity(value, parent_type).id
        rows, next_after = reader.list_entities(
            entity_type,
            container_id=container,
            after_id=after,
            limit=limit,
            include_deleted=include_deleted,
        )
        return json_response(
            {
                "data": [entity_json(r) for r in rows],
                "has_more": next_after is not None,
                "next_after": next_after,
            }
        )

    @router.get(
        f"/{plural}/{{entity_id}}",
        tags=tag,
        summary=f"Get a {name}",
        responses=_ok(f"the {name}", ONE_ENTITY),
    )
    def get_entity(entity_id: EntityId, reader: ReaderDep) -> Response:
        return json_response({"data": entity_json(reader.entity(entity_id, entity_type))})

    @router.get(
        f"/{plural}/{{entity_id}}/events",
        tags=tag,
        summary=f"History of a {name} (with its descendants)",
        openapi_extra=parameters(*HISTORY_FILTERS),
        responses=HISTORY_RESPONSES,
    )
    def entity_events(
        entity_id: EntityId, request: Request, services: ServicesDep, reader: ReaderDep
    ) -> Response:
        return events_response(request, services, reader, Scope(entity_type, entity_id))

    @router.get(
        f"/{plural}/{{entity_id}}/state",
        tags=tag,
        summary=f"State of a {name} at a point in time (?at=ISO-8601)",
        openapi_extra=parameters(query("at", TIME, "the point in time", required=True)),
        responses=_ok(f"the {name} as it was", STATE_AT),
    )
    def entity_state(entity_id: EntityId, request: Request, reader: ReaderDep) -> Response:
        p.reject_unknown(request.query_params, ("at",))
        at = p.time_param(request.query_params, "at")
        if at is None:
            raise BadRequest("'at' is required, e.g. ?at=2026-01-31T09:30:00Z")
        return json_response(state_at(reader, entity_type, entity_id, at))

    if entity_type is EntityType.ORGANIZATION:
        return

    @router.post(
        f"/{plural}",
        tags=tag,
        status_code=201,
        summary=f"Create a {name}",
        openapi_extra=request_body(entity_body(entity_type, partial=False)),
        responses=_ok(f"the new {name} and its event", WRITE_RESULT, 201),
    )
    def create(principal: PrincipalDep, body: JsonObject, services: ServicesDep) -> Response:
        return write_response(services.writer.create(principal, entity_type, body), 201)

    @router.patch(
        f"/{plural}/{{entity_id}}",
        tags=tag,
        summary=f"Update a {name}",
        openapi_extra=request_body(entity_body(entity_type, partial=True)),
        responses=_ok(WRITTEN, WRITE_RESULT),
    )
    def patch(
        entity_id: EntityId, principal: PrincipalDep, body: JsonObject, services: ServicesDep
    ) -> Response:
        return write_response(services.writer.update(principal, entity_type, entity_id, body))

    @router.delete(
        f"/{plural}/{{entity_id}}",
        tags=tag,
        summary=f"Delete a {name} (soft)",
        responses=_ok(WRITTEN, WRITE_RESULT),
    )
    def delete(entity_id: EntityId, services: ServicesDep, principal: PrincipalDep) -> Response:
        return write_response(services.writer.delete(principal, entity_type, entity_id))

    @router.post(
        f"/{plural}/{{entity_id}}/restore",
        tags=tag,
        summary=f"Restore a deleted {name}",
        responses=_ok(WRITTEN, WRITE_RESULT),
    )
    def restore(entity_id: EntityId, services: ServicesDep, principal: PrincipalDep) -> Response:
        return write_response(services.writer.restore(principal, entity_type, entity_id))

    location = [f for f in ENTITY_SPECS[entity_type].fields if f in LOCATION_FIELDS]
    if location:

        @router.post(
            f"/{plural}/{{entity_id}}/move",
            tags=tag,
            summary=f"Move a {name}: body with {' or '.join(location)}",
            openapi_extra=request_body(
                {
                    **entity_body(entity_type, partial=True, only=tuple(location)),
                    "minProperties": 1,
                }
            ),
            responses=_ok(WRITTEN, WRITE_RESULT),
        )
        def move(
            entity_id: EntityId, principal: PrincipalDep, body: JsonObject, services: ServicesDep
        ) -> Response:
            bad = sorted(set(body) - set(location))
            if bad or not body:
                raise InvalidInput(
                    f"a move takes only {', '.join(location)}; got {', '.join(bad) or 'nothing'}"
                )
            return write_response(services.writer.update(principal, entity_type, entity_id, body))

    for field in multi_fields:
        _register_set_route(entity_type, plural, field, tag)

    if entity_type is EntityType.TASK:

        @router.post(
            "/tasks/{entity_id}/close",
            tags=tag,
            summary="Close (complete) a task",
            responses=_ok(WRITTEN, WRITE_RESULT),
        )
        def close(entity_id: EntityId, services: ServicesDep, principal: PrincipalDep) -> Response:
            return write_response(services.writer.set_completed(principal, entity_id, True))

        @router.post(
            "/tasks/{entity_id}/reopen",
            tags=tag,
            summary="Reopen a task",
            responses=_ok(WRITTEN, WRITE_RESULT),
        )
        def reopen(entity_id: EntityId, services: ServicesDep, principal: PrincipalDep) -> Response:
            return write_response(services.writer.set_completed(principal, entity_id, False))


def _register_set_route(
    entity_type: EntityType, plural: str, field: str, tag: list[str | Enum]
) -> None:
    @router.post(
        f"/{plural}/{{entity_id}}/{field}",
        tags=tag,
        summary=f'Add and remove {field}: body {{"add": [...], "remove": [...]}}',
        openapi_extra=request_body(set_change_body(entity_type, field)),
        responses=_ok(WRITTEN, WRITE_RESULT),
    )
    def change_set(
        entity_id: EntityId, principal: PrincipalDep, body: JsonObject, services: ServicesDep
    ) -> Response:
        bad = sorted(set(body) - {"add", "remove"})
        if bad:
            raise InvalidInput(f"unknown key(s) {', '.join(bad)}; send 'add' and/or 'remove'")
        add, remove = body.get("add", []), body.get("remove", [])
        if not isinstance(add, list) or not isinstance(remove, list):
            raise InvalidInput("'add' and 'remove' must be lists")
        return write_response(
            services.writer.change_set(principal, entity_type, entity_id, field, add, remove)
        )


def state_at(reader: Reader, entity_type: EntityType, entity_id: int, at: int) -> dict[str, Any]:
    """The entity's state as recorded by its last event that occurred at or before `at`."""
    event = reader.state_at(reader.entity(entity_id, entity_type), at)
    if event is None:
        raise NotFound(f"{entity_type.value} {entity_id} did not exist at {micros_to_iso(at)}")
    return {
        "data": event.after,
        "deleted": event.action.value == "deleted",
        "as_of": micros_to_iso(at),
        "event": event_json(event),
    }


# Webhooks have routes of their own (api/webhooks.py): secrets, deliveries, replay; so do
# legal holds (api/holds.py): owners only.
for _type in EntityType:
    if _type not in (EntityType.WEBHOOK, EntityType.LEGAL_HOLD):
        register(_type)
