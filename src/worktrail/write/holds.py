"""Legal holds, written as `legal_hold` entities: placing one creates it (a `created`
event), lifting one deletes it (a `deleted` event, the lift's reason in its context).
While a hold stands, the events of its scope are never pruned or erased (store/holds.py
says which events it holds). Owners only."""

from __future__ import annotations

from ..auth import Principal, check_owner
from ..diff import normalize_fields
from ..errors import Conflict, InvalidInput, NotFound
from ..model import HOLD_SCOPES, Action, EntityRow, EntityType, Scope
from ..store import Store, WriteTransaction
from .recorder import Recorder, WriteResult

HOLD = EntityType.LEGAL_HOLD


def parse_scope(value: object) -> Scope:
    """A hold's scope from a request: `"project:12"` or `{"type": "project", "id": 12}`."""
    if isinstance(value, dict) and set(value) == {"type", "id"}:
        value = f"{value['type']}:{value['id']}"
    if not isinstance(value, str):
        raise InvalidInput(
            '\'scope\' must be TYPE:ID (e.g. project:12) or {"type", "id"}', field="scope"
        )
    try:
        scope = Scope.parse(value)
    except ValueError as exc:
        raise InvalidInput(f"'scope' {exc}", field="scope") from None
    if scope.type.value not in HOLD_SCOPES:
        raise InvalidInput(
            f"a legal hold's scope is one of {', '.join(HOLD_SCOPES)}; got {scope.type.value}",
            field="scope",
        )
    return scope


def _check_scope(tx: WriteTransaction, org_id: int, scope: Scope) -> None:
    if scope.type is EntityType.ORGANIZATION:
        if scope.id != org_id:
            raise NotFound(f"organization {scope.id} is not this organization ({org_id})")
        return
    entity = tx.get_entity(scope.id)
    if entity is None or entity.type is not scope.type:
        raise NotFound(f"cannot hold {scope}: {scope.type.value} {scope.id} does not exist")


def place(store: Store, principal: Principal, scope: Scope, reason: str) -> WriteResult:
    """Place a hold on `scope` for `reason` (required)."""
    check_owner(principal)
    state = normalize_fields(
        HOLD,
        {"scope_type": scope.type.value, "scope_id": scope.id, "reason": reason},
        partial=False,
    )
    with store.write(principal.org_id) as tx:
        _check_scope(tx, principal.org_id, scope)
        return Recorder(tx, principal).record(HOLD, None, state)


def lift(store: Store, principal: Principal, hold_id: int, reason: str | None) -> WriteResult:
    """Lift a hold: its entity is deleted, `reason` (if any) recorded in the event's
    context as `lift_reason`."""
    check_owner(principal)
    if reason is not None and (not isinstance(reason, str) or len(reason) > 2000):
        raise InvalidInput("'reason' must be a string of at most 2000 characters", field="reason")
    with store.write(principal.org_id) as tx:
        rec = Recorder(tx, principal)
        entity = _hold(rec, hold_id)
        if entity.deleted:
            raise Conflict(f"legal hold {hold_id} is already lifted")
        context = {"lift_reason": reason} if reason else None
        return rec.record(HOLD, entity, entity.state, action=Action.DELETED, context=context)


def _hold(rec: Recorder, hold_id: int) -> EntityRow:
    entity = rec.tx.get_entity(hold_id)
    if entity is None or entity.type is not HOLD:
        raise NotFound(f"legal hold {hold_id} does not exist")
    return entity
