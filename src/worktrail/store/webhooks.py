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

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from .. import metrics
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
        # bumped by every change of this process that can give a worker something to do
        # other than new events (a subscription made, resumed, revived, rewound): a worker
        # that saw nothing to do looks again at once (see worker/loop.py)
        self.changes = 0

    # -- created with the subscription, in its write transaction ---------------------------

    def open(self, tx: WriteTransaction, webhook_id: int, kind: str, secret: str) -> None:
        """Keep a new subscription's secret and start its dispatch after the head as it is
        in `tx` (events committed after this transaction are owed to it)."""
        self.changes += 1
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
        self.changes += 1
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

    def any_active(self) -> bool:
        """Whether any organization has an active subscription."""
        with self._store.read() as conn:
            return conn.execute(_ACTIVE.limit(1)).first() is not None

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
        self.changes += 1
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
        self.changes += 1
        tx.conn.execute(
            update(t.webhook_cursors)
            .where(_c.org_id == tx.org_id, _c.webhook_id == webhook_id, _c.position > position)
            .values(position=position)
        )

    # -- delivery ----------------------------------------------------------------------

    def claim(
        self,
        now: int,
        lease_until: int,
        limit: int,
        per_webhook: int,
        held: Mapping[tuple[int, int], int] | None = None,
    ) -> list[Claimed]:
        """Lease up to `limit` due messages, first due (then oldest) first, and of each
        subscription at most `per_webhook` less what the caller already holds of it (keyed
        by (org_id, webhook_id)), so one slow endpoint never takes the place of the others.

        Each active subscription's due messages are found by an index probe of its own
        (`ix_webhook_messages_next`), so a claim costs what it leases and the number of
        active subscriptions, never the backlog."""
        held = held or {}
        with self._store.write_connection() as conn:
            subs = conn.execute(_ACTIVE).all()
            found: list[tuple[int, int, int, int]] = []
            for org_id, webhook_id in subs:
                room = per_webhook - held.get((org_id, webhook_id), 0)
                if room > 0:
                    params = {"org": org_id, "hook": webhook_id, "now": now, "room": room}
                    found += [(r[0], org_id, webhook_id, r[1]) for r in conn.execute(_DUE, params)]
            found.sort()
            chosen: dict[tuple[int, int], list[int]] = {}
            for _, org_id, webhook_id, seq in found[:limit]:
                chosen.setdefault((org_id, webhook_id), []).append(seq)
            claimed = []
            for (org_id, webhook_id), seqs in chosen.items():
                key = {"org": org_id, "hook": webhook_id}
                rows = conn.execute(_FREE, {**key, "seqs": seqs}).all()
                free = [
                    seq
                    for seq, state, leased_until in rows
                    if state == PENDING and (leased_until is None or leased_until < now)
                ]
                if free:
                    params = {**key, "free": free, "until": lease_until}
                    claimed += [Claimed(*r) for r in conn.execute(_LEASE, params)]
        return claimed

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
        """Write the attempts, settle their messages and keep each subscription's tally:
        a few statements per batch (executemany), however many outcomes it holds."""
        if not outcomes:
            return
        settled: dict[str, list[dict[str, Any]]] = {DELIVERED: [], PENDING: [], FAILED: []}
        for o in outcomes:
            if o.seq is None:
                continue  # a ping or heartbeat: logged, no message to settle
            state = DELIVERED if o.delivered else PENDING if o.next_attempt_at else FAILED
            settled[state].append(
                {
                    "k_org": o.org_id, "k_hook": o.webhook_id, "k_seq": o.seq,
                    "k_lease": o.lease, "v_attempts": o.attempt,
                    "v_at": o.attempted_at if o.delivered else o.next_attempt_at,
                }
            )  # fmt: skip
        tallies: dict[tuple[int, int], list[Outcome]] = {}
        for o in sorted(outcomes, key=lambda o: o.attempted_at):
            tallies.setdefault((o.org_id, o.webhook_id), []).append(o)
        with self._store.write_connection() as conn:
            conn.execute(insert(t.webhook_attempts), [_attempt_row(o) for o in outcomes])
            for state, rows in settled.items():
                if rows:
                    conn.execute(_SETTLE[state], rows)
            for (org_id, webhook_id), mine in tallies.items():
                conn.execute(
                    update(t.webhook_cursors)
                    .where(_c.org_id == org_id, _c.webhook_id == webhook_id)
                    .values(**_tally(mine))
                )
        for o in outcomes:
            outcome = "delivered" if o.delivered else "retrying" if o.next_attempt_at else "failed"
            metrics.WEBHOOK_DELIVERIES.labels(outcome).inc()

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

    def delivery_lag(self, now: int) -> float:
        """Seconds since the earliest due message of an active subscription became due (0:
        none is due). One statement, whose cost follows the number of active subscriptions,
        never the backlog: each one's earliest pending message is the first entry of its
        range of `ix_webhook_messages_next`."""
        earliest = (
            select(func.min(_m.next_attempt_at))
            .where(_m.org_id == _c.org_id, _m.webhook_id == _c.webhook_id, _m.state == PENDING)
            .scalar_subquery()
        )
        with self._store.read() as conn:
            due = conn.scalar(select(func.min(earliest)).where(_c.active.is_(True)))
        return max(0, now - int(due)) / 1_000_000 if due is not None else 0.0

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


