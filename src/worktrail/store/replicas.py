"""Read replicas: PostgreSQL streaming replicas (hot standbys) that serve requests' reads.

Writes, and every read outside a request (the webhook worker, checkpoints, the CLI), go to
the primary; so does authentication's token lookup, one point read. A request's reads go
to a replica that is fit for them, else to the primary, never to an error:

- up: a replica whose connection fails is down for DOWN_SECONDS, then tried again;
- not lagging: no further behind the primary than `replica_max_lag_seconds` (measured at
  most once a second, by whichever read comes first);
- past the request's read floor (read-your-writes): every write transaction made for a
  token sets the token's `last_write_at` (token_writes, in the token's organization), on
  the primary, where every process sees it. Authentication reads it, and with it the
  primary's WAL insert position; when the token
  wrote within the lag bound (plus a margin), that position is the request's floor: every
  commit the client had been answered for lies below it, since the client sent this
  request after. A replica serves the request only once `pg_last_wal_replay_lsn()` has
  reached the floor — it waits up to WAIT_SECONDS for that, then the primary reads;
- past the query's position (cursors and sync tokens): a page after position P of an
  organization is read on a replica only once the replica holds that organization's
  history up to P, so a later page never comes from a replica behind the earlier one;
- where the request read so far: a request's reads stay on the server its first read
  went to (once on the primary, on the primary), so that what one read found, the next
  finds too (a page's events, then their entities' names).

Replay positions and organization heads only grow, so the values seen last are lower
bounds and spare most checks their query.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from sqlalchemy import BigInteger, Connection, Engine, bindparam, literal_column, select

from .. import metrics
from . import schema as t
from .pool import checkout

DOWN_SECONDS = 5.0  # a replica that failed gets no reads for this long
REFRESH_SECONDS = 1.0  # how old a replica's measured lag may get
WAIT_SECONDS = 0.05  # how long a read waits for a replica to reach its floor or position
POLL_SECONDS = 0.005
# A token's reads keep a floor this much longer than a replica may lag (the lag is
# measured once a second): past it, every replica that serves has its write.
FLOOR_MARGIN_SECONDS = 2.0
SAMPLES = 600  # the primary's positions kept to measure lag against
PRIMARY = "primary"  # what served a read that no replica did

# positions in the write-ahead log as byte offsets (pg_lsn - '0/0')
PRIMARY_POSITION = literal_column(
    "(pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint", type_=BigInteger
)
_REPLAYED = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
# in recovery (a standby at all), and the position replayed
_STATUS = "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
_PRIMARY_NOW = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint"
# a replica that has replayed to within a WAL page of a primary position counts as having
# reached it, for the lag (the insert position can sit past a page header)
_PAGE = 8192
_HEAD = select(t.orgs.c.last_seq).where(t.orgs.c.id == bindparam("org_id"))

log = logging.getLogger("worktrail.store")


@dataclass
class Replica:
    """One replica, and what was last seen of it."""

    name: str  # host:port, for logs, /readyz and metrics
    engine: Engine
    down_until: float = 0.0  # monotonic time
    standby: bool = True  # in recovery (a primary, or a promoted standby, gets no reads)
    lag: float = 0.0  # seconds behind the primary, when last measured
    measured_at: float = -math.inf
    replayed: int = 0  # WAL position replayed, when last looked at
    heads: dict[int, int] = field(default_factory=dict)  # organization → last_seq seen
    refreshing: threading.Lock = field(default_factory=threading.Lock)

    def state(self, max_lag: float) -> str:
        """ok, down, lagging, or not a standby."""
        if time.monotonic() < self.down_until:
            return "down"
        if not self.standby:
            return "not a standby"
        return "lagging" if self.lag > max_lag else "ok"

    def has(self, floor: int | None, at: tuple[int, int] | None) -> bool:
        """Whether it is known to have replayed `floor` and to hold organization at[0] up
        to seq at[1]."""
        if floor is not None and self.replayed < floor:
            return False
        return at is None or self.heads.get(at[0], -1) >= at[1]

    def look(self, conn: Connection, floor: int | None, at: tuple[int, int] | None) -> None:
        """Read again what `has` is missing."""
        if floor is not None and self.replayed < floor:
            self.replayed = max(self.replayed, conn.exec_driver_sql(_REPLAYED).scalar() or 0)
        if at is not None and self.heads.get(at[0], -1) < at[1]:
            head = conn.execute(_HEAD, {"org_id": at[0]}).scalar()
            self.heads[at[0]] = -1 if head is None else int(head)

    def fail(self, error: BaseException) -> None:
        self.down_until = time.monotonic() + DOWN_SECONDS
        self.measured_at = -math.inf
        metrics.REPLICA_UP.labels(self.name).set(0)
        log.warning(
            "replica %s is down for %ss, its reads go elsewhere: %s",
            self.name,
            DOWN_SECONDS,
            " ".join(str(getattr(error, "orig", None) or error).split()),
        )


class ReplicaSet:
    """The replicas of one store, and which of them may serve a read."""

    def __init__(
        self,
        replicas: Sequence[Replica],
        primary: Engine,
        max_lag: float,
        errors: tuple[type[Exception], ...],
    ) -> None:
        self.replicas = list(replicas)
        self.max_lag = max_lag
        self.floor_seconds = max_lag + FLOOR_MARGIN_SECONDS
        self._primary = primary
        self._errors = errors
        self._turn = itertools.count()
        self._samples: deque[tuple[float, int]] = deque(maxlen=SAMPLES)
        for replica in self.replicas:
            metrics.REPLICA_UP.labels(replica.name).set(1)

    def close(self) -> None:
        for replica in self.replicas:
            replica.engine.dispose()

    def states(self) -> dict[str, str]:
        """Each replica's state (see Replica.state), measured now where it is not fresh."""
        for replica in self.replicas:
            if time.monotonic() < replica.down_until:
                continue
            try:
                with replica.engine.connect() as conn:
                    self._measure(replica, conn)
            except self._errors as exc:
                replica.fail(exc)
        return {r.name: r.state(self.max_lag) for r in self.replicas}

    @contextmanager
    def connection(
        self, floor: int | None, at: tuple[int, int] | None, only: str | None = None
    ) -> Iterator[tuple[Replica, Connection] | None]:
        """A replica fit for a read with this floor and position (the one named `only`,
        if given: where the request's reads went so far), and a connection to it in a
        transaction; None when there is none: the read goes to the primary. The wait for
        a floor or position is one, whichever replicas are tried."""
        deadline = time.monotonic() + WAIT_SECONDS
        for replica in self._candidates():
            if only is not None and replica.name != only:
                continue
            stack = ExitStack()
            try:
                conn = stack.enter_context(checkout(replica.engine, "read"))
                stack.enter_context(conn.begin())
                fit = self._fit(replica, conn, floor, at, deadline)
            except self._errors as exc:
                self._discard(stack)
                replica.fail(exc)
                continue
            if not fit:
                self._discard(stack)
                continue
            with stack:
                try:
                    yield replica, conn
                except self._errors as exc:
                    replica.fail(exc)
                    raise
            return
        yield None

    def _candidates(self) -> list[Replica]:
        """The replicas worth trying, starting with the next in turn: up, and either not
        lagging or due to be measured again."""
        now = time.monotonic()
        usable = [
            r
            for r in self.replicas
            if now >= r.down_until
            and (now - r.measured_at >= REFRESH_SECONDS or r.state(self.max_lag) == "ok")
        ]
        if not usable:
            return usable
        start = next(self._turn) % len(usable)
        return usable[start:] + usable[:start]

    def _fit(
        self,
        replica: Replica,
        conn: Connection,
        floor: int | None,
        at: tuple[int, int] | None,
        deadline: float,
    ) -> bool:
        if time.monotonic() - replica.measured_at >= REFRESH_SECONDS:
            self._measure(replica, conn)
        if replica.state(self.max_lag) != "ok":
            return False
        # Each statement of the read (READ COMMITTED) sees what was replayed before it
        # began: once the floor and position are seen here, the read's statements see them.
        while not replica.has(floor, at):
            replica.look(conn, floor, at)
            if replica.has(floor, at):
                break
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)
        return True

    def _measure(self, replica: Replica, conn: Connection) -> None:
        """How far behind the primary the replica is: how long ago the primary was at the
        position the replica has replayed. (Not the replica's own view, the age of the
        last transaction it replayed: that grows while the primary is idle, and a replica
        whose stream has stalled thinks it is up to date.)"""
        if not replica.refreshing.acquire(blocking=False):
            return  # another thread is at it
        try:
            self._sample_primary()
            standby, replayed = conn.exec_driver_sql(_STATUS).one()
            now = time.monotonic()
            replica.standby = bool(standby)
            replica.replayed = max(replica.replayed, int(replayed or 0))
            replica.lag = self._behind(replica.replayed, now)
            replica.measured_at = now
            metrics.REPLICA_LAG.labels(replica.name).set(replica.lag)
            metrics.REPLICA_UP.labels(replica.name).set(int(replica.state(self.max_lag) == "ok"))
        finally:
            replica.refreshing.release()

    def _sample_primary(self) -> None:
        """Note where the primary is now (a primary that is away leaves no sample)."""
        try:
            with self._primary.connect() as conn:
                position = conn.exec_driver_sql(_PRIMARY_NOW).scalar()
        except self._errors:
            return
        self._samples.append((time.monotonic(), int(position or 0)))

    def _behind(self, replayed: int, now: float) -> float:
        """Seconds since the primary was last seen at a position the replica has replayed:
        0 without samples (the primary is away), infinite when it is behind all of them
        (how far is not known yet: a replica started from an old backup)."""
        if not self._samples:
            return 0.0
        for at, position in reversed(self._samples):
            if position <= replayed + _PAGE:
                return now - at
        return math.inf

    def _discard(self, stack: ExitStack) -> None:
        with contextlib.suppress(*self._errors):
            stack.close()
