"""The entity types worktrail keeps history of, and an entity's current state.

Plain data: frozen dataclasses and tables describing the entity types.
Which fields each type has, which of them hold sets of values (followers, tags, members),
which hold references to other entities, and which one names the parent in the hierarchy
organization → workspace → project → task → (subtask) → comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EntityType(StrEnum):
    ORGANIZATION = "organization"
    USER = "user"
    WORKSPACE = "workspace"
    PROJECT = "project"
    TASK = "task"
    COMMENT = "comment"
    WEBHOOK = "webhook"
    LEGAL_HOLD = "legal_hold"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    GUEST = "guest"


class FieldKind(StrEnum):
    TEXT = "text"
    BOOL = "bool"
    INT = "int"
    DATE = "date"  # YYYY-MM-DD
    DATETIME = "datetime"  # ISO-8601
    REF = "ref"  # id of another entity (see FieldSpec.ref)
    REF_SET = "ref_set"  # set of entity ids
    TAG_SET = "tag_set"  # set of strings
    JSON_MAP = "json_map"  # object of custom fields, diffed per key
    ENUM = "enum"


@dataclass(frozen=True)
class FieldSpec:
    kind: FieldKind
    ref: EntityType | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    max_length: int = 10_000
    # whether the field holds a set of values (read on every diff: a plain attribute)
    multi: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "multi", self.kind in (FieldKind.REF_SET, FieldKind.TAG_SET))


@dataclass(frozen=True)
class EntitySpec:
    type: EntityType
    fields: dict[str, FieldSpec]
    parent_field: str | None = None  # the field that places the entity in the hierarchy
    parent_type: EntityType | None = None
    closable: bool = False


PRIORITIES = ("none", "low", "medium", "high", "urgent")
# how deliveries are shaped: worktrail's own (Standard Webhooks) or a vendor's
WEBHOOK_KINDS = ("native", "asana", "worksection")
WEBHOOK_STATUSES = ("active", "paused", "disabled")
WEBHOOK_SIGNING = ("hmac", "ed25519")
# what a legal hold may cover: the organization, one entity and what lies in it
HOLD_SCOPES = ("organization", "workspace", "project", "task", "comment", "user")
STATUSES = ("open", "in_progress", "blocked", "review", "done")

ENTITY_SPECS: dict[EntityType, EntitySpec] = {
    EntityType.ORGANIZATION: EntitySpec(
        EntityType.ORGANIZATION,
        {
            "name": FieldSpec(FieldKind.TEXT, required=True, max_length=200),
            "timezone": FieldSpec(FieldKind.TEXT, max_length=64),
        },
    ),
    EntityType.USER: EntitySpec(
        EntityType.USER,
        {
            "name": FieldSpec(FieldKind.TEXT, required=True, max_length=200),
            "email": FieldSpec(FieldKind.TEXT, required=True, max_length=320),
            "role": FieldSpec(FieldKind.ENUM, choices=tuple(r.value for r in Role)),
        },
    ),
    EntityType.WORKSPACE: EntitySpec(
        EntityType.WORKSPACE,
        {
            "name": FieldSpec(FieldKind.TEXT, required=True, max_length=200),
            "description": FieldSpec(FieldKind.TEXT),
            "members": FieldSpec(FieldKind.REF_SET, ref=EntityType.USER),
            "locked": FieldSpec(FieldKind.BOOL),
        },
    ),
    EntityType.PROJECT: EntitySpec(
        EntityType.PROJECT,
        {
            "workspace": FieldSpec(FieldKind.REF, ref=EntityType.WORKSPACE, required=True),
            "name": FieldSpec(FieldKind.TEXT, required=True, max_length=500),
            "description": FieldSpec(FieldKind.TEXT),
            "owner": FieldSpec(FieldKind.REF, ref=EntityType.USER),
            "members": FieldSpec(FieldKind.REF_SET, ref=EntityType.USER),
            "archived": FieldSpec(FieldKind.BOOL),
            "due_on": FieldSpec(FieldKind.DATE),
        },
        parent_field="workspace",
        parent_type=EntityType.WORKSPACE,
    ),
    EntityType.TASK: EntitySpec(
        EntityType.TASK,
        {
            # A top-level task lies in a project; a subtask lies in its parent task.
            "project": FieldSpec(FieldKind.REF, ref=EntityType.PROJECT),
            "parent": FieldSpec(FieldKind.REF, ref=EntityType.TASK),
            "name": FieldSpec(FieldKind.TEXT, required=True, max_length=1000),
            "notes": FieldSpec(FieldKind.TEXT),
            "assignee": FieldSpec(FieldKind.REF, ref=EntityType.USER),
            "followers": FieldSpec(FieldKind.REF_SET, ref=EntityType.USER),
            "tags": FieldSpec(FieldKind.TAG_SET),
            "due_on": FieldSpec(FieldKind.DATE),
            "due_at": FieldSpec(FieldKind.DATETIME),
            "priority": FieldSpec(FieldKind.ENUM, choices=PRIORITIES),
            "status": FieldSpec(FieldKind.ENUM, choices=STATUSES),
            "completed": FieldSpec(FieldKind.BOOL),
            "custom_fields": FieldSpec(FieldKind.JSON_MAP),
        },
        parent_field="project",
        parent_type=EntityType.PROJECT,
        closable=True,
    ),
    EntityType.COMMENT: EntitySpec(
        EntityType.COMMENT,
        {
            "task": FieldSpec(FieldKind.REF, ref=EntityType.TASK, required=True),
            "text": FieldSpec(FieldKind.TEXT, required=True, max_length=100_000),
        },
        parent_field="task",
        parent_type=EntityType.TASK,
    ),
    # A webhook subscription: its settings are history like any entity's (who changed the
    # URL, when delivery was disabled and why); its secrets are not (store/webhooks.py).
    EntityType.WEBHOOK: EntitySpec(
        EntityType.WEBHOOK,
        {
            "kind": FieldSpec(FieldKind.ENUM, choices=WEBHOOK_KINDS, required=True),
            "url": FieldSpec(FieldKind.TEXT, required=True, max_length=2000),
            "description": FieldSpec(FieldKind.TEXT, max_length=1000),
            "filter": FieldSpec(FieldKind.JSON_MAP),
            # what a vendor's registration adds (Asana's resource and filters, Worksection's
            # events and projects); never a secret
            "options": FieldSpec(FieldKind.JSON_MAP),
            "status": FieldSpec(FieldKind.ENUM, choices=WEBHOOK_STATUSES, required=True),
            "disabled_reason": FieldSpec(FieldKind.TEXT, max_length=1000),
            "signing": FieldSpec(FieldKind.ENUM, choices=WEBHOOK_SIGNING, required=True),
        },
    ),
    # A legal hold: the events of its scope are never pruned or erased while it stands.
    # Placing one creates it, lifting one deletes it; an active hold is a row of
    # `entities` of this type that is not deleted (retention reads them so).
    EntityType.LEGAL_HOLD: EntitySpec(
        EntityType.LEGAL_HOLD,
        {
            "scope_type": FieldSpec(FieldKind.ENUM, choices=HOLD_SCOPES, required=True),
            "scope_id": FieldSpec(FieldKind.INT, required=True),
            "reason": FieldSpec(FieldKind.TEXT, required=True, max_length=2000),
        },
    ),
}

# Fields whose change moves an entity in the hierarchy (recorded under old and new parents).
LOCATION_FIELDS = frozenset({"workspace", "project", "parent", "task"})

# Plural path segments of the native API, e.g. /api/v1/tasks.
PLURALS: dict[EntityType, str] = {
    EntityType.ORGANIZATION: "organizations",
    EntityType.USER: "users",
    EntityType.WORKSPACE: "workspaces",
    EntityType.PROJECT: "projects",
    EntityType.TASK: "tasks",
    EntityType.COMMENT: "comments",
    EntityType.WEBHOOK: "webhooks",
    EntityType.LEGAL_HOLD: "legal-holds",
}

State = dict[str, Any]


MAX_ID = 2**62  # ids above this are never issued; larger ones in requests are unknown ids


@dataclass(frozen=True)
class Scope:
    """An entity named by its type and id: an event's subject or one of its ancestors."""

    type: EntityType
    id: int

    def __str__(self) -> str:
        return f"{self.type._value_}:{self.id}"  # _value_: .value is a slower property

    @classmethod
    def parse(cls, text: str) -> Scope:
        """`TYPE:ID`, e.g. `project:12`; ValueError saying what is expected otherwise."""
        kind, sep, ident = text.partition(":")
        types = [t.value for t in EntityType]
        well_formed = sep and kind in types and ident.isascii() and ident.isdigit()
        if not well_formed or len(ident) > 19 or int(ident) > MAX_ID:
            raise ValueError(
                f"must look like TYPE:ID, e.g. project:12, with TYPE one of "
                f"{', '.join(types)} and ID at most {MAX_ID}; got {text!r}"
            )
        return cls(EntityType(kind), int(ident))


@dataclass(frozen=True)
class EntityRow:
    """An entity as it is now: its place in the hierarchy (`container_id`) and its state."""

    id: int
    org_id: int
    type: EntityType
    container_id: int | None
    external_id: str | None
    state: State
    deleted: bool
    version: int
    created_at: int
    updated_at: int


def entity_hex_id(entity_id: int, created_at: int) -> str:
    """An entity's 24-hex id, shaped like a MongoDB ObjectId for readers that expect one
    (Yandex Tracker): the creation second in 8 hex digits, then the entity id in 16. Stable,
    unique, and the entity id reads back from the last 16 digits."""
    return f"{(created_at // 1_000_000) & 0xFFFFFFFF:08x}{entity_id:016x}"
