"""Storage: one interface (Store), one module per database. Nothing outside this package
knows which database it is talking to, or builds SQL."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from ..config import ConfigError, Settings
from ..errors import StoreError
from .base import Store
from .integrity import CheckpointRecord, SigningKey
from .location import StoreMissing, describe
from .location import require_file as _require_file
from .rows import (
    LocatedEntity,
    OrgRow,
    Tally,
    TokenChanges,
    TokenRow,
    TokenUser,
    event_from_row,
)
from .writing import WriteTransaction


def open_store(settings: Settings, *, create: bool = True) -> Store:
    """Open the store the database URL names (sqlite:/// or postgresql://).

    With create=False, open only a store that exists: an SQLite file, or a database with
    worktrail's schema; otherwise StoreMissing, and nothing was created."""
    if create:
        return _open(settings)
    _require_file(settings.database_url)
    store = _open(settings)
    try:
        revision = store.schema_revision()
    except DBAPIError as exc:
        store.close()
        raise StoreError(f"cannot read {describe(store.url)}: {exc.orig}") from exc
    if revision is None:
        store.close()
        raise StoreMissing(describe(store.url), "it holds no worktrail schema")
    return store


def open_unmigrated(settings: Settings) -> Store:
    """The store the database URL names, opened as it is: nothing checked, created (beyond
    what connecting to an SQLite file does) or migrated. For inspection (health.py)."""
    return _open(settings)


def _open(settings: Settings) -> Store:
    url = settings.database_url
    if url.startswith("sqlite"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url, settings)
    if url.startswith(("postgresql", "postgres")):
        from .postgres import PostgresStore

        return PostgresStore(url, settings)
    raise ConfigError(
        f"WORKTRAIL_DATABASE_URL must start with sqlite:/// or postgresql://, got {url!r}"
    )


__all__ = [
    "CheckpointRecord",
    "LocatedEntity",
    "OrgRow",
    "SigningKey",
    "Store",
    "StoreMissing",
    "Tally",
    "TokenChanges",
    "TokenRow",
    "TokenUser",
    "WriteTransaction",
    "describe",
    "event_from_row",
    "open_store",
    "open_unmigrated",
]
