"""The organization's retention policy, and how far its history is pruned.

    GET /api/v1/organization/retention   (admins) the policy and what retention removed
    PUT /api/v1/organization/retention   (admins) {"retention_days": N | null,
                                          "retention_subject_types": {"comment": 30, ...}}

The policy is two organization settings (also under /api/v1/organization/settings); the
background job (worker/retention.py) and `worktrail retention run` enforce it.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from starlette.responses import Response

from ..auth import check_admin
from ..diff import micros_to_iso
from ..errors import InvalidInput
from ..model import RetentionPolicy
from ..model.retention import check_by_type, check_days
from ..query import Reader
from ..web.deps import PrincipalDep, ReaderDep, ServicesDep
from ..web.jsonbody import json_object
from ..web.org_settings import OrgSetting, declare
from .schemas import request_body

router = APIRouter(prefix="/api/v1", tags=["organizations"])

declare(
    OrgSetting(
        "retention_days",
        None,
        "Days events are kept (null: forever); the retention job removes older ones.",
        check_days,
    )
)
declare(
    OrgSetting(
        "retention_subject_types",
        None,
        'Days per subject type, overriding retention_days ({"comment": 30}; null: forever).',
        check_by_type,
    )
)
FIELDS = ("retention_days", "retention_subject_types")
POLICY_BODY = {
    "type": "object",
    "properties": {
        "retention_days": {"type": ["integer", "null"], "minimum": 1},
        "retention_subject_types": {
            "type": ["object", "null"],
            "additionalProperties": {"type": ["integer", "null"], "minimum": 1},
        },
    },
    "additionalProperties": False,
}


def _policy_response(reader: Reader) -> Response:
    policy = RetentionPolicy.of_settings(reader.org_record().settings)
    ranges = reader.pruned_ranges()
    body: dict[str, Any] = {
        **policy.as_settings(),
        "pruned_through": reader.pruned_through(),
        "pruned_runs": len(ranges),
        "pruned_events_last_seq": max((r.last_seq for r in ranges), default=0),
        "last_pruned_at": (micros_to_iso(max(r.pruned_at for r in ranges)) if ranges else None),
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/organization/retention",
    summary="Retention policy (admins)",
    description="The policy, and how far retention has pruned the history.",
)
def get_retention(principal: PrincipalDep, reader: ReaderDep) -> Response:
    check_admin(principal)
    return _policy_response(reader)


@router.put(
    "/organization/retention",
    summary="Set the retention policy (admins)",
    description=(
        "Body: retention_days (null: forever) and retention_subject_types ({type: days or "
        "null}); a field left out stays as it is."
    ),
    openapi_extra=request_body(POLICY_BODY),
)
def put_retention(
    principal: PrincipalDep,
    body: Annotated[dict[str, Any], Depends(json_object)],
    services: ServicesDep,
    reader: ReaderDep,
) -> Response:
    check_admin(principal)
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    values: dict[str, Any] = {}
    try:
        if "retention_days" in body:
            days = body["retention_days"]
            values["retention_days"] = None if days is None else check_days(days)
        if "retention_subject_types" in body:
            kinds = body["retention_subject_types"]
            values["retention_subject_types"] = check_by_type(kinds) if kinds else None
    except ValueError as exc:
        raise InvalidInput(f"the policy must be {exc}") from exc
    services.writer.update_org_settings(principal, values)
    return _policy_response(reader)
