"""The read door: everything a reader of one organization's history may see.

Every reader — the native API, exports and the live feed, the five vendor dialects, the
CLI, and what comes after them — reads through a `Reader`: it parses its own request into
an EventQuery, the Reader authorizes (the scope entity once; visibility on every query,
from the principal, never left to the reader), and pages. Only the store turns a query
into SQL, and only this module asks the store for events.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from ..auth import Principal
from ..errors import BadRequest, Forbidden, NotFound, Pruned
from ..integrity.merkle import NodeId
from ..model import (
    Attempt,
    Cursor,
    EntityRow,
    EntityType,
    Event,
    EventQuery,
    PrunedRange,
    Scope,
    Secrets,
    StoredEvent,
    event_id,
)
from ..store import (
    CheckpointRecord,
    OrgRow,
    SigningKey,
    Store,
    Tally,
    TokenRow,
    event_from_row,
)

_E = TypeVar("_E", Event, StoredEvent)


@dataclass(frozen=True)
class EventPage(Generic[_E]):
    events: list[_E]
    has_more: bool
    position: int | None  # seq of the last event returned, else the position asked for


class EntityHidden(NotFound):
    """The entity exists, but not in a workspace the principal may read. A NotFound, so
    that readers who do not tell the two apart disclose nothing; a dialect whose vendor
    answers 403 here can."""

    def __init__(self, entity: EntityRow) -> None:
        super().__init__(f"{entity.type.value} {entity.id} does not exist")
        self.entity = entity


class Reader:
    """One principal's view of one organization: entities and events, authorized."""

    def __init__(
        self,
        store: Store,
        org_id: int,
        visible: frozenset[int] | None,
        pruned: tuple[int | None, int | None] | None = None,
    ) -> None:
        self._store = store
        self.org_id = org_id
        self.visible = visible  # workspaces readable; None: all of them
        self._pruned = pruned  # as authentication read it (Principal.pruned); None: unknown

    @classmethod
    def of(cls, store: Store, principal: Principal) -> Reader:
        return cls(store, principal.org_id, principal.visible_workspaces, principal.pruned)

    @classmethod
    def whole(cls, store: Store, org_id: int) -> Reader:
        """The organization's whole history, as its owners see it (system readers)."""
        return cls(store, org_id, None)

    # -- entities ----------------------------------------------------------------------

    def entity(self, entity_id: int, *types: EntityType) -> EntityRow:
        """The entity, if it is one of `types` (any, when none are named) and readable:
        NotFound when it does not exist, EntityHidden when it may not be read. One
        statement."""
        kind = " or ".join(t.value for t in types) or "entity"
        located = self._store.get_located_entity(self.org_id, entity_id)
        if located is None or (types and located.entity.type not in types):
            raise NotFound(f"{kind} {entity_id} does not exist")
        if not self._readable(located.entity.type, located.workspace_id):
            raise EntityHidden(located.entity)
        return located.entity

    def scope(self, scope: Scope) -> EntityRow:
        """The entity a scope names, authorized as `entity` does."""
        return self.entity(scope.id, scope.type)

    def names(self, ids: Iterable[int]) -> dict[int, EntityRow]:
        """The entities with these ids, for the names and references a rendering of events
        this reader has read shows: the events were authorized, these are not filtered."""
        return self._store.get_entities(self.org_id, sorted(set(ids)))

    def workspaces_of(self, ids: Iterable[int]) -> dict[int, int]:
        """The workspace each of these entities lies in now (absent: none), for readers
        that group what they list by workspace; like `names`, not filtered."""
        return self._store.workspaces_of(self.org_id, sorted(set(ids)))

    def list_entities(
        self,
        entity_type: EntityType,
        *,
        container_id: int | None = None,
        after_id: int | None = None,
        limit: int = 100,
        include_deleted: bool = False,
    ) -> tuple[list[EntityRow], int | None]:
        """The readable ones among the next `limit` entities of one type in id order after
        `after_id`, and where the next page starts (None: this was the last)."""
        rows = self._store.list_entities(
            self.org_id,
            entity_type,
            container_id=container_id,
            after_id=after_id,
            limit=limit + 1,
            include_deleted=include_deleted,
        )
        next_after = rows[limit - 1].id if len(rows) > limit else None
        return self._only_readable(entity_type, rows[:limit]), next_after

    def find(self, entity_type: EntityType, name: str, limit: int = 20) -> list[EntityRow]:
        """The readable ones among the first `limit` entities of one type (not deleted)
        whose name contains `name`, ignoring case, in id order."""
        rows = self._store.find_entities(self.org_id, entity_type, name, limit)
        return self._only_readable(entity_type, rows)

    def _only_readable(self, entity_type: EntityType, rows: list[EntityRow]) -> list[EntityRow]:
        if self.visible is None or entity_type in _UNPLACED:
            return rows
        if entity_type is EntityType.WORKSPACE:
            return [r for r in rows if r.id in self.visible]
        places = self._store.workspaces_of(self.org_id, [r.id for r in rows])
        return [r for r in rows if places.get(r.id) in self.visible]

    def organization(self) -> EntityRow:
        org = self._store.get_entity(self.org_id, self.org_id)
        if org is None:
            raise NotFound(f"organization {self.org_id} does not exist")
        return org

    def org_record(self) -> OrgRow:
        """The organization's record: its head, settings and admin API key."""
        org = self._store.get_org(self.org_id)
        if org is None:
            raise NotFound(f"organization {self.org_id} does not exist")
        return org

    # -- API tokens: their metadata (the store keeps no secret), for readers who see the
    # whole organization (owners and admins)

    def tokens(
        self, after_id: int | None = None, limit: int = 100
    ) -> tuple[list[TokenRow], int | None]:
        """The next `limit` API tokens of the organization in id order after `after_id`,
        and where the next page starts (None: this was the last)."""
        self._check_whole()
        rows = self._store.list_tokens(self.org_id, after_id=after_id, limit=limit + 1)
        next_after = rows[limit - 1].id if len(rows) > limit else None
        return rows[:limit], next_after

    def token(self, token_id: int) -> TokenRow:
        """One API token of the organization, or NotFound."""
        self._check_whole()
        found = self._store.get_token(self.org_id, token_id)
        if found is None:
            raise NotFound(f"API token {token_id} does not exist")
        return found

    # -- webhook subscriptions (owners and admins) ------------------------------------

    def webhook(self, webhook_id: int) -> EntityRow:
        """A webhook subscription (deleted ones too), or NotFound."""
        self._check_whole()
        return self.entity(webhook_id, EntityType.WEBHOOK)

    def webhooks(
        self, after_id: int | None, limit: int, include_deleted: bool = False
    ) -> tuple[list[EntityRow], int | None]:
        """The organization's webhook subscriptions in id order after `after_id`."""
        self._check_whole()
        return self.list_entities(
            EntityType.WEBHOOK, after_id=after_id, limit=limit, include_deleted=include_deleted
        )

    # -- legal holds (the API lets owners only this far) ---------------------------------

    def hold(self, hold_id: int) -> EntityRow:
        """A legal hold, lifted ones too, or NotFound."""
        self._check_whole()
        return self.entity(hold_id, EntityType.LEGAL_HOLD)

    def holds(self, include_lifted: bool = False) -> list[EntityRow]:
        """The organization's legal holds in id order: the active ones, or all."""
        self._check_whole()
        out: list[EntityRow] = []
        after: int | None = None
        while True:
            rows, after = self.list_entities(
                EntityType.LEGAL_HOLD, after_id=after, limit=500, include_deleted=include_lifted
            )
            out += rows
            if after is None:
                return out

    def webhook_cursors(self, webhook_ids: Sequence[int]) -> dict[int, Cursor]:
        """Where each subscription's dispatch stands, and its tally of failures."""
        self._check_whole()
        return self._store.webhooks.cursors(self.org_id, webhook_ids)

    def webhook_owed(self, webhook_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """For each subscription with deliveries pending: how many, and when the next one
        is due."""
        self._check_whole()
        return self._store.webhooks.owed(self.org_id, webhook_ids)

    def webhook_secrets(self, webhook_ids: Sequence[int]) -> dict[int, Secrets]:
        """The subscriptions' signing secrets (for their public keys, and pings)."""
        self._check_whole()
        return self._store.webhooks.secrets(self.org_id, webhook_ids)

    def webhook_deliveries(
        self, webhook_id: int, before_id: int | None, limit: int
    ) -> tuple[list[Attempt], int | None]:
        """A subscription's delivery log, newest first, before `before_id`, and where the
        next page starts (None: this was the last)."""
        self._check_whole()
        rows = self._store.webhooks.attempts(self.org_id, webhook_id, before_id, limit + 1)
        return rows[:limit], rows[limit - 1].id if len(rows) > limit else None

    def position_before(self, recorded_from: int) -> int:
        """The position just before the first event recorded at or after `recorded_from`
        (the head, when there is none yet)."""
        query = EventQuery(self.org_id, recorded_from=recorded_from, ascending=True, limit=1)
        events = self._store.fetch_stored(replace(query, visible_workspaces=self.visible))
        return events[0].seq - 1 if events else self.head()

    # -- retention: how far the history is pruned, and positions that would skip pruned
    # events (each API turns `Pruned` into its own error)

    def pruned_through(self) -> int:
        """Every event up to this seq was removed by retention (0: none)."""
        if self._pruned is not None:
            return self._pruned[0] or 0
        return self._store.retention.pruned_through(self.org_id)

    def pruned_ranges(self) -> list[PrunedRange]:
        return self._store.retention.ranges(self.org_id)

    def check_position(
        self, position: int, ascending: bool = True, issued_at: int | None = None
    ) -> None:
        """Pruned if continuing from `position` would skip events retention removed
        (store.retention.position_pruned says which); no statement where authentication
        saw that nothing past it was pruned."""
        if self._pruned is not None:
            last = self._pruned[1] or 0  # the last seq of any pruned run (0: none)
            if not last or (ascending and last <= position):
                return
        found = self._store.retention.position_pruned(self.org_id, position, ascending, issued_at)
        if found is not None:
            raise _pruned_error(found, self.pruned_through())

    def check_anchor(self, seq: int) -> None:
        """Pruned if retention removed the event of `seq` (a page anchored on it)."""
        if self._pruned is not None and not self._pruned[1]:
            return
        found = self._store.retention.seq_pruned(self.org_id, seq)
        if found is not None:
            raise _pruned_error(found, self.pruned_through())

    def check_window(self, recorded_from: int) -> None:
        """Pruned if events recorded from `recorded_from` on were removed by retention: a
        time window that starts there would miss them."""
        if self._pruned is not None and not self._pruned[1]:
            return
        found = self._store.retention.pruned_since(self.org_id, recorded_from)
        if found is not None:
            raise _pruned_error(found, self.pruned_through())

    def _check_whole(self) -> None:
        if self.visible is not None:
            raise Forbidden("this needs an organization admin or owner")

    def _readable(self, entity_type: EntityType, workspace_id: int | None) -> bool:
        if self.visible is None or entity_type in _UNPLACED:
            return True
        return workspace_id is not None and workspace_id in self.visible

    # -- events ------------------------------------------------------------------------

    def authorized(self, query: EventQuery) -> EventQuery:
        """`query` as this reader may run it: in its organization, and only the events of
        workspaces it may read."""
        if query.org_id != self.org_id:
            raise ValueError(f"a reader of organization {self.org_id} got a query of another")
        visible, scope = self.visible, query.scope
        # every event in a readable workspace's scope is readable: no filter needed
        if visible is not None and scope is not None and scope.type is EntityType.WORKSPACE:
            visible = None if scope.id in visible else visible
        return replace(query, visible_workspaces=visible)

    def page(self, query: EventQuery, seen: int = 0) -> EventPage[Event]:
        """One page: at most query.limit events, whether more follow, and the position;
        read where the history reaches at least seq `seen` (see `committed_head`)."""
        return _page(self._store.fetch_events(self.authorized(query), seen), query)

    def page_stored(self, query: EventQuery) -> EventPage[StoredEvent]:
        """`page` as stored rows, for readers that render them without parsing."""
        return _page(self._store.fetch_stored(self.authorized(query)), query)

    def iter_events(self, query: EventQuery, chunk: int = 2000) -> Iterator[Event]:
        """Every event of `query` from its position on, in keyset chunks (constant memory)."""
        return self._store.iter_events(self.authorized(query), chunk)

    def iter_stored(self, query: EventQuery, chunk: int = 2000) -> Iterator[list[StoredEvent]]:
        """`iter_events` as chunks of stored rows."""
        return self._store.iter_stored(self.authorized(query), chunk)

    def count(self, query: EventQuery) -> int:
        """How many events `query` matches over all its pages."""
        return self._store.count_matching(self.authorized(query))

    def tally(self, query: EventQuery, day_offset: int = 0) -> list[Tally]:
        """How many events `query` matches by action, subject type, actor and day, counting
        only those after its position (ascending) up to its until_seq (Store.tally)."""
        return self._store.tally(self.authorized(query), day_offset)

    def head(self, seen: int = 0) -> int:
        """The organization's newest seq: where a feed that starts now starts. Given a
        position the client holds (`seen`), read where the history reaches it."""
        return self._store.head_seq(self.org_id, seen)

    def committed_head(self) -> int:
        """The newest seq this process has committed in the organization (0: none): a
        live feed woken by the commit reads where it is visible (read replicas)."""
        return self._store.committed_head(self.org_id)

    def event(self, seq: int) -> Event | None:
        """The event at `seq`, if this reader may read it."""
        event = self._store.get_event(self.org_id, seq)
        if event is None or self.visible is None:
            return event
        workspaces = {s.id for s in event.scopes if s.type is EntityType.WORKSPACE}
        return event if workspaces & self.visible else None

    # -- integrity: checkpoints and proofs show hashes only; any member may read them, and
    # an event's proof whoever may read the event

    def checkpoint(self, tree_size: int | None = None) -> CheckpointRecord:
        """The latest checkpoint, or the one of `tree_size`; NotFound if there is none."""
        integrity = self._store.integrity
        if tree_size is None:
            found = integrity.latest_checkpoint(self.org_id)
            if found is None:
                raise NotFound("no checkpoint has been issued for this organization yet")
            return found
        found = integrity.checkpoint(self.org_id, tree_size)
        if found is None:
            latest = integrity.latest_checkpoint(self.org_id)
            issued = f"the latest is of tree size {latest.tree_size}" if latest else "none yet"
            raise NotFound(f"no checkpoint was issued at tree size {tree_size} ({issued})")
        return found

    def signing_keys(self) -> list[SigningKey]:
        """The keys that sign checkpoints: the current one first, then retired ones."""
        return self._store.integrity.signing_keys()

    def latest_checkpoint(self) -> CheckpointRecord | None:
        return self._store.integrity.latest_checkpoint(self.org_id)

    def tree_nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """The stored hashes of those of these Merkle tree nodes that exist (verification
        holds them to the events)."""
        return self._store.integrity.fetch_all(self.org_id, ids)

    def tree_root(self, size: int) -> bytes:
        """The root of the stored tree of `size` events; KeyError if a node is missing."""
        return self._store.integrity.root(self.org_id, size)

    def inclusion_proof(
        self, seq: int, tree_size: int | None
    ) -> tuple[Event, CheckpointRecord, list[bytes]]:
        """A readable event, the checkpoint of `tree_size` (default: the latest) and the
        audit path of the event's leaf (seq - 1) in that tree."""
        event = self.event(seq)
        if event is None:
            raise NotFound(f"event {event_id(self.org_id, seq)} does not exist")
        if tree_size is not None and tree_size < seq:
            raise BadRequest(
                f"event seq {seq} is not in the tree of size {tree_size}: "
                f"ask for a tree size of at least {seq}"
            )
        checkpoint = self.checkpoint(tree_size)
        if checkpoint.tree_size < seq:
            raise BadRequest(
                f"event seq {seq} came after the latest checkpoint (tree size "
                f"{checkpoint.tree_size}): ask again once a checkpoint of at least {seq} is issued"
            )
        path = self._store.integrity.inclusion(self.org_id, seq - 1, checkpoint.tree_size)
        return event, checkpoint, path

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The proof that the tree of `first` events is a prefix of the tree of `second`."""
        head = self.head(second)
        if not 1 <= first <= second:
            raise BadRequest("'first' must be at least 1 and at most 'second'")
        if second > head:
            raise BadRequest(f"'second' is beyond the tree, whose size is {head}")
        return self._store.integrity.consistency(self.org_id, first, second)

    def own_events(
        self,
        entity: EntityRow,
        *,
        ascending: bool = False,
        occurred_to: int | None = None,
        limit: int = 1,
    ) -> list[Event]:
        """Events of `entity` itself (not of its descendants), newest first unless
        `ascending`, that occurred before `occurred_to`. `entity` comes from `entity()`:
        whoever may read an entity now may read its own past, wherever it lay then."""
        query = EventQuery(
            self.org_id,
            scope=Scope(entity.type, entity.id),
            descendants=False,
            occurred_to=occurred_to,
            ascending=ascending,
            limit=limit,
        )
        return self._store.fetch_events(query)[:limit]

    def state_at(self, entity: EntityRow, at: int) -> Event | None:
        """The last event of `entity` itself that occurred at or before `at` (its `after`
        is the entity's state then), or None if it did not exist yet."""
        events = self.own_events(entity, occurred_to=at + 1)
        return events[0] if events else None


# Organizations and users lie in no workspace: every member of the organization reads them.
_UNPLACED = (EntityType.ORGANIZATION, EntityType.USER)


def _pruned_error(found: PrunedRange, through: int) -> Pruned:
    return Pruned(
        f"events {found.first_seq} to {found.last_seq} were removed by the retention policy "
        f"(everything up to seq {through} is gone); start again without a position",
        pruned_through=through,
        pruned_first_seq=found.first_seq,
        pruned_last_seq=found.last_seq,
    )


def _page(rows: list[_E], query: EventQuery) -> EventPage[_E]:
    events = rows[: query.limit]
    position = events[-1].seq if events else query.after_seq
    return EventPage(events, len(rows) > query.limit, position)


def parse_event(event: StoredEvent) -> Event:
    """A stored row as an Event, for those that look into events offered to them as rows
    (delivery styles choosing what a subscription gets)."""
    return event_from_row(event)


def run_query(store: Store, query: EventQuery) -> EventPage[Event]:
    """One page of an organization's whole history (for system readers and the library)."""
    return Reader.whole(store, query.org_id).page(query)


def run_query_stored(store: Store, query: EventQuery) -> EventPage[StoredEvent]:
    """run_query as stored rows."""
    return Reader.whole(store, query.org_id).page_stored(query)
