"""Writing the demo down: the organization is created as any other, and every change after
it goes through a Recorder in transactions of a fixed number of events, at the times the
clock gives.

This is the demo's only door into the store, the write path and organizations: the other
modules of the demo take `EntityRow` and `Store` from here, so that a move of those modules
is followed in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..model import Action, Actor, EntityRow, EntityType, State
from ..store import Store, WriteTransaction
from ..write import Recorder, create_organization
from .timeline import Clock

__all__ = ["Journal", "Store", "actor_of"]


def actor_of(user: EntityRow) -> Actor:
    """The actor a user's changes are recorded as."""
    return Actor(user.id, str(user.state["name"]), str(user.state["email"]))


class Journal:
    """Records the demo's changes and keeps every entity it wrote in memory (the demo
    never reads one back from the database), counting the events written."""

    def __init__(self, store: Store, org_id: int, owner: EntityRow, clock: Clock) -> None:
        self.store = store
        self.org_id = org_id
        self.owner = owner.id
        self.clock = clock
        self.written = 2  # the organization and its owner
        self.last_at = clock.current  # occurred_at of the last event written
        self.in_batch = 0
        self.tx: WriteTransaction | None = None
        self.recorders: dict[int, Recorder] = {}
        self.rows: dict[int, EntityRow] = {owner.id: owner}
        self.actors: dict[int, Actor] = {owner.id: actor_of(owner)}

    @classmethod
    def open(
        cls, store: Store, clock: Clock, org_name: str, owner_name: str, owner_email: str
    ) -> Journal:
        """Create the organization and its owner (two events, at the clock's first two
        times) and a journal for everything after them."""
        created = create_organization(
            store, org_name, owner_name, owner_email, occurred_at=clock.current
        )
        clock.advance()
        clock.advance()
        owner = store.get_entity(created.org_id, created.owner_id)
        assert owner is not None
        return cls(store, created.org_id, owner, clock)

    def add_actor(self, user: EntityRow) -> None:
        """Let `user` make changes from now on."""
        self.actors[user.id] = actor_of(user)

    def record(
        self,
        entity_type: EntityType,
        entity: EntityRow | None,
        state: State,
        actor_id: int,
        action: Action | None = None,
    ) -> EntityRow | None:
        """Write one change as `actor_id`; the new row, or None when nothing changed."""
        rec = self.recorders.get(actor_id)
        if rec is None:
            assert self.tx is not None
            rec = Recorder(self.tx, None, actor=self.actors[actor_id], source="system")
            self.recorders[actor_id] = rec
        at = self.clock.current
        result = rec.record(entity_type, entity, state, occurred_at=at, action=action)
        self.rows[result.entity.id] = result.entity
        if result.event is None:
            return None
        self.last_at = at
        self.written += 1
        self.in_batch += 1
        self.clock.advance()
        return result.entity

    def write(
        self,
        steps: Iterator[None],
        total: int,
        batch: int,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Take `steps` (each writes at most one event) until `total` events are written,
        in transactions of at most `batch` events; `progress(written)` after each."""
        while self.written < total:
            with self.store.write(self.org_id) as tx:
                # Recorders belong to one transaction: start afresh with each.
                self.tx = tx
                self.recorders = {}
                self.in_batch = 0
                while self.in_batch < batch and self.written < total:
                    next(steps)
            self.tx = None
            if progress:
                progress(self.written)