def _unleased(now: Any) -> ColumnElement[bool]:
    return or_(_m.leased_until.is_(None), _m.leased_until < now)


# The statements of a claim, built once: the active subscriptions; up to `room` of one
# subscription's due messages, first due (then oldest) first; the rows of those still free,
# locked; and their lease. Workers claiming at once on PostgreSQL pass over each other's
# rows (SKIP LOCKED; SQLite has one writer and the clause is dropped there); a row another
# worker leased meanwhile is returned as that worker left it, leased, and left alone.
#
# Locking and leasing are two statements, each a probe of the primary key by (org_id,
# webhook_id, seq) — the locking SELECT leaves the state and lease to be judged on the rows
# it returns (the newest versions, on PostgreSQL), so that no plan can prefer the partial
# index of due messages. As one UPDATE … WHERE seq IN (SELECT … FOR UPDATE SKIP LOCKED),
# the planner, misled by statistics that lag a backlog which appeared in seconds, ran the
# subquery once per row of the subscription (45 s for 16 rows of 10,000).
_ACTIVE = select(_c.org_id, _c.webhook_id).where(_c.active.is_(True))
_ONE = and_(_m.org_id == bindparam("org"), _m.webhook_id == bindparam("hook"))
_DUE = (
    select(_m.next_attempt_at, _m.seq)
    .where(
        _ONE,
        _m.state == PENDING,
        _m.next_attempt_at <= bindparam("now"),
        _unleased(bindparam("now")),
    )
    .order_by(_m.next_attempt_at, _m.seq)
    .limit(bindparam("room"))
)
_FREE = (  # whether they are still free is judged on the rows this returns (see claim)
    select(_m.seq, _m.state, _m.leased_until)
    .where(_ONE, _m.seq.in_(bindparam("seqs", expanding=True)))
    .with_for_update(skip_locked=True)
)
_LEASE = (
    update(t.webhook_messages)
    .where(_ONE, _m.seq.in_(bindparam("free", expanding=True)))
    .values(leased_until=bindparam("until"), lease=_m.lease + 1)
    .returning(_m.org_id, _m.webhook_id, _m.seq, _m.attempts, _m.lease)
)


def _tally(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """How a subscription's run of successes and failures moves with these outcomes (in
    the order they were attempted): failures since the last success count on."""
    last_ok = max((o.attempted_at for o in outcomes if o.delivered), default=None)
    failed = [o for o in outcomes if not o.delivered]
    since = [o for o in failed if last_ok is None or o.attempted_at > last_ok]
    values: dict[str, Any] = {}
    if last_ok is not None:
        values["last_success_at"] = last_ok
        values["consecutive_failures"] = len(since)
        values["failing_since"] = since[0].attempted_at if since else None
    elif since:
        values["consecutive_failures"] = _c.consecutive_failures + len(since)
        values["failing_since"] = func.coalesce(_c.failing_since, since[0].attempted_at)
    if failed:
        values["last_failure_at"] = failed[-1].attempted_at
        values["last_failure"] = (failed[-1].error or f"HTTP {failed[-1].status_code}")[:500]
    return values


def _settle(state: str) -> Any:
    """The UPDATE that settles messages in `state` (executemany), only under the lease
    they were sent under: a replay or a lease that ran out makes a late outcome harmless."""
    moved: dict[str, Any] = {
        DELIVERED: {"delivered_at": bindparam("v_at")},
        PENDING: {"next_attempt_at": bindparam("v_at")},
        FAILED: {},
    }[state]
    return (
        update(t.webhook_messages)
        .where(
            _m.org_id == bindparam("k_org"),
            _m.webhook_id == bindparam("k_hook"),
            _m.seq == bindparam("k_seq"),
            _m.lease == bindparam("k_lease"),
            _m.state == PENDING,
        )
        .values(state=state, attempts=bindparam("v_attempts"), leased_until=None, **moved)
    )


_SETTLE = {state: _settle(state) for state in (DELIVERED, PENDING, FAILED)}
