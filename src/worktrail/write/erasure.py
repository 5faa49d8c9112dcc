"""Erasing a person (the right to be forgotten), in one write transaction.

Erased: the person's name and email wherever they are in an event (the events about
their user; the actor of the events they acted in), and the free text they wrote
(model/personal.py: the values they set in the events they acted in) wherever that text
is in an event about the same entity and field, before or after. Each value reads
"[erased]" from then on, its salt is deleted and its commitment kept in its place, so the
event's hash, the chain, the Merkle tree and every proof stay as they were. The person's
user entity and the entities whose current text is theirs read "[erased]" too.

Refused (409, nothing written) when an active legal hold holds any event it would change.
Events of schema version 1 hashed their values as they are: erasing them would break the
chain, so they are left as they were and counted (`legacy_events_kept`).

The erasure is itself an event: an `updated` event of the user with no changes, its
before and after the erased state, and `context.erasure` the summary. It holds none of
the erased values. A second erasure finds nothing more to do and records nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson

from ..auth import Principal, check_owner
from ..context import current_request
from ..errors import Conflict, NotFound
from ..integrity.commitments import personal_values, redact
from ..model import Action, Actor, EntityRow, EntityType, NewEvent, Scope
from ..model.personal import ERASED, FREE_TEXT, IDENTITY_FIELDS
from ..store import Store, WriteTransaction
from ..store.erasure import ErasableEvent, person_events, rewrite_events, subject_events
from ..store.holds import holds_over

USER = EntityType.USER.value
FREE_TEXT_FIELDS = {t.value: fields for t, fields in FREE_TEXT.items()}
# what a person wrote: (subject type, subject id, field) → the values they set
Written = dict[tuple[str, int, str], set[str]]


def erase_person(store: Store, principal: Principal, user_id: int) -> dict[str, Any]:
    """Erase a user's personal values from the organization's history; the summary."""
    check_owner(principal)
    with store.write(principal.org_id) as tx:
        user = tx.get_entity(user_id)
        if user is None or user.type is not EntityType.USER:
            raise NotFound(f"user {user_id} does not exist")
        own = person_events(tx.conn, tx.org_id, user_id)
        written = _written(own, user_id)
        events = {e.seq: e for e in own}
        events.update((e.seq, e) for e in subject_events(tx.conn, tx.org_id, _subjects(written)))
        changes, legacy = _plan(events.values(), user_id, written)
        held = holds_over(tx.conn, tx.org_id, changes)
        if held:
            raise Conflict(
                f"user {user_id}'s values are in events held by "
                + "; ".join(_hold_text(h) for h in held)
                + ": lift the hold(s) first",
                holds=[_hold_json(h) for h in held],
            )
        rewrite_events(tx.conn, tx.org_id, changes_rows(events, changes))
        entities = _erase_entities(tx, user, written)
        summary: dict[str, Any] = {
            "user": user_id,
            "events_redacted": len(changes),
            "values_redacted": sum(len(p) for p in changes.values()),
            "entities_redacted": entities,
            "legacy_events_kept": legacy,
        }
        if changes or entities:
            summary["event"] = _record(tx, principal, user_id, summary).id
        else:
            summary["event"] = None
        return summary


def _written(own: list[ErasableEvent], user_id: int) -> Written:
    """The free text the user set, by entity and field."""
    written: Written = defaultdict(set)
    for event in own:
        fields = FREE_TEXT_FIELDS.get(event.subject_type)
        if event.actor_id != user_id or not fields:
            continue
        for change in orjson.loads(event.data).get("changes") or ():
            value = change.get("new")
            if change.get("field") in fields and isinstance(value, str) and value != ERASED:
                written[(event.subject_type, event.subject_id, change["field"])].add(value)
    return written


def _subjects(written: Written) -> set[tuple[str, int]]:
    return {(subject_type, subject_id) for subject_type, subject_id, _ in written}


def _plan(
    events: Iterable[ErasableEvent], user_id: int, written: Written
) -> tuple[dict[int, list[str]], int]:
    """The pointers to erase in each event of version 2, and how many events of version 1
    hold values to erase that cannot be."""
    changes: dict[int, list[str]] = {}
    legacy = 0
    for event in events:
        document = orjson.loads(event.data)
        personal = orjson.loads(event.personal) if event.personal else {}
        found = personal_values(
            event.subject_type,
            document.get("actor"),
            document.get("changes") or [],
            document.get("before"),
            document.get("after"),
        )
        wanted = [
            pointer
            for pointer, value in found
            if value != ERASED and _theirs(pointer, value, event, document, user_id, written)
        ]
        if not wanted:
            continue
        if event.schema_version < 2:
            legacy += 1
            continue
        pointers = [p for p in wanted if isinstance(personal.get(p), str)]
        if pointers:
            changes[event.seq] = pointers
    return changes, legacy


def _theirs(
    pointer: str,
    value: str,
    event: ErasableEvent,
    document: dict[str, Any],
    user_id: int,
    written: Written,
) -> bool:
    """Whether the personal value at `pointer` is the user's."""
    part, _, rest = pointer[1:].partition("/")
    if part == "actor":
        return event.actor_id == user_id
    if event.subject_type == USER:
        return event.subject_id == user_id
    field = document["changes"][int(rest.partition("/")[0])]["field"] if part == "changes" else rest
    return value in written.get((event.subject_type, event.subject_id, field), ())


