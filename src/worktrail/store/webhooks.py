"""What webhooks keep besides their settings (the `webhook` entity): secrets, where each
subscription's dispatch stands, the messages owed to endpoints and the delivery log.

The life of a message: the dispatcher finds the events past a subscription's position that
match its filter and upserts a pending message for each, moving the position on, in one
transaction (`dispatch`). A worker leases due messages (`claim`), delivers them, and writes
the outcome of every attempt (`record`): delivered, due again later, or failed for good.
A lease that runs out (the worker died) makes the message due again: delivery is at least
once, and a message's id, (subscription, seq), is the same on every attempt and replay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, insert, or_, select, tuple_, update

from ..model.webhooks import Attempt, Claimed, Cursor, Outcome, Secrets
from . import schema as t
from .writing import WriteTransaction

if TYPE_CHECKING:
    from .base import Store

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"

# (table) -> an INSERT that, on a primary-key conflict, can be told what to update instead;
# SQLite and PostgreSQL spell it the same way in SQLAlchemy, from different modules
Upsert = Callable[[Any], Any]


_m = t.webhook_messages.c
_c = t.webhook_cursors.c
_a = t.webhook_attempts.c


class WebhookStore:
    """Webhook tables of one store (`Store.webhooks`)."""

    def __init__(self, store: Store, upsert: Upsert) -> None:
        self._store = store
        self._upsert = upsert

    # -- created with the subscription, in its write transaction ---------------------------

    def open(self, tx: WriteTransaction, webhook_id: int, kind: str, secret: str) -> None:
        """Keep a new subscription's secret and start its dispatch after the head as it is
        in `tx` (events committed after this transaction are owed to it)."""
        org = tx.org_id
        tx.conn.execute(
            insert(t.webhook_secrets).values(org_id=org, webhook_id=webhook_id, secret=secret)
        )
        tx.conn.execute(
            insert(t.webhook_cursors).values(
                org_id=org,
                webhook_id=webhook_id,
                position=tx.last_seq,
                kind=kind,
                active=True,
                consecutive_failures=0,
            )
        )

    def set_active(self, tx: WriteTransaction, webhook_id: int, active: bool) -> None:
        """Dispatch and deliver for the subscription, or stop (paused, disabled)."""
        tx.conn.execute(
            update(t.webhook_cursors)
            .where(_c.org_id == tx.org_id, _c.webhook_id == webhook_id)
            .values(active=active)
        )

    def close(self, tx: WriteTransaction, webhook_id: int) -> None:
        """A deleted subscription owes nothing more: its pending messages are cancelled."""
        self.set_active(tx, webhook_id, False)
        tx.conn.execute(
            update(t.webhook_messages)
            .where(_m.org_id == tx.org_id, _m.webhook_id == webhook_id, _m.state == PENDING)
            .values(state=CANCELLED, leased_until=None)
        )

    # -- secrets -----------------------------------------------------------------------

    def secrets(self, org_id: int, webhook_ids: Sequence[int]) -> dict[int, Secrets]:
        s = t.webhook_secrets.c
        with self._store.read() as conn:
            rows = conn.execute(
                select(s.webhook_id, s.secret, s.previous_secret, s.previous_until).where(
                    s.org_id == org_id, s.webhook_id.in_(sorted(set(webhook_ids)))
                )
            ).all()
        return {r.webhook_id: Secrets(r.secret, r.previous_secret, r.previous_until) for r in rows}

    def rotate(self, tx: WriteTransaction, webhook_id: int, secret: str, keep_until: int) -> None:
        """A new secret; the current one keeps signing beside it until `keep_until`."""
        s = t.webhook_secrets.c
        tx.conn.execute(
            update(t.webhook_secrets)
            .where(s.org_id == tx.org_id, s.webhook_id == webhook_id)
            .values(secret=secret, previous_secret=s.secret, previous_until=keep_until)
        )

    # -- dispatch ----------------------------------------------------------------------

    def behind(self) -> list[tuple[Cursor, int]]:
        """The active subscriptions whose position is behind their organization's head,
        and that head."""
        o = t.orgs.c
        stmt = (
            select(t.webhook_cursors, o.last_seq.label("head"))
            .join(t.orgs, o.id == _c.org_id)
            .where(_c.active.is_(True), _c.position < o.last_seq)
            .order_by(_c.org_id, _c.webhook_id)
        )
        with self._store.read() as conn:
            rows = conn.execute(stmt).all()
        return [(Cursor(*r[:-1]), r.head) for r in rows]

    def heartbeats_due(self, every: dict[str, int], now: int) -> list[Cursor]:
        """The active subscriptions of the kinds in `every` (kind: seconds between
        heartbeats) whose heartbeat is due, each taken by this caller alone: its
        `heartbeat_at` moves to `now` where it still is what was read."""
        if not every:
            return []
        due = or_(
            *(
                and_(
                    _c.kind == kind,
                    or_(_c.heartbeat_at.is_(None), _c.heartbeat_at <= now - seconds * 1_000_000),
                )
                for kind, seconds in sorted(every.items())
            )
        )
        taken = []
        with self._store.write_connection() as conn:
            rows = conn.execute(select(t.webhook_cursors).where(_c.active.is_(True), due)).all()
            for row in rows:
                seen = row.heartbeat_at
                mine = conn.execute(
                    update(t.webhook_cursors)
                    .where(
                        _c.org_id == row.org_id,
                        _c.webhook_id == row.webhook_id,
                        _c.heartbeat_at.is_(None) if seen is None else _c.heartbeat_at == seen,
                    )
                    .values(heartbeat_at=now)
                ).rowcount
                if mine:
                    taken.append(Cursor(**{**row._mapping, "heartbeat_at": now}))
        return taken

    def owed(self, org_id: int, webhook_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """For each subscription with messages pending: how many, and when the next is due."""
        with self._store.read() as conn:
            rows = conn.execute(
                select(_m.webhook_id, func.count(), func.min(_m.next_attempt_at))
                .where(
                    _m.org_id == org_id,
                    _m.webhook_id.in_(sorted(set(webhook_ids))),
                    _m.state == PENDING,
                )
                .group_by(_m.webhook_id)
            ).all()
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def cursors(self, org_id: int, webhook_ids: Sequence[int]) -> dict[int, Cursor]:
        with self._store.read() as conn:
            rows = conn.execute(
                select(t.webhook_cursors).where(
                    _c.org_id == org_id, _c.webhook_id.in_(sorted(set(webhook_ids)))
                )
            ).all()
        return {r.webhook_id: Cursor(**r._mapping) for r in rows}

    def dispatch(
        self, org_id: int, webhook_id: int, seen: int, position: int, seqs: Sequence[int], now: int
    ) -> bool:
        """Messages for `seqs` (due now) and the position moved from `seen` to `position`,
        if it is still at `seen` (False: another worker dispatched meanwhile; nothing done).
        A message already there (a replay) is due again from its first attempt, even one
        in flight: the outcome of that flight no longer settles it."""
        with self._store.write_connection() as conn:
            moved = conn.execute(
                update(t.webhook_cursors)
                .where(_c.org_id == org_id, _c.webhook_id == webhook_id, _c.position == seen)
                .values(position=position)
            ).rowcount
            if not moved:
                return False
            if seqs:
                self._owe(conn, org_id, webhook_id, seqs, now)
        return True

    def _owe(
        self, conn: Connection, org_id: int, webhook_id: int, seqs: Sequence[int], now: int
    ) -> None:
        rows = [
            {
                "org_id": org_id,
                "webhook_id": webhook_id,
                "seq": seq,
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "lease": 0,
                "created_at": now,
            }
            for seq in seqs
        ]
        stmt = self._upsert(t.webhook_messages)
        stmt = stmt.on_conflict_do_update(
            index_elements=["org_id", "webhook_id", "seq"],
            set_={
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "leased_until": None,
                "delivered_at": None,
                "lease": t.webhook_messages.c.lease + 1,
            },
        )
        for start in range(0, len(rows), 500):
            conn.execute(stmt, rows[start : start + 500])

    def revive(self, tx: WriteTransaction, webhook_id: int) -> None:
        """Make what a disabled subscription failed to deliver due again."""
        tx.conn.execute(
            update(t.webhook_messages)
            .where(_m.org_id == tx.org_id, _m.webhook_id == webhook_id, _m.state == FAILED)
            .values(
                state=PENDING,
                attempts=0,
                next_attempt_at=tx.now,
                leased_until=None,
                lease=_m.lease + 1,
            )
        )

    def rewind(self, tx: WriteTransaction, webhook_id: int, position: int) -> None:
        """Deliver again from after `position` (a replay): the dispatcher walks forward
        from there, making every matching event due again."""
        tx.conn.execute(
            update(t.webhook_cursors)
            .where(_c.org_id == tx.org_id, _c.webhook_id == webhook_id, _c.position > position)
            .values(position=position)
        )

    # -- delivery ----------------------------------------------------------------------

    def claim(self, now: int, lease_until: int, limit: int, per_webhook: int) -> list[Claimed]:
        """Lease up to `limit` due messages, at most `per_webhook` of one subscription and
        none of a subscription that already has that many leased (so that one slow
        endpoint never takes the place of the others)."""
        active = (
            select(_c.webhook_id)
            .where(_c.org_id == _m.org_id, _c.webhook_id == _m.webhook_id, _c.active.is_(True))
            .exists()
        )
        due = and_(
            _m.state == PENDING,
            _m.next_attempt_at <= now,
            or_(_m.leased_until.is_(None), _m.leased_until < now),
            active,
        )
        with self._store.write_connection() as conn:
            busy = conn.execute(
                select(_m.org_id, _m.webhook_id)
                .where(_m.state == PENDING, _m.leased_until >= now)
                .group_by(_m.org_id, _m.webhook_id)
                .having(func.count() >= per_webhook)
            ).all()
            ranked = (
                select(
                    _m.org_id,
                    _m.webhook_id,
                    _m.seq,
                    func.row_number()
                    .over(
                        partition_by=(_m.org_id, _m.webhook_id),
                        order_by=(_m.next_attempt_at, _m.seq),
                    )
                    .label("rank"),
                )
                .where(due)
                .order_by(_m.next_attempt_at)
                .limit(limit * 4)
            )
            if busy:
                ranked = ranked.where(
                    tuple_(_m.org_id, _m.webhook_id).not_in([tuple(b) for b in busy])
                )
            picked = ranked.subquery("picked")
            keys = (
                select(picked.c.org_id, picked.c.webhook_id, picked.c.seq)
                .where(picked.c.rank <= per_webhook)
                .limit(limit)
            )
            # Workers claiming at once on PostgreSQL pass over each other's rows instead of
            # queueing behind them (SQLite has one writer; the clause is dropped there).
            # A row another worker took meanwhile no longer passes `due` in the UPDATE.
            key = tuple_(_m.org_id, _m.webhook_id, _m.seq)
            free = select(_m.org_id, _m.webhook_id, _m.seq).where(key.in_(keys))
            free = free.with_for_update(skip_locked=True)
            rows = conn.execute(
                update(t.webhook_messages)
                .where(key.in_(free), due)
                .values(leased_until=lease_until, lease=_m.lease + 1)
                .returning(_m.org_id, _m.webhook_id, _m.seq, _m.attempts, _m.lease)
            ).all()
        return [Claimed(*r) for r in rows]

    def release(self, held: Sequence[Claimed]) -> None:
        """Give leased messages back unsent (a worker stopping): due again at once."""
        with self._store.write_connection() as conn:
            for item in held:
                conn.execute(
                    update(t.webhook_messages)
                    .where(
                        _m.org_id == item.org_id,
                        _m.webhook_id == item.webhook_id,
                        _m.seq == item.seq,
                        _m.lease == item.lease,
                        _m.state == PENDING,
                    )
                    .values(leased_until=None)
                )

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write the attempts, settle their messages and keep each subscription's tally."""
        if not outcomes:
            return
        with self._store.write_connection() as conn:
            conn.execute(insert(t.webhook_attempts), [_attempt_row(o) for o in outcomes])
            for outcome in outcomes:
                if outcome.seq is not None:
                    self._settle(conn, outcome)
                self._tally(conn, outcome)

    def _settle(self, conn: Connection, o: Outcome) -> None:
        key = and_(_m.org_id == o.org_id, _m.webhook_id == o.webhook_id, _m.seq == o.seq)
        if o.delivered:
            values: dict[str, Any] = {"state": DELIVERED, "delivered_at": o.attempted_at}
        elif o.next_attempt_at is not None:
            values = {"state": PENDING, "next_attempt_at": o.next_attempt_at}
        else:
            values = {"state": FAILED}
        conn.execute(
            update(t.webhook_messages)
            .where(key, _m.state == PENDING, _m.lease == o.lease)
            .values(attempts=o.attempt, leased_until=None, **values)
        )

    def _tally(self, conn: Connection, o: Outcome) -> None:
        key = and_(_c.org_id == o.org_id, _c.webhook_id == o.webhook_id)
        if o.delivered:
            values: dict[str, Any] = {
                "consecutive_failures": 0,
                "last_success_at": o.attempted_at,
                "failing_since": None,
            }
        else:
            values = {
                "consecutive_failures": _c.consecutive_failures + 1,
                "last_failure_at": o.attempted_at,
                "last_failure": (o.error or f"HTTP {o.status_code}")[:500],
                "failing_since": func.coalesce(_c.failing_since, o.attempted_at),
            }
        conn.execute(update(t.webhook_cursors).where(key).values(**values))

    def attempts(
        self, org_id: int, webhook_id: int, after_id: int | None, limit: int
    ) -> list[Attempt]:
        """The delivery log of a subscription, newest first, keyset-paged by `after_id`."""
        stmt = select(t.webhook_attempts).where(_a.org_id == org_id, _a.webhook_id == webhook_id)
        if after_id is not None:
            stmt = stmt.where(_a.id < after_id)
        with self._store.read() as conn:
            rows = conn.execute(stmt.order_by(_a.id.desc()).limit(limit)).all()
        return [Attempt(**r._mapping) for r in rows]

    def backlog(self, now: int) -> tuple[int, int | None]:
        """How many messages are pending and since when the oldest due one is due."""
        with self._store.read() as conn:
            row = conn.execute(
                select(func.count(), func.min(_m.next_attempt_at)).where(_m.state == PENDING)
            ).one()
        oldest = row[1] if row[1] is not None and row[1] <= now else None
        return int(row[0] or 0), oldest


def _attempt_row(o: Outcome) -> dict[str, Any]:
    return {
        "org_id": o.org_id,
        "webhook_id": o.webhook_id,
        "seq": o.seq,
        "attempt": o.attempt,
        "attempted_at": o.attempted_at,
        "status_code": o.status_code,
        "latency_ms": o.latency_ms,
        "error": o.error,
        "response_body": o.response_body,
        "next_attempt_at": o.next_attempt_at,
    }
