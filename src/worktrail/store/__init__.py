"""Storage: one interface (Store), one module per database. Nothing outside this package
knows which database it is talking to, or builds SQL."""

from __future__ import annotations

from ..config import ConfigError, Settings
from .base import Store
from .rows import LocatedEntity, OrgRow, TokenChanges, TokenRow, TokenUser, event_from_row
from .writing import WriteTransaction


def open_store(settings: Settings) -> Store:
    """Open the store the database URL names (sqlite:/// or postgresql://)."""
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
    "LocatedEntity",
    "OrgRow",
    "Store",
    "TokenChanges",
    "TokenRow",
    "TokenUser",
    "WriteTransaction",
    "event_from_row",
    "open_store",
]
