"""Recompute an organization's hash chain and report the first break."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .chain import GENESIS_HASH, event_hash, hash_body
from .model import Event, EventQuery
from .query import Reader
from .store import Store


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    ok: bool
    first_bad_seq: int | None = None
    reason: str = ""


def recompute_hash(event: Event) -> str:
    return event_hash(
        hash_body(
            org_id=event.org_id,
            seq=event.seq,
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            actor=event.actor.to_json() if event.actor else None,
            action=event.action.value,
            subject_type=event.subject_type.value,
            subject_id=event.subject_id,
            changes=list(event.changes),
            before=event.before,
            after=event.after,
            context=event.context,
            scopes=[str(s) for s in event.scopes],
            idempotency_key=event.idempotency_key,
            schema_version=event.schema_version,
            prev_hash=event.prev_hash,
        )
    )


def verify_chain(
    store: Store, org_id: int, progress: Callable[[int], None] | None = None
) -> VerifyResult:
    """Walk the organization's events in seq order: no holes, each link and hash intact."""
    return verify_history(Reader.whole(store, org_id), progress)


def verify_history(reader: Reader, progress: Callable[[int], None] | None = None) -> VerifyResult:
    """verify_chain through a reader of the organization's whole history (the web UI's
    integrity badge runs it so)."""
    org_id = reader.org_id
    expected_prev = GENESIS_HASH
    checked = 0
    for event in reader.iter_events(EventQuery(org_id=org_id, ascending=True, limit=1000)):
        if event.seq != checked + 1:
            return VerifyResult(checked, False, checked + 1, f"seq {checked + 1} is missing")
        if event.prev_hash != expected_prev:
            return VerifyResult(checked, False, event.seq, "prev_hash does not link")
        if recompute_hash(event) != event.hash:
            return VerifyResult(checked, False, event.seq, "content does not match its hash")
        expected_prev = event.hash
        checked += 1
        if progress and checked % 10_000 == 0:
            progress(checked)
    org = reader.org_record()
    if org.last_seq != checked or org.last_hash != expected_prev:
        return VerifyResult(checked, False, checked + 1, "head does not match the last event")
    return VerifyResult(checked, True)
