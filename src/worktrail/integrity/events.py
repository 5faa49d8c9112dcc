"""What an event's hash covers (chain.hash_body), rebuilt from where events are found: a
stored row, or the event as the native API renders it (GET /api/v1/events/{id}). Personal
values enter it as their commitments (commitments.py): computed from the value and its
salt, or kept as they are for an erased value."""

from __future__ import annotations

from typing import Any

import orjson

from ..chain import hash_body
from ..diff import datetime_to_micros, parse_datetime
from ..model import StoredEvent
from .commitments import BadCommitment, committed

DOCUMENT_KEYS = ("actor", "changes", "before", "after", "context", "scopes")


class UnreadableEvent(ValueError):
    """An event whose stored or rendered form cannot be what was hashed: the message says
    what is wrong with it."""


def stored_body(event: StoredEvent) -> dict[str, Any]:
    """The hashed body of a stored event row."""
    try:
        document = orjson.loads(event.data)
    except orjson.JSONDecodeError as exc:
        raise UnreadableEvent(f"its stored document is not valid JSON ({exc})")
    if not isinstance(document, dict):
        raise UnreadableEvent("its stored document is not a JSON object")
    if event.personal:
        try:
            document = committed(document, orjson.loads(event.personal))
        except (orjson.JSONDecodeError, BadCommitment) as exc:
            raise UnreadableEvent(f"its personal values cannot be committed: {exc}")
    return hash_body(
        org_id=event.org_id,
        seq=event.seq,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        actor=document.get("actor"),
        action=event.action,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        changes=document.get("changes"),
        before=document.get("before"),
        after=document.get("after"),
        context=document.get("context"),
        scopes=document.get("scopes"),
        idempotency_key=event.idempotency_key,
        schema_version=event.schema_version,
        prev_hash=event.prev_hash,
    )


def rendered_body(event: dict[str, Any]) -> dict[str, Any]:
    """The hashed body of an event as the native API renders it (its times as ISO 8601
    with microseconds, its subject as an object)."""
    try:
        subject = event["subject"]
        event = _committed(event)
        return hash_body(
            org_id=event["org_id"],
            seq=event["seq"],
            occurred_at=datetime_to_micros(parse_datetime(event["occurred_at"])),
            recorded_at=datetime_to_micros(parse_datetime(event["recorded_at"])),
            actor=event["actor"],
            action=event["action"],
            subject_type=subject["type"],
            subject_id=subject["id"],
            changes=event["changes"],
            before=event.get("before"),
            after=event.get("after"),
            context=event["context"],
            scopes=event["scopes"],
            idempotency_key=event.get("idempotency_key"),
            schema_version=event.get("schema_version", 1),
            prev_hash=event["prev_hash"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableEvent(f"not an event as the API renders it: {exc!r}")


def _committed(event: dict[str, Any]) -> dict[str, Any]:
    personal = event.get("personal")
    if not personal:
        return event
    try:
        return committed(event, personal)
    except BadCommitment as exc:
        raise UnreadableEvent(f"its personal values cannot be committed: {exc}")
