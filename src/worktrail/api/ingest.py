"""POST /api/v1/changes: sidecar ingest of snapshots and explicit changes."""

from __future__ import annotations

import email.message
import json
import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..errors import InvalidInput
from ..web.deps import PrincipalDep, ServicesDep
from ..web.render import event_json
from ..write import IngestResult

router = APIRouter(prefix="/api/v1", tags=["ingest"])

# The request body as FastAPI would document a JSON object body (it is read by hand below).
BODY_SCHEMA = {
    "content": {
        "application/json": {
            "schema": {"additionalProperties": True, "type": "object", "title": "Body"}
        }
    },
    "required": True,
}


async def json_object_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object, parsed with orjson: a batch of 1,000 records is parsed
    several times faster than by the standard library and pydantic validation of every
    value. The rules and errors are FastAPI's for a `dict` body parameter: JSON is read
    when the content type is JSON, and anything else is a 422 naming the body."""
    raw = await request.body()
    if not raw:
        raise _body_error("missing", "Field required")
    content_type = request.headers.get("content-type") or "text/plain"
    if content_type != "application/json":
        message = email.message.Message()
        message["content-type"] = content_type
        subtype = message.get_content_subtype()
        if message.get_content_maintype() != "application" or not (
            subtype == "json" or subtype.endswith("+json")
        ):
            raise _body_error("dict_type", "Input should be a valid dictionary")
    try:
        if _LONG_NUMBER.search(raw):  # orjson reads integers past 64 bits as floats
            raise orjson.JSONDecodeError("a long number", "", 0)
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # what orjson refuses or reads differently (NaN, integers past 64 bits), and the
        # standard library's own message for malformed JSON
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", exc.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": exc.msg},
                    }
                ]
            ) from exc
        except ValueError as exc:  # not UTF-8
            raise HTTPException(400, "There was an error parsing the body") from exc
    if not isinstance(body, dict):
        raise _body_error("dict_type", "Input should be a valid dictionary")
    return body


_LONG_NUMBER = re.compile(rb"[0-9]{20}")


def _body_error(kind: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body",), "msg": message}])


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
    openapi_extra={"requestBody": BODY_SCHEMA},
)
def post_changes(
    request: Request,
    body: Annotated[dict[str, Any], Depends(json_object_body)],
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    extra = sorted(set(body) - {"records"})
    if extra:
        raise InvalidInput(f'unknown key(s) {", ".join(extra)}; send {{"records": [...]}}')
    records = body.get("records")
    if not isinstance(records, list):
        raise InvalidInput("'records' must be a list of records")
    results = services.writer.ingest(principal, records, services.settings.ingest_batch_max)
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
