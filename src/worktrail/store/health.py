"""What checks of a store ask without changing it: the newest schema revision this version
of worktrail knows, and, for `worktrail doctor`, whether a store is where the settings
point, whether its database answers, which server it is and which revision its schema is
at. Nothing here creates a file or a table, or migrates."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from ..config import ConfigError, Settings
from .faults import database_errors
from .location import StoreMissing, describe, require_file

if TYPE_CHECKING:
    from .base import Store

MIGRATIONS = Path(__file__).parent / "migrations"
PRODUCTS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@functools.cache
def revisions() -> tuple[str, ...]:
    """The schema revisions this version of worktrail knows, newest first."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return tuple(script.revision for script in ScriptDirectory.from_config(cfg).walk_revisions())


def head_revision() -> str:
    """The newest schema revision of this version of worktrail (what `migrate` goes to)."""
    return revisions()[0]


def server_of(conn: Connection) -> str:
    """The database product and version a connection talks to, e.g. "PostgreSQL 16.4"."""
    info: Any = conn.dialect.server_version_info or ()
    name = PRODUCTS.get(conn.dialect.name, conn.dialect.name)
    return f"{name} {'.'.join(str(part) for part in info)}".strip()


def revision_of(conn: Connection) -> str | None:
    """The schema revision recorded in the database (None: no worktrail schema)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def schema_state(store: Store) -> tuple[str | None, str]:
    """(the store's schema revision, the newest this worktrail knows), read through the
    pool as every read is, on the primary: StoreError while the database is away
    (readiness checks)."""
    with store.read_primary() as conn:
        return revision_of(conn), head_revision()


@dataclass(frozen=True)
class StoreReport:
    """What `inspect_store` found."""

    where: str  # the store as a person looks for it (no password)
    head: str  # the revision this worktrail migrates to
    found: bool = False  # there is something to open (an SQLite file; any server URL)
    reachable: bool = False  # the database answered
    server: str | None = None
    revision: str | None = None
    problem: str | None = None  # why it could not be opened or did not answer


def inspect_store(settings: Settings) -> StoreReport:
    """Look at the store the settings name, without creating or migrating anything."""
    from . import open_unmigrated

    url = settings.database_url
    report = StoreReport(where=describe(url), head=head_revision())
    try:
        require_file(url)
        store = open_unmigrated(settings)
    except StoreMissing as exc:
        return _with(report, problem=exc.reason)
    except (ConfigError, ValueError) as exc:
        return _with(report, problem=str(exc))
    try:
        with store.reader.connect() as conn:
            server, revision = server_of(conn), revision_of(conn)
    except database_errors(store.writer) as exc:
        error = getattr(exc, "orig", None) or exc
        return _with(report, found=True, problem=" ".join(str(error).split()))
    finally:
        store.close()
    return _with(report, found=True, reachable=True, server=server, revision=revision)


def _with(report: StoreReport, **values: Any) -> StoreReport:
    from dataclasses import replace

    return replace(report, **values)
