"""The tamper-evident hash chain: each event's hash covers its canonical serialization,
which includes the previous event's hash in the same organization."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

GENESIS_HASH = "0" * 64


def canonical_bytes(body: dict[str, Any]) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def event_hash(body: dict[str, Any]) -> str:
    """SHA-256 over the canonical serialization of an event body (without its own hash)."""
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def hash_body(
    *,
    org_id: int,
    seq: int,
    occurred_at: int,
    recorded_at: int,
    actor: dict[str, Any] | None,
    action: str,
    subject_type: str,
    subject_id: int,
    changes: Any,
    before: Any,
    after: Any,
    context: Any,
    scopes: list[str],
    idempotency_key: str | None,
    schema_version: int,
    prev_hash: str,
) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "seq": seq,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "actor": actor,
        "action": action,
        "subject": [subject_type, subject_id],
        "changes": changes,
        "before": before,
        "after": after,
        "context": context,
        "scopes": scopes,
        "idempotency_key": idempotency_key,
        "schema_version": schema_version,
        "prev_hash": prev_hash,
    }
