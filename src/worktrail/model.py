"""The canonical event and the entity types it speaks about.

Everything here is plain data: frozen dataclasses and tables describing the entity types.
Which fields each type has, which of them hold sets of values (followers, tags, members),
which hold references to other entities, and which one names the parent in the hierarchy
organization → workspace → project → task → (subtask) → comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple


class EntityType(StrEnum):
    ORGANIZATION = "organization"
    USER = "user"
    WORKSPACE = "workspace"
    PROJECT = "project"
    TASK = "task"
    COMMENT = "comment"


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    RESTORED = "restored"
    CLOSED = "closed"
    REOPENED = "reopened"


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
}

State = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One field-level change: scalar (old/new) or multi-value (added/removed)."""

    field: str
    old: Any = None
    new: Any = None
    added: tuple[Any, ...] | None = None
    removed: tuple[Any, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        if self.added is not None or self.removed is not None:
            return {
                "field": self.field,
                "added": list(self.added or ()),
                "removed": list(self.removed or ()),
            }
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Actor:
    id: int
    name: str
    email: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email}


@dataclass(frozen=True)
class Scope:
    type: EntityType
    id: int

    def __str__(self) -> str:
        return f"{self.type._value_}:{self.id}"  # _value_: .value is a slower property


class StoredEvent(NamedTuple):
    """An event as the store holds it: its columns and its JSON document (actor, changes,
    before, after, context, scopes), unparsed. Readers that only pass events on (exports,
    pages of the native API) render these without building an `Event`."""

    org_id: int
    seq: int
    occurred_at: int
    recorded_at: int
    action: str
    subject_type: str
    subject_id: int
    idempotency_key: str | None
    schema_version: int
    prev_hash: str
    hash: str
    data: str


@dataclass(frozen=True)
class Event:
    """An immutable, committed event: one change to one entity."""

    org_id: int
    seq: int
    occurred_at: int  # microseconds since the epoch, UTC
    recorded_at: int
    actor: Actor | None
    action: Action
    subject_type: EntityType
    subject_id: int
    changes: tuple[dict[str, Any], ...]
    before: State | None
    after: State | None
    context: dict[str, Any]
    scopes: tuple[Scope, ...]
    idempotency_key: str | None
    prev_hash: str
    hash: str
    schema_version: int = 1

    @property
    def id(self) -> int:
        return event_id(self.org_id, self.seq)


@dataclass
class NewEvent:
    """An event about to be appended; the store gives it its seq and hash link."""

    action: Action
    subject_type: EntityType
    subject_id: int
    changes: list[dict[str, Any]]
    before: State | None
    after: State | None
    scopes: list[Scope]
    actor: Actor | None
    occurred_at: int
    context: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


MAX_ID = 2**62  # ids above this are never issued; larger ones in requests are unknown ids

# Public event ids are globally unique without a second counter: the organization id in the
# high bits, the organization's seq in the low 40 bits (a trillion events per organization).
SEQ_BITS = 40
SEQ_MASK = (1 << SEQ_BITS) - 1


def event_id(org_id: int, seq: int) -> int:
    return (org_id << SEQ_BITS) | seq


def split_event_id(eid: int) -> tuple[int, int]:
    return eid >> SEQ_BITS, eid & SEQ_MASK


def entity_hex_id(entity_id: int, created_at: int) -> str:
    """An entity's 24-hex id, shaped like a MongoDB ObjectId for readers that expect one
    (Yandex Tracker): the creation second in 8 hex digits, then the entity id in 16. Stable,
    unique, and the entity id reads back from the last 16 digits."""
    return f"{(created_at // 1_000_000) & 0xFFFFFFFF:08x}{entity_id:016x}"
