"""System-of-record commands: clients change entities through worktrail, which computes
the diffs itself. Each command is one write transaction through the Recorder."""

from __future__ import annotations

import secrets
from typing import Any

from ..auth import Principal, check_admin, check_can_write
from ..diff import initial_state, normalize_fields
from ..errors import Conflict, Forbidden, NotFound
from ..model import ENTITY_SPECS, Action, EntityRow, EntityType, Outcome, Scope
from ..store import Store, TokenChanges, TokenRow
from . import erasure, holds, tokens, webhooks
from .ingest import IngestResult, ingest
from .recorder import Recorder, WriteResult, apply_patch


class Writer:
    """System-of-record commands: create, update, delete, restore, close, reopen, move."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- commands ------------------------------------------------------------------------

    def create(
        self, principal: Principal, entity_type: EntityType, values: dict[str, Any]
    ) -> WriteResult:
        check_can_write(principal)
        if entity_type is EntityType.ORGANIZATION:
            raise Forbidden("organizations are created with `worktrail demo` or the CLI")
        state = {
            **initial_state(entity_type),
            **normalize_fields(entity_type, values, partial=False),
        }
        with self.store.write(principal.org_id) as tx:
            return Recorder(tx, principal).record(entity_type, None, state)

    def update(
        self,
        principal: Principal,
        entity_type: EntityType,
        entity_id: int,
        values: dict[str, Any],
    ) -> WriteResult:
        check_can_write(principal)
        patch = normalize_fields(entity_type, values, partial=True)
        with self.store.write(principal.org_id) as tx:
            rec = Recorder(tx, principal)
            entity = rec.load(entity_type, entity_id)
            rec.check_not_deleted(entity)
            return rec.record(entity_type, entity, apply_patch(entity_type, entity.state, patch))

    def change_set(
        self,
        principal: Principal,
        entity_type: EntityType,
        entity_id: int,
        field: str,
        add: list[Any],
        remove: list[Any],
    ) -> WriteResult:
        """Add and remove values of a multi-value field (followers, tags, members)."""
        check_can_write(principal)
        spec = ENTITY_SPECS[entity_type].fields.get(field)
        if spec is None or not spec.multi:
            raise NotFound(f"{entity_type.value} has no multi-value field '{field}'")
        normalize_fields(entity_type, {field: add}, partial=True)
        normalize_fields(entity_type, {field: remove}, partial=True)
        with self.store.write(principal.org_id) as tx:
            rec = Recorder(tx, principal)
            entity = rec.load(entity_type, entity_id)
            rec.check_not_deleted(entity)
            values = (set(entity.state.get(field) or []) | set(add)) - set(remove)
            return rec.record(entity_type, entity, {**entity.state, field: sorted(values)})

    def delete(self, principal: Principal, entity_type: EntityType, entity_id: int) -> WriteResult:
        check_can_write(principal)
        with self.store.write(principal.org_id) as tx:
            rec = Recorder(tx, principal)
            entity = rec.load(entity_type, entity_id)
            if entity.deleted:
                raise Conflict(f"{entity_type.value} {entity_id} is already deleted")
            return rec.record(entity_type, entity, entity.state, action=Action.DELETED)

    def restore(self, principal: Principal, entity_type: EntityType, entity_id: int) -> WriteResult:
        check_can_write(principal)
        with self.store.write(principal.org_id) as tx:
            rec = Recorder(tx, principal)
            entity = rec.load(entity_type, entity_id)
            if not entity.deleted:
                raise Conflict(f"{entity_type.value} {entity_id} is not deleted")
            return rec.record(entity_type, entity, entity.state, action=Action.RESTORED)

    def set_completed(self, principal: Principal, task_id: int, completed: bool) -> WriteResult:
        """Close (completed=True) or reopen a task."""
        check_can_write(principal)
        with self.store.write(principal.org_id) as tx:
            rec = Recorder(tx, principal)
            entity = rec.load(EntityType.TASK, task_id)
            rec.check_not_deleted(entity)
            if bool(entity.state.get("completed")) == completed:
                word = "closed" if completed else "open"
                raise Conflict(f"task {task_id} is already {word}")
            return rec.record(EntityType.TASK, entity, {**entity.state, "completed": completed})

    def ingest(
        self, principal: Principal, records: list[Any], batch_max: int
    ) -> list[IngestResult]:
        """Sidecar ingest of a batch of records, all or nothing (see ingest.py)."""
        return ingest(self.store, principal, records, batch_max)

    # -- the organization's own record -------------------------------------------------

    def rotate_admin_api_key(self, principal: Principal) -> str:
        """A new admin API key for the principal's organization; the old one stops working."""
        key = secrets.token_hex(16)
        self.store.set_admin_api_key(principal.org_id, key)
        return key

    def update_org_settings(self, principal: Principal, values: dict[str, Any]) -> None:
        """Merge checked setting values into the organization's settings (None: default)."""
        self.store.update_org_settings(principal.org_id, values)

    # -- API tokens (the rules: tokens.py) ---------------------------------------------

    def create_token(
        self, principal: Principal, user_id: int | None, name: str, expires_at: int | None
    ) -> tuple[TokenRow, str]:
        """A new API token for a user of the organization, and its secret (shown once)."""
        return tokens.create(self.store, principal, user_id, name, expires_at)

    def update_token(self, principal: Principal, token_id: int, changes: TokenChanges) -> TokenRow:
        """Rename a token or change its expiry."""
        return tokens.update(self.store, principal, token_id, changes)

    def revoke_token(self, principal: Principal, token_id: int) -> TokenRow:
        """Revoke a token (again: no change, no error)."""
        return tokens.revoke(self.store, principal, token_id)

    # -- webhook subscriptions (the rules: webhooks.py) ----------------------------------

    def create_webhook(
        self, principal: Principal, values: dict[str, Any], secret: str
    ) -> WriteResult:
        """A new webhook subscription with its secret (shown once, by the caller)."""
        return webhooks.create(self.store, principal, values, secret)

    def update_webhook(
        self, principal: Principal, webhook_id: int, values: dict[str, Any]
    ) -> WriteResult:
        return webhooks.update(self.store, principal, webhook_id, values)

    def delete_webhook(self, principal: Principal, webhook_id: int) -> WriteResult:
        return webhooks.delete(self.store, principal, webhook_id)

    def rotate_webhook_secret(
        self, principal: Principal, webhook_id: int, secret: str, keep_until: int
    ) -> EntityRow:
        return webhooks.rotate_secret(self.store, principal, webhook_id, secret, keep_until)

    def record_webhook_attempt(self, principal: Principal, outcome: Outcome) -> None:
        """Put a ping's outcome in its subscription's delivery log."""
        check_admin(principal)
        self.store.webhooks.record([outcome])

    def replay_webhook(self, principal: Principal, webhook_id: int, position: int) -> EntityRow:
        """Deliver again every matching event after `position`."""
        return webhooks.rewind(self.store, principal, webhook_id, position)

    # -- legal holds (the rules: holds.py) ---------------------------------------------

    def place_hold(self, principal: Principal, scope: Scope, reason: str) -> WriteResult:
        """Place a legal hold on a scope: its events are never pruned or erased."""
        return holds.place(self.store, principal, scope, reason)

    def lift_hold(self, principal: Principal, hold_id: int, reason: str | None) -> WriteResult:
        """Lift a legal hold, with an optional reason."""
        return holds.lift(self.store, principal, hold_id, reason)

    # -- erasure (the rules: erasure.py) ------------------------------------------------

    def erase_person(self, principal: Principal, user_id: int) -> dict[str, Any]:
        """Erase a user's personal values from the history; what was erased."""
        return erasure.erase_person(self.store, principal, user_id)
