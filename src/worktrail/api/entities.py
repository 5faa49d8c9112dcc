"""Native entity routes, one set per entity type: list, read, create, update, delete,
restore, move, point-in-time state, history; close/reopen for tasks; add/remove for
multi-value fields (followers, tags, members)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Path, Request
from starlette.responses import Response

from ..auth import Principal, check_can_read
from ..diff import micros_to_iso
from ..errors import BadRequest, Forbidden, InvalidInput, NotFound
from ..model import ENTITY_SPECS, LOCATION_FIELDS, MAX_ID, PLURALS, EntityType, Role, Scope
from ..query import EventQuery, run_query
from ..store import EntityRow
from ..write import WriteResult
from . import params as p
from .deps import PrincipalDep, Services, ServicesDep
from .events import events_response
from .render import entity_json, event_json

router = APIRouter(prefix="/api/v1", tags=["entities"])

JsonObject = Annotated[dict[str, Any], Body()]
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


def load_readable(
    services: Services, principal: Principal, entity_type: EntityType, entity_id: int
) -> EntityRow:
    entity = services.store.get_entity(principal.org_id, entity_id)
    if entity is None or entity.type is not entity_type:
        raise NotFound(f"{entity_type.value} {entity_id} does not exist")
    check_can_read(services.store, principal, entity)
    return entity


def container_filter(entity_type: EntityType, request: Request) -> tuple[str, ...]:
    spec = ENTITY_SPECS[entity_type]
    if entity_type is EntityType.TASK:
        return ("project", "parent")
    return (spec.parent_field,) if spec.parent_field else ()


def register(entity_type: EntityType) -> None:
    plural = PLURALS[entity_type]
    name = entity_type.value
    multi_fields = [f for f, s in ENTITY_SPECS[entity_type].fields.items() if s.multi]
    tag: list[str | Enum] = [plural]

    @router.get(f"/{plural}", tags=tag, summary=f"List {plural}")
    def list_entities(request: Request, services: ServicesDep, principal: PrincipalDep) -> Response:
        qp = request.query_params
        filters = container_filter(entity_type, request)
        p.reject_unknown(qp, ("after", "limit", "include_deleted", *filters))
        container: int | None = None
        for field in filters:
            value = p.int_param(qp, field, None, 1, 2**62)
            if value is not None:
                container = value
                parent_type = ENTITY_SPECS[entity_type].fields[field].ref
                assert parent_type is not None
                load_readable(services, principal, parent_type, value)
        limit = p.int_param(qp, "limit", 100, 1, services.settings.page_limit_max) or 100
        after = p.int_param(qp, "after", None, 0, 2**62)
        rows = services.store.list_entities(
            principal.org_id,
            entity_type,
            container_id=container,
            after_id=after,
            limit=limit + 1,
            include_deleted=p.bool_param(qp, "include_deleted", False),
        )
        visible = [r for r in rows[:limit] if _readable(services, principal, r)]
        has_more = len(rows) > limit
        return json_response(
            {
                "data": [entity_json(r) for r in visible],
                "has_more": has_more,
                "next_after": rows[limit - 1].id if has_more else None,
            }
        )

    @router.get(f"/{plural}/{{entity_id}}", tags=tag, summary=f"Get a {name}")
    def get_entity(entity_id: EntityId, services: ServicesDep, principal: PrincipalDep) -> Response:
        return json_response(
            {"data": entity_json(load_readable(services, principal, entity_type, entity_id))}
        )

    @router.get(
        f"/{plural}/{{entity_id}}/events",
        tags=tag,
        summary=f"History of a {name} (with its descendants)",
    )
    def entity_events(
        entity_id: EntityId, request: Request, services: ServicesDep, principal: PrincipalDep
    ) -> Response:
        load_readable(services, principal, entity_type, entity_id)
        return events_response(request, services, principal, Scope(entity_type, entity_id))

    @router.get(
        f"/{plural}/{{entity_id}}/state",
        tags=tag,
        summary=f"State of a {name} at a point in time (?at=ISO-8601)",
    )
    def entity_state(
        entity_id: EntityId, request: Request, services: ServicesDep, principal: PrincipalDep
    ) -> Response:
        load_readable(services, principal, entity_type, entity_id)
        p.reject_unknown(request.query_params, ("at",))
        at = p.time_param(request.query_params, "at")
        if at is None:
            raise BadRequest("'at' is required, e.g. ?at=2026-01-31T09:30:00Z")
        return json_response(state_at(services, principal, entity_type, entity_id, at))

    if entity_type is EntityType.ORGANIZATION:
        return

    @router.post(f"/{plural}", tags=tag, status_code=201, summary=f"Create a {name}")
    def create(body: JsonObject, services: ServicesDep, principal: PrincipalDep) -> Response:
        return write_response(services.writer.create(principal, entity_type, body), 201)

    @router.patch(f"/{plural}/{{entity_id}}", tags=tag, summary=f"Update a {name}")
    def patch(
        entity_id: EntityId, body: JsonObject, services: ServicesDep, principal: PrincipalDep
    ) -> Response:
        return write_response(services.writer.update(principal, entity_type, entity_id, body))

    @router.delete(f"/{plural}/{{entity_id}}", tags=tag, summary=f"Delete a {name} (soft)")
    def delete(entity_id: EntityId, services: ServicesDep, principal: PrincipalDep) -> Response:
        return write_response(services.writer.delete(principal, entity_type, entity_id))

    @router.post(f"/{plural}/{{entity_id}}/restore", tags=tag, summary=f"Restore a deleted {name}")
    def restore(entity_id: EntityId, services: ServicesDep, principal: PrincipalDep) -> Response:
        return write_response(services.writer.restore(principal, entity_type, entity_id))

    location = [f for f in ENTITY_SPECS[entity_type].fields if f in LOCATION_FIELDS]
    if location:

        @router.post(
            f"/{plural}/{{entity_id}}/move",
            tags=tag,
            summary=f"Move a {name}: body with {' or '.join(location)}",
        )
        def move(
            entity_id: EntityId, body: JsonObject, services: ServicesDep, principal: PrincipalDep
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

        @router.post("/tasks/{entity_id}/close", tags=tag, summary="Close (complete) a task")
        def close(entity_id: EntityId, services: ServicesDep, principal: PrincipalDep) -> Response:
            return write_response(services.writer.set_completed(principal, entity_id, True))

        @router.post("/tasks/{entity_id}/reopen", tags=tag, summary="Reopen a task")
        def reopen(entity_id: EntityId, services: ServicesDep, principal: PrincipalDep) -> Response:
            return write_response(services.writer.set_completed(principal, entity_id, False))


def _register_set_route(
    entity_type: EntityType, plural: str, field: str, tag: list[str | Enum]
) -> None:
    @router.post(
        f"/{plural}/{{entity_id}}/{field}",
        tags=tag,
        summary=f'Add and remove {field}: body {{"add": [...], "remove": [...]}}',
    )
    def change_set(
        entity_id: EntityId, body: JsonObject, services: ServicesDep, principal: PrincipalDep
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


def _readable(services: Services, principal: Principal, entity: EntityRow) -> bool:
    try:
        check_can_read(services.store, principal, entity)
    except NotFound:
        return False
    return True


def state_at(
    services: Services, principal: Principal, entity_type: EntityType, entity_id: EntityId, at: int
) -> dict[str, Any]:
    """The entity's state as recorded by its last event that occurred at or before `at`."""
    query = EventQuery(
        org_id=principal.org_id,
        scope=Scope(entity_type, entity_id),
        descendants=False,
        occurred_to=at + 1,
        limit=1,
    )
    page = run_query(services.store, query)
    if not page.events:
        raise NotFound(f"{entity_type.value} {entity_id} did not exist at {micros_to_iso(at)}")
    event = page.events[0]
    return {
        "data": event.after,
        "deleted": event.action.value == "deleted",
        "as_of": micros_to_iso(at),
        "event": event_json(event),
    }


