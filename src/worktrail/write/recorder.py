"""The Recorder: one entity's new state → stored state plus one event, inside a write
transaction that holds the organization's append lock. It computes the field-level diff,
checks references and permissions, writes the new state and appends the event with its
scopes (the subject and its ancestors at the time of the event; a move is recorded under
the old and the new ancestors). Commands (commands.py), sidecar ingest (ingest.py) and
organization setup (organizations.py) all write through it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..auth import Principal
from ..context import current_request
from ..diff import diff_states, initial_state
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..model import (
    ENTITY_SPECS,
    LOCATION_FIELDS,
    Action,
    Actor,
    EntityRow,
    EntityType,
    Event,
    NewEvent,
    Role,
    Scope,
    State,
)
from ..store import WriteTransaction

MAX_DEPTH = 32
ADMIN_TYPES = (
    EntityType.ORGANIZATION,
    EntityType.USER,
    EntityType.WORKSPACE,
    EntityType.WEBHOOK,
    EntityType.LEGAL_HOLD,
)


@dataclass(frozen=True)
class WriteResult:
    entity: EntityRow
    event: Event | None  # None when nothing changed


def apply_patch(entity_type: EntityType, state: State, patch: State) -> State:
    new = {**state, **patch}
    if entity_type is EntityType.TASK:
        # A task lies either in a project or under a parent task: setting one clears the other.
        if patch.get("parent") and "project" not in patch:
            new["project"] = None
        if patch.get("project") and "parent" not in patch:
            new["parent"] = None
    return new


class Recorder:
    """Turns a new state of one entity into stored state plus one event, inside `tx`."""

    def __init__(
        self,
        tx: WriteTransaction,
        principal: Principal | None,
        *,
        actor: Actor | None = None,
        source: str | None = None,
    ) -> None:
        self.tx = tx
        self.principal = principal
        self.actor = actor if actor is not None or principal is None else principal.actor
        self.source = source
        self._context: dict[str, Any] | None = None  # the request's, once per recorder

    def load(self, entity_type: EntityType, entity_id: int) -> EntityRow:
        entity = self.tx.get_entity(entity_id)
        if entity is None or entity.type is not entity_type:
            raise NotFound(f"{entity_type.value} {entity_id} does not exist")
        if self.principal is not None and not self.principal.is_admin:
            workspace = (
                entity.id
                if entity.type is EntityType.WORKSPACE
                else self._workspace(entity.type, entity.state)
            )
            self._check_member_access(entity.type, [workspace])
        return entity

    @staticmethod
    def check_not_deleted(entity: EntityRow) -> None:
        if entity.deleted:
            raise Conflict(f"{entity.type.value} {entity.id} is deleted; restore it first")

    def record(
        self,
        entity_type: EntityType,
        entity: EntityRow | None,
        state: State,
        *,
        action: Action | None = None,
        occurred_at: int | None = None,
        idempotency_key: str | None = None,
        external_id: str | None = None,
        actor: Actor | bool | None = False,
        context: dict[str, Any] | None = None,
    ) -> WriteResult:
        """Record `state` as the entity's new state; `context` adds members to the
        request's context in the event."""
        old = entity.state if entity is not None else initial_state(entity_type)
        changes = diff_states(entity_type, old, state) if action is None else []
        if entity is None:
            action = Action.CREATED
        elif action is None:
            if not changes:
                return WriteResult(entity, None)
            action = _action_for(changes)
        changed = {c["field"].split(".")[0] for c in changes}
        self._check_references(entity_type, entity, state, changed)
        new_anc = self.ancestors(entity_type, state)
        scopes_old: list[Scope] = []
        if entity is not None and changed & LOCATION_FIELDS:
            scopes_old = self.ancestors(entity_type, entity.state)
        if self.principal is not None:
            self._authorize(entity_type, state, new_anc, scopes_old)
        container = _container(entity_type, state)
        deleted = action is Action.DELETED or (
            entity is not None and entity.deleted and action is not Action.RESTORED
        )
        if entity is None:
            entity = self.tx.insert_entity(entity_type, state, container, external_id)
        else:
            entity = self.tx.update_entity(entity, state, container, deleted)
        event_actor = self.actor if actor is False else actor
        assert event_actor is None or isinstance(event_actor, Actor)
        event = self.tx.append(
            NewEvent(
                action=action,
                subject_type=entity_type,
                subject_id=entity.id,
                changes=changes,
                before=None if action is Action.CREATED else old,
                after=state,
                scopes=[Scope(entity_type, entity.id), *new_anc, *scopes_old],
                actor=event_actor,
                occurred_at=occurred_at if occurred_at is not None else self.tx.now,
                context={**self._request_context(), **context}
                if context
                else self._request_context(),
                idempotency_key=idempotency_key,
            )
        )
        return WriteResult(entity, event)

    def _request_context(self) -> dict[str, Any]:
        if self._context is None:
            self._context = current_request.get().to_json(self.source)
        return self._context

    # -- hierarchy -----------------------------------------------------------------------

    def ancestors(self, entity_type: EntityType, state: State, depth: int = 0) -> list[Scope]:
        """The entity's containers from nearest to farthest, as they are now."""
        if depth > MAX_DEPTH:
            raise InvalidInput("the task hierarchy is too deep")
        if entity_type is EntityType.PROJECT:
            return [Scope(EntityType.WORKSPACE, state["workspace"])]
        if entity_type is EntityType.TASK:
            if state.get("parent"):
                parent = self._ref(EntityType.TASK, state["parent"], "parent")
                return [
                    Scope(EntityType.TASK, parent.id),
                    *self.ancestors(EntityType.TASK, parent.state, depth + 1),
                ]
            project = self._ref(EntityType.PROJECT, state["project"], "project")
            return [
                Scope(EntityType.PROJECT, project.id),
                *self.ancestors(EntityType.PROJECT, project.state, depth + 1),
            ]
        if entity_type is EntityType.COMMENT:
            task = self._ref(EntityType.TASK, state["task"], "task")
            return [
                Scope(EntityType.TASK, task.id),
                *self.ancestors(EntityType.TASK, task.state, depth + 1),
            ]
        return []

    def _workspace(self, entity_type: EntityType, state: State) -> int | None:
        for scope in self.ancestors(entity_type, state):
            if scope.type is EntityType.WORKSPACE:
                return scope.id
        return None

    def _ref(self, entity_type: EntityType, entity_id: Any, field: str) -> EntityRow:
        entity = self.tx.get_entity(entity_id) if isinstance(entity_id, int) else None
        if entity is None or entity.type is not entity_type:
            raise InvalidInput(
                f"field '{field}' refers to {entity_type.value} {entity_id}, which does not exist",
                field=field,
            )
        return entity

    def _check_references(
        self, entity_type: EntityType, entity: EntityRow | None, state: State, changed: set[str]
    ) -> None:
        spec = ENTITY_SPECS[entity_type]
        old = entity.state if entity is not None else {}
        for name in changed:
            field = spec.fields[name]
            if field.ref is None:
                continue
            values = state.get(name)
            if field.multi:
                new_ids = set(values or []) - set(old.get(name) or [])
            else:
                new_ids = {values} if values is not None else set()
            for ref_id in sorted(new_ids):
                target = self._ref(field.ref, ref_id, name)
                if target.deleted:
                    raise InvalidInput(
                        f"field '{name}' refers to deleted {field.ref.value} {ref_id}", field=name
                    )
        if entity_type is EntityType.TASK:
            self._check_task_location(entity, state)

    def _check_task_location(self, entity: EntityRow | None, state: State) -> None:
        if bool(state.get("project")) == bool(state.get("parent")):
            raise InvalidInput(
                "a task lies in exactly one place: give 'project' for a task "
                "or 'parent' for a subtask",
                field="project",
            )
        parent_id = state.get("parent")
        if entity is not None and parent_id:
            current = self.tx.get_entity(parent_id)
            for _ in range(MAX_DEPTH + 1):
                if current is None:
                    break
                if current.id == entity.id:
                    raise InvalidInput(
                        f"task {entity.id} cannot be moved under its own subtask", field="parent"
                    )
                next_parent = current.state.get("parent")
                current = self.tx.get_entity(next_parent) if next_parent else None

    # -- permissions ---------------------------------------------------------------------

    def _authorize(
        self,
        entity_type: EntityType,
        state: State,
        new_anc: list[Scope],
        old_anc: list[Scope],
    ) -> None:
        principal = self.principal
        assert principal is not None
        if principal.is_admin:
            return
        if principal.role is Role.GUEST:
            raise Forbidden("guests can read but not change anything")
        if entity_type in ADMIN_TYPES:
            raise Forbidden(f"changing a {entity_type.value} needs an organization admin")
        workspaces = [s.id for s in (*new_anc, *old_anc) if s.type is EntityType.WORKSPACE]
        self._check_member_access(entity_type, workspaces)

    def _check_member_access(
        self, entity_type: EntityType, workspaces: Sequence[int | None]
    ) -> None:
        principal = self.principal
        assert principal is not None
        if principal.is_admin or entity_type in (EntityType.ORGANIZATION, EntityType.USER):
            return
        visible = principal.workspaces
        for ws in workspaces:
            if ws is None or ws not in visible:
                raise NotFound(f"{entity_type.value} not found in a workspace you belong to")


def _action_for(changes: list[dict[str, Any]]) -> Action:
    for change in changes:
        if change["field"] == "completed":
            return Action.CLOSED if change["new"] else Action.REOPENED
    return Action.UPDATED


def _container(entity_type: EntityType, state: State) -> int | None:
    if entity_type is EntityType.TASK:
        return state.get("parent") or state.get("project")
    field = ENTITY_SPECS[entity_type].parent_field
    return state.get(field) if field else None
