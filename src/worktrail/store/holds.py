"""Legal holds, as the store sees them: which events an active hold covers.

A hold is an entity of type `legal_hold` (state: scope_type, scope_id, reason); it is
active while its row in `entities` is not deleted. It holds every event that has its scope
among the event's scopes (rows of `event_scopes`); a hold on the organization holds all of
the organization's events. This module is the one place that answers "is any of these
events held?", for erasure here and for retention elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select, tuple_

from ..model import EntityRow, EntityType
from . import schema as t
from .rows import entity_from_row

if TYPE_CHECKING:
    from .base import Store

HOLD = EntityType.LEGAL_HOLD.value
_CHUNK = 500  # seqs per IN list


def active_holds(conn: Connection, org_id: int) -> list[EntityRow]:
    """The organization's active holds, in id order."""
    c = t.entities.c
    rows = conn.execute(
        select(t.entities)
        .where(c.org_id == org_id, c.type == HOLD, c.deleted.is_(False))
        .order_by(c.id)
    ).all()
    return [entity_from_row(r) for r in rows]


def holds_over(conn: Connection, org_id: int, seqs: Iterable[int]) -> list[EntityRow]:
    """The active holds that hold at least one of the events `seqs` of the organization
    (none when `seqs` is empty): an organization hold holds them all, any other hold those
    that have its scope among their scopes."""
    wanted = sorted(set(seqs))
    if not wanted:
        return []
    holds = active_holds(conn, org_id)
    s = t.event_scopes.c
    found = []
    for hold in holds:
        scope_type, scope_id = hold.state["scope_type"], hold.state["scope_id"]
        if scope_type == EntityType.ORGANIZATION.value:
            found.append(hold)
            continue
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            hit = conn.execute(
                select(s.seq)
                .where(
                    s.org_id == org_id,
                    s.scope_type == scope_type,
                    s.scope_id == scope_id,
                    s.seq.in_(chunk),
                )
                .limit(1)
            ).first()
            if hit is not None:
                found.append(hold)
                break
    return found


@dataclass(frozen=True)
class Holds:
    """What an organization's active legal holds cover: all of it, or these scopes."""

    everything: bool
    scopes: frozenset[tuple[str, int]]

    def __bool__(self) -> bool:
        return self.everything or bool(self.scopes)


def holds_in_force(conn: Connection, org_id: int) -> Holds:
    """The scopes the organization's active holds cover."""
    scopes: set[tuple[str, int]] = set()
    everything = False
    for hold in active_holds(conn, org_id):
        kind, ident = hold.state.get("scope_type"), hold.state.get("scope_id")
        if kind == EntityType.ORGANIZATION.value:
            everything = True
        elif isinstance(kind, str) and isinstance(ident, int):
            scopes.add((kind, ident))
    return Holds(everything, frozenset(scopes))


def held_between(conn: Connection, org_id: int, first: int, last: int, holds: Holds) -> set[int]:
    """The seqs from `first` to `last` that `holds` hold: every one under an organization
    hold; else those with a held (scope_type, scope_id) among their scope rows (seqs of no
    event may be among them)."""
    if holds.everything:
        return set(range(first, last + 1))
    if not holds.scopes or last < first:
        return set()
    s = t.event_scopes.c
    stmt = select(s.seq).where(
        s.org_id == org_id,
        tuple_(s.scope_type, s.scope_id).in_(sorted(holds.scopes)),
        s.seq.between(first, last),
    )
    return {int(seq) for (seq,) in conn.execute(stmt)}


class HoldStore:
    """Read access to legal holds outside a write transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def active(self, org_id: int) -> list[EntityRow]:
        with self._store.read() as conn:
            return active_holds(conn, org_id)

    def over(self, org_id: int, seqs: Iterable[int]) -> list[EntityRow]:
        """holds_over on a read connection."""
        with self._store.read() as conn:
            return holds_over(conn, org_id, seqs)