@router.get("/organization", tags=["organizations"], summary="Your organization")
def my_organization(services: ServicesDep, principal: PrincipalDep) -> Response:
    org = services.store.get_entity(principal.org_id, principal.org_id)
    if org is None:
        raise NotFound("organization not found")
    return json_response({"data": entity_json(org)})


@router.get("/organization/admin-api-key", tags=["organizations"], summary="Admin API key")
def admin_api_key(services: ServicesDep, principal: PrincipalDep) -> Response:
    """The organization's admin API key (owners only), used by vendor admin APIs."""
    if principal.role is not Role.OWNER:
        raise Forbidden("only the organization's owner can read the admin API key")
    org = services.store.get_org(principal.org_id)
    assert org is not None
    return json_response({"admin_api_key": org.admin_api_key})


@router.post(
    "/organization/admin-api-key/rotate", tags=["organizations"], summary="Rotate admin API key"
)
def rotate_admin_api_key(services: ServicesDep, principal: PrincipalDep) -> Response:
    """Replace the admin API key (owners only); the old key stops working at once."""
    import secrets

    if principal.role is not Role.OWNER:
        raise Forbidden("only the organization's owner can rotate the admin API key")
    key = secrets.token_hex(16)
    services.store.set_admin_api_key(principal.org_id, key)
    return json_response({"admin_api_key": key})


@router.get("/me", tags=["organizations"], summary="Who this token acts as")
def me(principal: PrincipalDep) -> Response:
    return json_response(
        {
            "user": principal.actor.to_json(),
            "org_id": principal.org_id,
            "role": principal.role.value,
        }
    )


for _type in EntityType:
    register(_type)
