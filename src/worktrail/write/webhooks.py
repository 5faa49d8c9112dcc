"""Webhook subscriptions, written as `webhook` entities: creating, changing, pausing,
deleting one is history like any other change (who did it, when, what changed), and what
is secret or bookkeeping goes to its own tables in the same transaction (store/webhooks.py).
Owners and admins only; the delivery worker disables, pauses or deletes as the system."""

from __future__ import annotations

from typing import Any

from ..auth import Principal, check_admin
from ..diff import initial_state, normalize_fields
from ..errors import Conflict
from ..model import Action, EntityRow, EntityType
from ..store import Store
from .recorder import Recorder, WriteResult

WEBHOOK = EntityType.WEBHOOK


def create(store: Store, principal: Principal, values: dict[str, Any], secret: str) -> WriteResult:
    """A new subscription, active, with its secret; events after this one are owed to it."""
    check_admin(principal)
    state = {
        **initial_state(WEBHOOK),
        **normalize_fields(WEBHOOK, {"status": "active", **values}, partial=False),
    }
    with store.write(principal.org_id) as tx:
        result = Recorder(tx, principal).record(WEBHOOK, None, state)
        store.webhooks.open(tx, result.entity.id, state["kind"], secret)
    return result


def update(
    store: Store, principal: Principal, webhook_id: int, values: dict[str, Any]
) -> WriteResult:
    """New settings; a subscription made active again has what it failed to deliver
    delivered after all (nothing is skipped)."""
    check_admin(principal)
    patch = normalize_fields(WEBHOOK, values, partial=True)
    with store.write(principal.org_id) as tx:
        rec = Recorder(tx, principal)
        entity = _live(rec, webhook_id)
        state = {**entity.state, **patch}
        if patch.get("status") == "active":
            state["disabled_reason"] = None
            if entity.state.get("status") == "disabled":
                store.webhooks.revive(tx, webhook_id)
        store.webhooks.set_active(tx, webhook_id, state["status"] == "active")
        return rec.record(WEBHOOK, entity, state)


def delete(store: Store, principal: Principal, webhook_id: int) -> WriteResult:
    """No more deliveries: the subscription is deleted (its history stays) and what it was
    still owed is cancelled."""
    check_admin(principal)
    with store.write(principal.org_id) as tx:
        rec = Recorder(tx, principal)
        entity = _live(rec, webhook_id)
        store.webhooks.close(tx, webhook_id)
        return rec.record(WEBHOOK, entity, entity.state, action=Action.DELETED)


def rotate_secret(
    store: Store, principal: Principal, webhook_id: int, secret: str, keep_until: int
) -> EntityRow:
    """A new secret; the current one signs beside it until `keep_until`."""
    check_admin(principal)
    with store.write(principal.org_id) as tx:
        entity = _live(Recorder(tx, principal), webhook_id)
        store.webhooks.rotate(tx, webhook_id, secret, keep_until)
    return entity


def rewind(store: Store, principal: Principal, webhook_id: int, position: int) -> EntityRow:
    """Deliver again every matching event after `position` (a replay)."""
    check_admin(principal)
    with store.write(principal.org_id) as tx:
        entity = _live(Recorder(tx, principal), webhook_id)
        store.webhooks.rewind(tx, webhook_id, position)
    return entity


def set_status(
    store: Store, org_id: int, webhook_id: int, status: str, reason: str
) -> WriteResult | None:
    """The system's own change of a subscription (the worker disabling or pausing it after
    failures), recorded as history without an actor; None if it is gone or already so."""
    with store.write(org_id) as tx:
        rec = Recorder(tx, None, actor=None, source="system")
        entity = tx.get_entity(webhook_id)
        if entity is None or entity.type is not WEBHOOK or entity.deleted:
            return None
        if entity.state.get("status") == status:
            return None
        state = {**entity.state, "status": status, "disabled_reason": reason[:1000]}
        store.webhooks.set_active(tx, webhook_id, status == "active")
        return rec.record(WEBHOOK, entity, state)


def remove(store: Store, org_id: int, webhook_id: int, reason: str) -> WriteResult | None:
    """The system's deletion of a subscription (a vendor's policy: Asana deletes a webhook
    whose deliveries failed for a day)."""
    with store.write(org_id) as tx:
        rec = Recorder(tx, None, actor=None, source="system")
        entity = tx.get_entity(webhook_id)
        if entity is None or entity.type is not WEBHOOK or entity.deleted:
            return None
        store.webhooks.close(tx, webhook_id)
        state = {**entity.state, "disabled_reason": reason[:1000]}
        return rec.record(WEBHOOK, entity, state, action=Action.DELETED)


def _live(rec: Recorder, webhook_id: int) -> EntityRow:
    entity = rec.load(WEBHOOK, webhook_id)
    if entity.deleted:
        raise Conflict(f"webhook {webhook_id} is deleted")
    return entity
