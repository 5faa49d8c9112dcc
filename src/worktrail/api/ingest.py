"""POST /api/v1/changes: sidecar ingest of snapshots and explicit changes."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from .. import metrics
from ..errors import InvalidInput
from ..web.deps import PrincipalDep, ServicesDep
from ..web.jsonbody import json_object
from ..web.openapi import content, header, parameters
from ..web.render import event_json
from ..write import IngestResult
from .schemas import INGEST_BODY, INGEST_RESULT, request_body

router = APIRouter(prefix="/api/v1", tags=["ingest"])


@router.post(
    "/changes",
    summary="Record changes from an application (batch, idempotent)",
    description=(
        'Body: {"records": [...]} with up to 1,000 records. Each record is '
        "{op: snapshot|change|delete|restore, type, id, state | changes, occurred_at?, actor?, "
        "idempotency_key?}. All-or-nothing: one invalid record rejects the batch (422, "
        "naming each bad record). A known idempotency key returns the original event. "
        "With `Prefer: return=minimal` each result's event is only its id, seq and hash."
    ),
    openapi_extra={
        **request_body(INGEST_BODY),
        **parameters(
            header("Prefer", {"type": "string"}, "return=minimal: each event as id, seq, hash")
        ),
    },
    responses={
        200: {
            "description": "each record's outcome, in order",
            "content": content("application/json", schema=INGEST_RESULT),
        }
    },
)
def post_changes(
    request: Request,
    principal: PrincipalDep,
    body: Annotated[dict[str, Any], Depends(json_object)],
    services: ServicesDep,
) -> Response:
    extra = sorted(set(body) - {"records"})
    if extra:
        raise InvalidInput(f'unknown key(s) {", ".join(extra)}; send {{"records": [...]}}')
    records = body.get("records")
    if not isinstance(records, list):
        raise InvalidInput("'records' must be a list of records")
    results = services.writer.ingest(principal, records, services.settings.ingest_batch_max)
    metrics.INGEST_BATCH.observe(len(records))
    recorded = sum(1 for r in results if r.status == "recorded")
    minimal = wants_minimal(request.headers.get("prefer", ""))
    return Response(
        orjson.dumps(
            {"recorded": recorded, "results": [_result_json(r, minimal) for r in results]}
        ),
        media_type="application/json",
        headers={"Preference-Applied": "return=minimal"} if minimal else None,
    )


def wants_minimal(prefer: str) -> bool:
    """Whether a Prefer header (RFC 7240) asks for return=minimal."""
    for preference in prefer.split(","):
        name, _, value = preference.split(";")[0].partition("=")
        if name.strip().lower() == "return" and value.strip().strip('"').lower() == "minimal":
            return True
    return False


def _result_json(result: IngestResult, minimal: bool = False) -> dict[str, Any]:
    entity = result.entity
    event = result.event
    if minimal:  # what a bulk loader keeps: where each record went, not its whole event
        rendered = {"id": event.id, "seq": event.seq, "hash": event.hash} if event else None
    else:
        rendered = event_json(event) if event else None
    return {
        "index": result.index,
        "status": result.status,
        "entity": {"type": entity.type.value, "id": entity.id, "external_id": entity.external_id}
        if entity
        else None,
        "event": rendered,
    }
