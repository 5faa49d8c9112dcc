"""Connections tested before use only when they may have gone stale.

SQLAlchemy's `pool_pre_ping` tests every connection as it leaves the pool: one more round
trip on every read, 0.1-0.2 ms beside a 1 ms history page. A connection that answered
within the last second is as good as a tested one, so here only a connection idle for
longer is tested first. One found dead is replaced at once (the pool's DisconnectionError
protocol), so a client that comes back after an outage (Retry-After is longer than the
idle time) finds the service as soon as the database is back. Read replicas keep the
test on every checkout (postgres.py): a read cannot move to another server once begun.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

IDLE_PING_SECONDS = 1.0
_RETURNED = "worktrail_returned_at"


def ping_when_idle(engine: Engine, idle: float = IDLE_PING_SECONDS) -> None:
    """Have `engine`'s pool test a connection before handing it out if it has not been
    used for `idle` seconds."""

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < idle:
            return  # just connected, or answered a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever it was, the pool connects anew
            raise DisconnectionError("a pooled connection no longer answers") from exc
