"""The domain as plain data: entity types and their fields (entities.py), the canonical
event (events.py) and what a reader asks of the history (queries.py). Nothing here reads
or writes anything."""

from .entities import (
    ENTITY_SPECS,
    LOCATION_FIELDS,
    MAX_ID,
    PLURALS,
    PRIORITIES,
    STATUSES,
    EntityRow,
    EntitySpec,
    EntityType,
    FieldKind,
    FieldSpec,
    Role,
    Scope,
    State,
    entity_hex_id,
)
from .events import (
    SEQ_BITS,
    SEQ_MASK,
    Action,
    Actor,
    Event,
    NewEvent,
    StoredEvent,
    event_id,
    split_event_id,
)
from .queries import EventQuery

__all__ = [
    "ENTITY_SPECS",
    "LOCATION_FIELDS",
    "MAX_ID",
    "PLURALS",
    "PRIORITIES",
    "SEQ_BITS",
    "SEQ_MASK",
    "STATUSES",
    "Action",
    "Actor",
    "EntityRow",
    "EntitySpec",
    "EntityType",
    "Event",
    "EventQuery",
    "FieldKind",
    "FieldSpec",
    "NewEvent",
    "Role",
    "Scope",
    "State",
    "StoredEvent",
    "entity_hex_id",
    "event_id",
    "split_event_id",
]
