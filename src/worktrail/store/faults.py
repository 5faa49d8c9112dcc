"""Database failures → worktrail errors: the one place where driver errors are translated.

A driver's message names hosts, ports, relations, tuples and values ("connection to server
at "10.0.0.5", port 5432 failed", "while locking tuple (2,6) in relation "orgs""). It goes
to the log — logger "worktrail", with the request's id — and never to the client, who gets
what it can act on:

- the database is away, or refused the work: `StoreError`, 503 with Retry-After;
- the database's disk is full: `StorageFull`, 507;
- a uniqueness rule was broken by a concurrent write: `Conflict`, 409.

In every case the transaction was rolled back: nothing was written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..context import current_request
from ..errors import Conflict, StorageFull, StoreError, WorktrailError

log = logging.getLogger("worktrail")

UNAVAILABLE = "the database is unavailable; retry shortly"
FULL = "the database's storage is full; nothing was written"
CONFLICT = "the write conflicts with another made at the same time; nothing was written"


def database_errors(engine: Engine) -> tuple[type[Exception], ...]:
    """What a database failure is raised as: the driver's errors, wrapped by SQLAlchemy or
    not (where SQLAlchemy does not run the statement itself: SQLite's BEGIN in a listener,
    PostgreSQL's COPY), and the pool's timeout. SQLAlchemy's other errors are misuse, bugs
    to be seen as such (500), not outages."""
    dbapi: Any = engine.dialect.dbapi
    return (DBAPIError, PoolTimeout, dbapi.Error)


def translate(
    exc: Exception, engine: Engine, disk_full: Callable[[BaseException], bool]
) -> WorktrailError:
    """The worktrail error for a database failure; the driver's own words are logged."""
    error: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    dbapi: Any = engine.dialect.dbapi
    request_id = current_request.get().request_id or "-"
    if isinstance(exc, IntegrityError) or isinstance(error, dbapi.IntegrityError):
        log.warning("request %s: write conflict: %s", request_id, _describe(error))
        return Conflict(CONFLICT)
    if disk_full(error):
        log.error("request %s: database storage full: %s", request_id, _describe(error))
        return StorageFull(FULL)
    # An outage (connection refused or lost, server shutting down, pool exhausted) is
    # expected and one line says it; anything else is likely a bug: its traceback is kept.
    outage = isinstance(exc, PoolTimeout) or isinstance(
        error, (dbapi.OperationalError, dbapi.InterfaceError)
    )
    log.error(
        "request %s: database unavailable: %s",
        request_id,
        _describe(error),
        exc_info=None if outage else exc,
    )
    return StoreError(UNAVAILABLE)


def _describe(error: BaseException) -> str:
    """The error's class and message on one line (the driver's message may span several)."""
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}: {' '.join(str(error).split())}"
