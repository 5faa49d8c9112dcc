"""The canonical event: one immutable change to one entity, and its public id."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from .entities import EntityType, Scope, State


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    RESTORED = "restored"
    CLOSED = "closed"
    REOPENED = "reopened"


@dataclass(frozen=True)
class Actor:
    id: int
    name: str
    email: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email}


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
    # the pointers of its personal values, each with its salt or, erased, its commitment
    # (JSON; None when it has none: integrity/commitments.py)
    personal: str | None = None


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
    personal: dict[str, Any] | None = None  # see StoredEvent.personal

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


# Public event ids are globally unique without a second counter: the organization id in the
# high bits, the organization's seq in the low 40 bits (a trillion events per organization).
SEQ_BITS = 40
SEQ_MASK = (1 << SEQ_BITS) - 1


def event_id(org_id: int, seq: int) -> int:
    return (org_id << SEQ_BITS) | seq


def split_event_id(eid: int) -> tuple[int, int]:
    return eid >> SEQ_BITS, eid & SEQ_MASK
