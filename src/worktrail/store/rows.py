"""The rows the store hands out, and how result rows of its tables become them.

Entities come back as `EntityRow` (worktrail.model), events as `Event` or, for readers that
pass them on without parsing, as `StoredEvent`; organizations and tokens as the records here.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, TypedDict

import orjson

from ..model import Action, Actor, EntityRow, EntityType, Event, Scope
from . import schema as t


@dataclass(frozen=True)
class OrgRow:
    id: int
    last_seq: int
    last_hash: str
    admin_api_key: str
    created_at: int
    settings: dict[str, Any]


@dataclass(frozen=True)
class TokenRow:
    id: int
    org_id: int
    user_id: int
    name: str
    prefix: str
    created_at: int
    last_used_at: int | None
    expires_at: int | None
    revoked_at: int | None


class TokenChanges(TypedDict, total=False):
    """What changing a token may change: its name, its expiry (None: never)."""

    name: str
    expires_at: int | None


@dataclass(frozen=True)
class TokenUser:
    """A token, the user it acts as (None once that user's row is gone) and the workspaces
    that user is a member of: all that authenticating a request needs, read at once."""

    token: TokenRow
    user: EntityRow | None
    workspaces: frozenset[int]
    # how far retention pruned the organization: (pruned prefix's last seq, any pruned run's)
    pruned: tuple[int | None, int | None] = (None, None)
    # with read replicas: the position a replica must have replayed to serve this
    # token's reads (it wrote a moment ago), see replicas.py
    read_floor: int | None = None


@dataclass(frozen=True)
class LocatedEntity:
    """An entity and the workspace it lies in now (None for organizations and users)."""

    entity: EntityRow
    workspace_id: int | None


class Tally(NamedTuple):
    """How many of the events a query matched share an action, a subject type, an actor
    (None: system changes) and a day (days since the epoch, in the reader's zone)."""

    action: str
    subject_type: str
    actor_id: int | None
    day: int
    n: int


# The columns of an event that readers select, in the field order of StoredEvent (every
# column but actor_id, which only the actor index needs: the actor is in the document).
EVENT_READ_COLUMNS = (
    t.events.c.org_id,
    t.events.c.seq,
    t.events.c.occurred_at,
    t.events.c.recorded_at,
    t.events.c.action,
    t.events.c.subject_type,
    t.events.c.subject_id,
    t.events.c.idempotency_key,
    t.events.c.schema_version,
    t.events.c.prev_hash,
    t.events.c.hash,
    t.events.c.data,
    t.events.c.personal,
)
EVENT_READ_NAMES = tuple(c.name for c in EVENT_READ_COLUMNS)
ENTITY_COLUMN_NAMES = tuple(c.name for c in t.entities.columns)
# in the field order of TokenRow
TOKEN_COLUMNS = tuple(
    t.tokens.c[name]
    for name in (
        "id",
        "org_id",
        "user_id",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
)

# a result row shaped like an entities row, from columns selected under other labels
EntityResult = namedtuple("EntityResult", ENTITY_COLUMN_NAMES)  # type: ignore[misc]

# Enum(value) is slow on hot paths (every event read); plain dict lookups are not.
_TYPES = {e.value: e for e in EntityType}
_ACTIONS = {a.value: a for a in Action}
# Scopes parsed once and shared: building a frozen dataclass costs ~10 times a lookup, and
# an event's ancestors (its project, its workspace) repeat from event to event. Every new
# entity that is read adds an entry of ~250 bytes, so the cache forgets the least recently
# used (8,192 entries: ~2 MB). Cleared only at 200,000 entries (~45 MB), it grew a server
# that kept reading new tasks by ~1 MB a minute for the better part of an hour.
SCOPE_CACHE_SIZE = 8192


def entity_from_row(row: Any) -> EntityRow:
    """The EntityRow of a result row of the entities table."""
    return EntityRow(
        id=row.id,
        org_id=row.org_id,
        type=_TYPES[row.type],
        container_id=row.container_id,
        external_id=row.external_id,
        state=orjson.loads(row.state),
        deleted=bool(row.deleted),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def org_from_row(row: Any) -> OrgRow:
    values = dict(row._mapping)
    values["settings"] = orjson.loads(values.get("settings") or "{}")
    return OrgRow(**values)


def event_from_row(row: Any) -> Event:
    """The `Event` of a stored row (a StoredEvent, or a result row of EVENT_READ_COLUMNS)."""
    data = orjson.loads(row.data)
    actor = data.get("actor")
    return Event(
        org_id=row.org_id,
        seq=row.seq,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        actor=Actor(**actor) if actor else None,
        action=_ACTIONS[row.action],
        subject_type=_TYPES[row.subject_type],
        subject_id=row.subject_id,
        changes=tuple(data.get("changes") or ()),
        before=data.get("before"),
        after=data.get("after"),
        context=data.get("context") or {},
        scopes=tuple(parse_scope(s) for s in data.get("scopes") or ()),
        idempotency_key=row.idempotency_key,
        prev_hash=row.prev_hash,
        hash=row.hash,
        schema_version=row.schema_version,
        personal=orjson.loads(row.personal) if row.personal else None,
    )


@lru_cache(maxsize=SCOPE_CACHE_SIZE)
def parse_scope(text: str) -> Scope:
    """The Scope of a stored scope string, `TYPE:ID` (shared: see SCOPE_CACHE_SIZE)."""
    kind, _, ident = text.partition(":")
    return Scope(_TYPES[kind], int(ident))


def id_list(value: Any) -> frozenset[int]:
    """Ids aggregated by the database as a JSON array (text on SQLite, decoded on
    PostgreSQL); none for NULL."""
    if value is None:
        return frozenset()
    items = orjson.loads(value) if isinstance(value, str | bytes) else value
    return frozenset(int(i) for i in items if i is not None)
