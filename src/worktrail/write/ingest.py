"""Sidecar ingest: an application that keeps its own data sends what changed.

A batch is all-or-nothing: every record is applied in one transaction, and if any record is
invalid the transaction is rolled back and the error names each bad record. Records may
name entities by worktrail id (an integer) or by the application's own id (a string, kept
as the entity's external id); a snapshot of an unknown external id creates the entity.
A record whose idempotency key was seen before returns the original event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..auth import Principal, check_can_write
from ..diff import datetime_to_micros, initial_state, normalize_fields, parse_datetime
from ..errors import InvalidInput, NotFound, WorktrailError
from ..model import ENTITY_SPECS, Action, Actor, EntityRow, EntityType, Event, FieldKind, State
from ..store import Store, WriteTransaction
from .recorder import Recorder, apply_patch

Status = Literal["recorded", "unchanged", "duplicate"]
RECORD_KEYS = {"op", "type", "id", "state", "changes", "occurred_at", "actor", "idempotency_key"}
OPS = ("snapshot", "change", "delete", "restore")
MAX_FUTURE_US = 24 * 3600 * 1_000_000


@dataclass(frozen=True)
class IngestResult:
    index: int
    status: Status
    entity: EntityRow | None
    event: Event | None


class BatchRejected(InvalidInput):
    """At least one record was invalid; nothing was written."""


def ingest(
    store: Store, principal: Principal, records: list[Any], max_batch: int
) -> list[IngestResult]:
    check_can_write(principal)
    if not records:
        raise InvalidInput("the batch is empty: send 'records' with 1 or more items")
    if len(records) > max_batch:
        raise InvalidInput(
            f"the batch has {len(records)} records; at most {max_batch} are allowed per request"
        )
    keys, external, creates = _lookups(records)
    with store.write(principal.org_id) as tx:
        tx.prefetch(keys, external)
        tx.reserve_entity_ids(sum(1 for ref in creates if tx.get_entity_by_external(*ref) is None))
        rec = Recorder(tx, principal, source="ingest")
        results: list[IngestResult] = []
        errors: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            try:
                results.append(_apply_record(rec, principal, index, record))
            except WorktrailError as exc:
                error = {"index": index, "message": exc.detail}
                if "field" in exc.extra:
                    error["field"] = exc.extra["field"]
                errors.append(error)
        if errors:
            raise BatchRejected(
                f"{len(errors)} of {len(records)} records are invalid; nothing was written",
                errors=errors,
            )
        return results


def _lookups(
    records: list[Any],
) -> tuple[list[str], list[tuple[EntityType, str]], set[tuple[EntityType, str]]]:
    """The idempotency keys and external entity ids a batch names, and those of its
    snapshots, which create the entities that do not exist yet (best effort)."""
    keys: list[str] = []
    external: list[tuple[EntityType, str]] = []
    snapshots: set[tuple[EntityType, str]] = set()
    for record in records:
        if not isinstance(record, dict):
            continue
        key = record.get("idempotency_key")
        if isinstance(key, str):
            keys.append(key)
        type_name = record.get("type")
        entity_type = _TYPES.get(type_name) if isinstance(type_name, str) else None
        ident = record.get("id")
        if entity_type is not None and isinstance(ident, str):
            external.append((entity_type, ident))
            if record.get("op", "snapshot") == "snapshot":
                snapshots.add((entity_type, ident))
    return keys, external, snapshots


def _apply_record(rec: Recorder, principal: Principal, index: int, record: Any) -> IngestResult:
    tx = rec.tx
    if not isinstance(record, dict):
        raise InvalidInput("a record must be a JSON object")
    if not RECORD_KEYS.issuperset(record):
        unknown = sorted(set(record) - RECORD_KEYS)
        raise InvalidInput(
            f"unknown key(s) {', '.join(unknown)}; a record has {', '.join(sorted(RECORD_KEYS))}"
        )
    op = record.get("op", "snapshot")
    if op not in OPS:
        raise InvalidInput(f"'op' must be one of {', '.join(OPS)}", field="op")
    entity_type = _entity_type(record.get("type"))
    key = record.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 200):
        raise InvalidInput("'idempotency_key' must be a string of 1 to 200 characters")
    if key is not None:
        original = tx.event_by_key(key)
        if original is not None:
            return IngestResult(index, "duplicate", tx.get_entity(original.subject_id), original)
    occurred_at = _occurred_at(record.get("occurred_at"), tx.now)
    actor = _actor(tx, principal, record)
    entity = _find(tx, entity_type, record.get("id"))
    # actor None is a system change, so it is passed per record, not as the default
    common: dict[str, Any] = {"occurred_at": occurred_at, "idempotency_key": key, "actor": actor}
    if op == "snapshot":
        state = _resolve_refs(tx, entity_type, _object(record, "state"))
        if entity is None:
            external_id = record.get("id")
            full = {
                **initial_state(entity_type),
                **normalize_fields(entity_type, state, partial=False),
            }
            result = rec.record(entity_type, None, full, external_id=external_id, **common)
        else:
            Recorder.check_not_deleted(entity)
            patch = normalize_fields(entity_type, state, partial=True)
            result = rec.record(
                entity_type, entity, apply_patch(entity_type, entity.state, patch), **common
            )
    else:
        if entity is None:
            raise NotFound(f"{entity_type.value} {record.get('id')!r} does not exist", field="id")
        if op == "change":
            Recorder.check_not_deleted(entity)
            new_state = _apply_changes(tx, entity_type, entity.state, record.get("changes"))
            result = rec.record(entity_type, entity, new_state, **common)
        else:
            if entity.deleted == (op == "delete"):
                state_word = "already deleted" if op == "delete" else "not deleted"
                raise InvalidInput(f"{entity_type.value} {entity.id} is {state_word}")
            action = Action.DELETED if op == "delete" else Action.RESTORED
            result = rec.record(entity_type, entity, entity.state, action=action, **common)
    status: Status = "recorded" if result.event is not None else "unchanged"
    return IngestResult(index, status, result.entity, result.event)


# what a sidecar may record: its own entities, not organizations, webhook subscriptions or
# legal holds
ADMIN_ONLY = (EntityType.ORGANIZATION, EntityType.WEBHOOK, EntityType.LEGAL_HOLD)
_TYPES = {t.value: t for t in EntityType if t not in ADMIN_ONLY}


def _entity_type(value: Any) -> EntityType:
    entity_type = _TYPES.get(value) if isinstance(value, str) else None
    if entity_type is None:
        raise InvalidInput(f"'type' must be one of {', '.join(_TYPES)}", field="type")
    return entity_type


def _object(record: dict[str, Any], key: str) -> dict[str, Any]:
    value = record.get(key)
    if not isinstance(value, dict):
        raise InvalidInput(f"'{key}' must be an object", field=key)
    return value


def _find(tx: WriteTransaction, entity_type: EntityType, ident: Any) -> EntityRow | None:
    if isinstance(ident, bool) or not isinstance(ident, (int, str)):
        raise InvalidInput(
            "'id' must be a worktrail id (integer) or your application's id (string)", field="id"
        )
    if isinstance(ident, str):
        if not 0 < len(ident) <= 200:
            raise InvalidInput("'id' must be 1 to 200 characters", field="id")
        return tx.get_entity_by_external(entity_type, ident)
    entity = tx.get_entity(ident)
    if entity is None or entity.type is not entity_type:
        raise NotFound(
            f"{entity_type.value} {ident} does not exist; to create an entity, "
            "send a snapshot with your application's id as a string",
            field="id",
        )
    return entity


def _resolve(tx: WriteTransaction, entity_type: EntityType, ident: Any, field: str) -> Any:
    """An integer id stays; a string is looked up as an external id of `entity_type`."""
    if isinstance(ident, str):
        found = tx.get_entity_by_external(entity_type, ident)
        if found is None:
            raise InvalidInput(
                f"field '{field}' refers to {entity_type.value} {ident!r}, which is unknown",
                field=field,
            )
        return found.id
    return ident


def _resolve_refs(tx: WriteTransaction, entity_type: EntityType, state: State) -> State:
    fields = ENTITY_SPECS[entity_type].fields
    out = dict(state)
    for name, value in state.items():
        spec = fields.get(name)
        if spec is None or spec.ref is None or value is None:
            continue
        if spec.kind is FieldKind.REF_SET and isinstance(value, list):
            out[name] = [_resolve(tx, spec.ref, v, name) for v in value]
        elif spec.kind is FieldKind.REF:
            out[name] = _resolve(tx, spec.ref, value, name)
    return out


def _apply_changes(
    tx: WriteTransaction, entity_type: EntityType, state: State, changes: Any
) -> State:
    if not isinstance(changes, list) or not changes:
        raise InvalidInput("'changes' must be a non-empty list", field="changes")
    fields = ENTITY_SPECS[entity_type].fields
    new = dict(state)
    patch: State = {}
    for change in changes:
        if not isinstance(change, dict) or not isinstance(change.get("field"), str):
            raise InvalidInput("each change must be an object with a 'field'", field="changes")
        name = change["field"]
        spec = fields.get(name)
        if spec is None:
            raise InvalidInput(f"unknown field '{name}' for {entity_type.value}", field=name)
        extra = set(change) - {"field", "old", "new", "added", "removed"}
        if extra:
            raise InvalidInput(f"unknown key(s) in change: {', '.join(sorted(extra))}", field=name)
        if spec.multi:
            added = _resolve_refs(tx, entity_type, {name: change.get("added") or []})[name]
            removed = _resolve_refs(tx, entity_type, {name: change.get("removed") or []})[name]
            normalize_fields(entity_type, {name: added}, partial=True)
            normalize_fields(entity_type, {name: removed}, partial=True)
            patch[name] = sorted((set(new.get(name) or []) | set(added)) - set(removed))
        else:
            if "new" not in change:
                raise InvalidInput(f"change of '{name}' needs 'new'", field=name)
            patch.update(_resolve_refs(tx, entity_type, {name: change["new"]}))
    return apply_patch(entity_type, new, normalize_fields(entity_type, patch, partial=True))


def _occurred_at(value: Any, now: int) -> int:
    if value is None:
        return now
    try:
        micros = datetime_to_micros(parse_datetime(value))
    except (TypeError, ValueError):
        raise InvalidInput(
            "'occurred_at' must be an ISO-8601 date-time with a time zone, "
            "e.g. 2026-01-31T09:30:00Z",
            field="occurred_at",
        )
    if micros > now + MAX_FUTURE_US or micros < 0:
        raise InvalidInput("'occurred_at' is more than a day in the future", field="occurred_at")
    return micros


def _actor(tx: WriteTransaction, principal: Principal, record: dict[str, Any]) -> Actor | None:
    if "actor" not in record:
        return principal.actor
    ident = record["actor"]
    if ident is None:
        return None
    user = _find(tx, EntityType.USER, ident) if isinstance(ident, (int, str)) else None
    if user is None:
        raise InvalidInput(f"'actor' refers to user {ident!r}, which is unknown", field="actor")
    return Actor(user.id, str(user.state.get("name") or ""), str(user.state.get("email") or ""))