def changes_rows(
    events: dict[int, ErasableEvent], changes: dict[int, list[str]]
) -> list[tuple[str, str, int]]:
    """(data, personal, seq) of each event with its values erased."""
    rows = []
    for seq, pointers in sorted(changes.items()):
        event = events[seq]
        assert event.personal is not None
        document, personal = redact(
            orjson.loads(event.data), orjson.loads(event.personal), pointers
        )
        rows.append((orjson.dumps(document).decode(), orjson.dumps(personal).decode(), seq))
    return rows


def _erase_entities(tx: WriteTransaction, user: EntityRow, written: Written) -> int:
    """Erase the user's identity and their text still current in entities; how many."""
    count = 0
    identity = {f: ERASED for f in IDENTITY_FIELDS if user.state.get(f) != ERASED}
    if identity:
        tx.update_entity(user, {**user.state, **identity}, user.container_id, user.deleted)
        count += 1
    by_entity: dict[int, dict[str, Any]] = defaultdict(dict)
    for (_, entity_id, field), values in written.items():
        entity = tx.get_entity(entity_id)
        if entity is not None and entity.state.get(field) in values:
            by_entity[entity_id][field] = ERASED
    for entity_id, patch in by_entity.items():
        entity = tx.get_entity(entity_id)
        assert entity is not None
        tx.update_entity(entity, {**entity.state, **patch}, entity.container_id, entity.deleted)
        count += 1
    return count


def _record(
    tx: WriteTransaction, principal: Principal, user_id: int, summary: dict[str, Any]
) -> Any:
    """The erasure's own event: no changes, the erased state before and after."""
    user = tx.get_entity(user_id)
    assert user is not None
    actor = principal.actor
    if actor.id == user_id:  # erasing oneself: the event does not name them either
        actor = Actor(actor.id, ERASED, ERASED)
    context = {**current_request.get().to_json(), "erasure": dict(summary)}
    return tx.append(
        NewEvent(
            action=Action.UPDATED,
            subject_type=EntityType.USER,
            subject_id=user_id,
            changes=[],
            before=user.state,
            after=user.state,
            scopes=[Scope(EntityType.USER, user_id)],
            actor=actor,
            occurred_at=tx.now,
            context=context,
        )
    )


def _hold_text(hold: EntityRow) -> str:
    state = hold.state
    return f"legal hold {hold.id} on {state['scope_type']}:{state['scope_id']} ({state['reason']})"


def _hold_json(hold: EntityRow) -> dict[str, Any]:
    state = hold.state
    return {
        "id": hold.id,
        "scope": f"{state['scope_type']}:{state['scope_id']}",
        "reason": state["reason"],
    }
