"""POST /api/v1/changes: sidecar ingest of snapshots and explicit changes."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body
from starlette.responses import Response

from ..errors import InvalidInput
from ..ingest import ingest
from .deps import PrincipalDep, ServicesDep
from .render import event_json

router = APIRouter(prefix="/api/v1", tags=["ingest"])


@router.post(
    "/changes",
    summary="Record changes from an application (batch, idempotent)",
    description=(
        'Body: {"records": [...]} with up to 1,000 records. Each record is '
        "{op: snapshot|change|delete|restore, type, id, state | changes, occurred_at?, actor?, "
        "idempotency_key?}. All-or-nothing: one invalid record rejects the batch (422, "
        "naming each bad record). A known idempotency key returns the original event."
    ),
)
def post_changes(
    body: Annotated[dict[str, Any], Body()], services: ServicesDep, principal: PrincipalDep
) -> Response:
    extra = sorted(set(body) - {"records"})
    if extra:
        raise InvalidInput(f'unknown key(s) {", ".join(extra)}; send {{"records": [...]}}')
    records = body.get("records")
    if not isinstance(records, list):
        raise InvalidInput("'records' must be a list of records")
    results = ingest(services.store, principal, records, services.settings.ingest_batch_max)
    out = []
    for result in results:
        entity = result.entity
        out.append(
            {
                "index": result.index,
                "status": result.status,
                "entity": {
                    "type": entity.type.value,
                    "id": entity.id,
                    "external_id": entity.external_id,
                }
                if entity
                else None,
                "event": event_json(result.event) if result.event else None,
            }
        )
    recorded = sum(1 for r in results if r.status == "recorded")
    return Response(
        orjson.dumps({"recorded": recorded, "results": out}), media_type="application/json"
    )
