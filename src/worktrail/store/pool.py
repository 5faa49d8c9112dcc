"""Connections taken from a store's pools, counted for the metrics: how many are held and
how many threads wait for one, by role. Kept by the code that takes connections rather than
by the pool's events, so the counts cannot drift."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from .. import metrics

_POOL_GAUGES = {
    role: (metrics.POOL_WAITING.labels(role), metrics.POOL_IN_USE.labels(role))
    for role in ("read", "write")
}


@contextmanager
def checkout(engine: Engine, role: str) -> Iterator[Connection]:
    """A connection of `engine`'s pool, counted while it is awaited and while it is held."""
    waiting, in_use = _POOL_GAUGES[role]
    waiting.inc()
    try:
        conn = engine.connect()
    finally:
        waiting.dec()
    in_use.inc()
    try:
        with conn:
            yield conn
    finally:
        in_use.dec()
