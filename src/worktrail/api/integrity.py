"""Integrity: signed checkpoints of the organization's Merkle tree, inclusion proofs of
events and consistency proofs between tree sizes (docs/integrity.md has the formats).

    GET  /api/v1/integrity/key                  the verifier keys of the organization's log,
                                                text/plain: the current key first
    GET  /api/v1/integrity/checkpoint           the latest signed checkpoint, text/plain
    POST /api/v1/integrity/checkpoint           (owners, admins) issue one now and return it
    GET  /api/v1/integrity/consistency?first=M&second=N
                                                the tree of M events is a prefix of that of N
    GET  /api/v1/events/{id}/proof?tree_size=N  the event, its audit path and the checkpoint
                                                of tree size N (default: the latest)

Checkpoints and proofs show hashes only: every member may read them; an event's proof,
whoever may read the event.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from ..auth import check_admin
from ..errors import BadRequest, NotFound
from ..integrity.merkle import leaf_hash
from ..integrity.note import VerifierKey
from ..model import SEQ_MASK, split_event_id
from ..web import params as p
from ..web.deps import PrincipalDep, ReaderDep, ServicesDep
from ..web.openapi import content, parameters, query
from ..web.render import event_json
from .schemas import EVENT

router = APIRouter(prefix="/api/v1", tags=["integrity"])

TEXT = "text/plain; charset=utf-8"
BASE64: dict[str, Any] = {"type": "string", "contentEncoding": "base64"}
SIZE: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": SEQ_MASK}
PROOF: dict[str, Any] = {
    "type": "object",
    "required": ["leaf_index", "tree_size", "leaf_hash", "audit_path", "checkpoint", "event"],
    "properties": {
        "leaf_index": {"type": "integer", "description": "the event's seq - 1"},
        "tree_size": {"type": "integer"},
        "leaf_hash": {**BASE64, "description": "SHA-256(0x00 ‖ the event's hash)"},
        "audit_path": {"type": "array", "items": BASE64},
        "checkpoint": {"type": "string", "description": "the signed checkpoint of tree_size"},
        "event": EVENT,
    },
}
CONSISTENCY: dict[str, Any] = {
    "type": "object",
    "required": ["first", "second", "proof"],
    "properties": {
        "first": {"type": "integer"},
        "second": {"type": "integer"},
        "proof": {"type": "array", "items": BASE64},
    },
}


def _text(body: str) -> Response:
    return Response(body, media_type=TEXT)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _size(request: Request, name: str, *, required: bool) -> int | None:
    value = p.int_param(request.query_params, name, None, 0, SEQ_MASK)
    if value is None and required:
        raise BadRequest(f"'{name}' is required")
    return value


@router.get(
    "/integrity/key",
    summary="Checkpoint verifier keys",
    description="The C2SP signed-note verifier keys of the organization's log, one a line: "
    "the current key first, then retired ones (what they signed still verifies).",
    responses={
        200: {"description": "verifier keys", "content": content(TEXT, schema={"type": "string"})}
    },
)
def verifier_keys(request: Request, services: ServicesDep, reader: ReaderDep) -> Response:
    p.reject_unknown(request.query_params, ())
    name = services.notary.origin(reader.org_id)
    keys = reader.signing_keys()
    if not keys:
        raise NotFound("this server has no checkpoint signing key yet")
    return _text("".join(VerifierKey(name, k.public_key).line() + "\n" for k in keys))


CHECKPOINT_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "a signed checkpoint (c2sp.org/tlog-checkpoint)",
        "content": content(TEXT, schema={"type": "string"}),
    }
}


@router.get(
    "/integrity/checkpoint",
    summary="Latest checkpoint",
    responses=CHECKPOINT_RESPONSE,
)
def latest_checkpoint(request: Request, reader: ReaderDep) -> Response:
    p.reject_unknown(request.query_params, ())
    return _text(reader.checkpoint().note)


@router.post(
    "/integrity/checkpoint",
    summary="Issue a checkpoint now (admins)",
    description="Signs the tree as it is now; when it has not grown since the latest "
    "checkpoint, that one is returned.",
    responses=CHECKPOINT_RESPONSE,
)
def issue_checkpoint(request: Request, services: ServicesDep, principal: PrincipalDep) -> Response:
    p.reject_unknown(request.query_params, ())
    check_admin(principal)
    return _text(services.notary.issue(principal.org_id).note)


@router.get(
    "/integrity/consistency",
    summary="Consistency proof",
    openapi_extra=parameters(
        query("first", SIZE, "the smaller tree size (at least 1)", required=True),
        query("second", SIZE, "the larger tree size (at most the tree's size now)", required=True),
    ),
    responses={
        200: {
            "description": "the proof",
            "content": content("application/json", schema=CONSISTENCY),
        }
    },
)
def consistency(request: Request, reader: ReaderDep) -> Response:
    p.reject_unknown(request.query_params, ("first", "second"))
    first = _size(request, "first", required=True)
    second = _size(request, "second", required=True)
    assert first is not None and second is not None
    proof = reader.consistency_proof(first, second)
    body = {"first": first, "second": second, "proof": [_b64(h) for h in proof]}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/events/{event_id}/proof",
    summary="Inclusion proof of an event",
    openapi_extra=parameters(
        query("tree_size", SIZE, "a tree size with a checkpoint (default: the latest)")
    ),
    responses={
        200: {"description": "the proof", "content": content("application/json", schema=PROOF)}
    },
)
def event_proof(event_id: str, request: Request, reader: ReaderDep) -> Response:
    p.reject_unknown(request.query_params, ("tree_size",))
    if not (event_id.isascii() and event_id.isdigit()) or len(event_id) > 19:
        raise NotFound(f"event {event_id} does not exist")
    org_id, seq = split_event_id(int(event_id))
    if org_id != reader.org_id or seq == 0:
        raise NotFound(f"event {event_id} does not exist")
    tree_size = _size(request, "tree_size", required=False)
    event, checkpoint, path = reader.inclusion_proof(seq, tree_size)
    body = {
        "leaf_index": seq - 1,
        "tree_size": checkpoint.tree_size,
        "leaf_hash": _b64(leaf_hash(bytes.fromhex(event.hash))),
        "audit_path": [_b64(h) for h in path],
        "checkpoint": checkpoint.note,
        "event": event_json(event),
    }
    return Response(orjson.dumps(body), media_type="application/json")
