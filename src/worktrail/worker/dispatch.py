"""Dispatch: every event past a subscription's position that matches its filter becomes a
message owed to it, and the position moves on — in one transaction, from the position it
read (another worker that got there first makes this one step aside).

The position is safe to move to the organization's head read before the events: seqs are
given out under the organization's lock and become visible in order (Store.write), so
nothing at or below that head can still appear."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ..delivery.filters import to_query
from ..delivery.styles import DeliveryStyle, Subscription
from ..query import Reader
from ..store import Store

BATCH = 1000  # events looked at per subscription per pass


def dispatch_once(
    store: Store, now: int, styles: Mapping[str, DeliveryStyle], batch: int = BATCH
) -> int:
    """One pass over the subscriptions behind their organization's head; the number of
    messages it made."""
    made = 0
    for cursor, head in store.webhooks.behind():
        reader = Reader.whole(store, cursor.org_id)
        entity = reader.names([cursor.webhook_id]).get(cursor.webhook_id)
        if entity is None or entity.deleted:
            continue
        sub = Subscription.of(entity)
        style = styles.get(sub.kind)
        if style is None:
            continue
        query = replace(
            to_query(cursor.org_id, sub.filter),
            after_seq=cursor.position,
            until_seq=head,
            limit=batch,
        )
        page = reader.page_stored(query)
        position = page.events[-1].seq if page.has_more else head
        seqs = [e.seq for e in page.events if style.wants(sub, e)]
        if store.webhooks.dispatch(
            cursor.org_id, cursor.webhook_id, cursor.position, position, seqs, now
        ):
            made += len(seqs)
    return made
