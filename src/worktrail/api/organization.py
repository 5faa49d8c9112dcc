"""The organization a token belongs to: who it acts as, the organization, its admin API key
and its settings.

    GET   /api/v1/me                                  the token's user, organization and role
    GET   /api/v1/organization                        the organization
    GET   /api/v1/organization/admin-api-key          (owners) the key vendor admin APIs sign with
    POST  /api/v1/organization/admin-api-key/rotate   (owners) a new key; the old one stops working
    GET   /api/v1/organization/settings               (admins) every declared setting and its value
    PATCH /api/v1/organization/settings               (admins) {"name": value}; null: the default
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from starlette.responses import Response

from ..auth import Principal, check_admin
from ..errors import Forbidden, InvalidInput
from ..model import Role
from ..query import Reader
from ..web.deps import PrincipalDep, ReaderDep, ServicesDep
from ..web.jsonbody import json_object
from ..web.org_settings import DECLARED, org_settings
from ..web.render import entity_json
from .schemas import request_body

router = APIRouter(prefix="/api/v1", tags=["organizations"])


def json_response(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/me", summary="Who this token acts as")
def me(principal: PrincipalDep) -> Response:
    return json_response(
        {
            "user": principal.actor.to_json(),
            "org_id": principal.org_id,
            "role": principal.role.value,
        }
    )


@router.get("/organization", summary="Your organization")
def my_organization(reader: ReaderDep) -> Response:
    return json_response({"data": entity_json(reader.organization())})


def _check_owner(principal: Principal, what: str) -> None:
    if principal.role is not Role.OWNER:
        raise Forbidden(f"only the organization's owner can {what} the admin API key")


@router.get("/organization/admin-api-key", summary="Admin API key")
def admin_api_key(principal: PrincipalDep, reader: ReaderDep) -> Response:
    """The organization's admin API key (owners only), used by vendor admin APIs."""
    _check_owner(principal, "read")
    return json_response({"admin_api_key": reader.org_record().admin_api_key})


@router.post("/organization/admin-api-key/rotate", summary="Rotate admin API key")
def rotate_admin_api_key(services: ServicesDep, principal: PrincipalDep) -> Response:
    """Replace the admin API key (owners only); the old key stops working at once."""
    _check_owner(principal, "rotate")
    return json_response({"admin_api_key": services.writer.rotate_admin_api_key(principal)})


def _settings_response(reader: Reader) -> Response:
    body = {
        "data": org_settings(reader),
        "settings": [
            {"name": s.name, "default": s.default, "help": s.help}
            for _, s in sorted(DECLARED.items())
        ],
    }
    return json_response(body)


@router.get(
    "/organization/settings",
    summary="Organization settings (admins)",
    description="Every declared setting with its value, and what each one does.",
)
def get_settings(principal: PrincipalDep, reader: ReaderDep) -> Response:
    check_admin(principal)
    return _settings_response(reader)


@router.patch(
    "/organization/settings",
    summary="Change organization settings (admins)",
    description='Body: {"name": value, ...}; null puts a setting back to its default.',
    openapi_extra=request_body({"type": "object"}),
)
def patch_settings(
    principal: PrincipalDep,
    body: Annotated[dict[str, Any], Depends(json_object)],
    services: ServicesDep,
    reader: ReaderDep,
) -> Response:
    check_admin(principal)
    unknown = sorted(set(body) - set(DECLARED))
    if unknown:
        raise InvalidInput(
            f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(sorted(DECLARED))}",
            field=unknown[0],
        )
    values: dict[str, Any] = {}
    for name, value in body.items():
        try:
            values[name] = None if value is None else DECLARED[name].check(value)
        except ValueError as exc:
            raise InvalidInput(f"setting '{name}' must be {exc}", field=name)
    services.writer.update_org_settings(principal, values)
    return _settings_response(reader)
