"""Legal holds of the native API (owners only; everyone else: 403).

    POST   /api/v1/legal-holds            {"scope": "project:12" | {"type", "id"}, "reason"}
                                          → 201, the hold (placing it is an event)
    GET    /api/v1/legal-holds            the active holds; ?include=lifted: lifted ones too
    GET    /api/v1/legal-holds/{id}       one hold
    DELETE /api/v1/legal-holds/{id}       lift it (?reason=… goes in the event's context)

A held event (one with the hold's scope among its scopes; every event for a hold on the
organization) is never pruned or erased: erasing a person whose values it holds answers
409 naming the hold.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from ..auth import check_owner
from ..diff import micros_to_iso
from ..errors import InvalidInput
from ..model import HOLD_SCOPES, MAX_ID, EntityRow
from ..web import params as p
from ..web.deps import PrincipalDep, ReaderDep, ServicesDep
from ..web.jsonbody import json_object
from ..web.openapi import parameters, query
from ..write.holds import parse_scope
from .schemas import request_body

router = APIRouter(prefix="/api/v1/legal-holds", tags=["legal holds"])

JsonObject = Annotated[dict[str, Any], Depends(json_object)]
HoldId = Annotated[int, Path(ge=1, le=MAX_ID)]
REASON_MAX = 2000

HOLD_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["scope", "reason"],
    "properties": {
        "scope": {
            "anyOf": [
                {"type": "string", "pattern": f"^({'|'.join(HOLD_SCOPES)}):[0-9]{{1,19}}$"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["type", "id"],
                    "properties": {
                        "type": {"enum": list(HOLD_SCOPES)},
                        "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                    },
                },
            ],
            "description": "what is held: the organization, or one entity and what lies in it",
        },
        "reason": {"type": "string", "minLength": 1, "maxLength": REASON_MAX},
    },
}


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def hold_json(entity: EntityRow) -> dict[str, Any]:
    """A hold as the API shows it."""
    state = entity.state
    return {
        "id": entity.id,
        "scope": f"{state['scope_type']}:{state['scope_id']}",
        "reason": state["reason"],
        "status": "lifted" if entity.deleted else "active",
        "placed_at": micros_to_iso(entity.created_at),
        "lifted_at": micros_to_iso(entity.updated_at) if entity.deleted else None,
    }


@router.post(
    "",
    status_code=201,
    summary="Place a legal hold (owners)",
    openapi_extra=request_body(HOLD_BODY),
)
def place_hold(principal: PrincipalDep, body: JsonObject, services: ServicesDep) -> Response:
    check_owner(principal)
    unknown = sorted(set(body) - {"scope", "reason"})
    if unknown:
        raise InvalidInput(f"unknown key(s) {', '.join(unknown)}; send 'scope' and 'reason'")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("'reason' is required: why the history is held", field="reason")
    scope = parse_scope(body.get("scope"))
    result = services.writer.place_hold(principal, scope, reason)
    return json_response({"data": hold_json(result.entity)}, 201)


@router.get(
    "",
    summary="List legal holds (owners)",
    openapi_extra=parameters(
        query("include", {"enum": ["lifted"]}, "lifted: the lifted holds too"),
    ),
)
def list_holds(request: Request, principal: PrincipalDep, reader: ReaderDep) -> Response:
    check_owner(principal)
    qp = request.query_params
    p.reject_unknown(qp, ("include",))
    include = qp.get("include")
    if include not in (None, "lifted"):
        raise InvalidInput("'include' takes one value: lifted", field="include")
    holds = reader.holds(include_lifted=include == "lifted")
    return json_response({"data": [hold_json(h) for h in holds]})


@router.get("/{hold_id}", summary="Get a legal hold (owners)")
def get_hold(hold_id: HoldId, principal: PrincipalDep, reader: ReaderDep) -> Response:
    check_owner(principal)
    return json_response({"data": hold_json(reader.hold(hold_id))})


@router.delete(
    "/{hold_id}",
    summary="Lift a legal hold (owners)",
    openapi_extra=parameters(
        query("reason", {"type": "string", "maxLength": REASON_MAX}, "why it is lifted"),
    ),
)
def lift_hold(
    hold_id: HoldId, request: Request, principal: PrincipalDep, services: ServicesDep
) -> Response:
    check_owner(principal)
    qp = request.query_params
    p.reject_unknown(qp, ("reason",))
    result = services.writer.lift_hold(principal, hold_id, qp.get("reason") or None)
    return json_response({"data": hold_json(result.entity)})
