"""Per-organization settings: declared once, read with their defaults, changed by admins.

    GET   /api/v1/organization/settings   every declared setting, with its effective value
    PATCH /api/v1/organization/settings   {"name": value, ...}; null resets to the default

The settings are options of the readers (the Kantata dialect's retention window and payload
encoding, for instance). Whoever reads a setting declares it here with `declare`, so the
endpoint can validate and document it; values live in the organization's JSON settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body
from starlette.responses import Response

from ..auth import Principal, check_admin
from ..errors import InvalidInput, NotFound
from ..store import Store
from .deps import PrincipalDep, ServicesDep

router = APIRouter(prefix="/api/v1", tags=["organizations"])


@dataclass(frozen=True)
class OrgSetting:
    name: str
    default: Any
    help: str
    check: Callable[[Any], Any]  # the value to store, or ValueError saying what is wrong


DECLARED: dict[str, OrgSetting] = {}


def declare(setting: OrgSetting) -> OrgSetting:
    DECLARED[setting.name] = setting
    return setting


def int_setting(name: str, default: int, lo: int, hi: int, help_text: str) -> OrgSetting:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ValueError(f"an integer from {lo} to {hi}")
        return value

    return declare(OrgSetting(name, default, help_text, check))


def choice_setting(name: str, default: str, choices: Sequence[str], help_text: str) -> OrgSetting:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError("one of " + ", ".join(repr(c) for c in choices))
        return str(value)

    return declare(OrgSetting(name, default, help_text, check))


def org_settings(store: Store, org_id: int) -> dict[str, Any]:
    """Every declared setting of an organization: its stored value, else the default."""
    org = store.get_org(org_id)
    if org is None:
        raise NotFound(f"organization {org_id} does not exist")
    return {
        name: org.settings.get(name, setting.default) for name, setting in sorted(DECLARED.items())
    }


def _response(store: Store, principal: Principal) -> Response:
    body = {
        "data": org_settings(store, principal.org_id),
        "settings": [
            {"name": s.name, "default": s.default, "help": s.help}
            for _, s in sorted(DECLARED.items())
        ],
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/organization/settings",
    summary="Organization settings (admins)",
    description="Every declared setting with its value, and what each one does.",
)
def get_settings(services: ServicesDep, principal: PrincipalDep) -> Response:
    check_admin(principal)
    return _response(services.store, principal)


@router.patch(
    "/organization/settings",
    summary="Change organization settings (admins)",
    description='Body: {"name": value, ...}; null puts a setting back to its default.',
)
def patch_settings(
    body: Annotated[dict[str, Any], Body()], services: ServicesDep, principal: PrincipalDep
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
    services.store.update_org_settings(principal.org_id, values)
    return _response(services.store, principal)
