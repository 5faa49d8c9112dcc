"""Where a database URL points, and whether a worktrail store is already there.

Commands that only read or manage an existing store must not create one: opening an
SQLite URL creates its file, so a command run from the wrong directory would otherwise
leave an empty `worktrail.db` behind and report an empty history.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class StoreMissing(Exception):
    """No worktrail store where the database URL points (and none was created)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"no worktrail store at {where}: {reason}")
        self.where = where
        self.reason = reason


def sqlite_path(url: str) -> Path | None:
    """The file an SQLite URL names, made absolute against the current directory as the
    driver will; None for other URLs."""
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except ArgumentError:
        return None
    if not database or database == ":memory:":
        return None  # no file: SQLiteStore refuses these itself
    return Path(database).absolute()


def describe(url: str) -> str:
    """The store a URL names, as a person looks for it: an SQLite file's absolute path, a
    server URL without its password."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def require_file(url: str) -> None:
    """StoreMissing if `url` is SQLite and its file does not exist (checked before opening,
    which would create it)."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise StoreMissing(str(path), "there is no such file")
