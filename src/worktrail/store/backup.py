"""Copies of an SQLite store taken while it is in use, and put back (`worktrail backup`,
`worktrail restore`). PostgreSQL has its own tools (pg_dump, pg_basebackup and WAL
archiving: docs/operations.md).

A backup is SQLite's online backup API, a step of pages at a time, so a large store is
copied without holding anything for long. Its consistency comes from one read
transaction held on the source from the first step to the last: in WAL mode a reader sees
the database as it was when its transaction began, whatever is committed meanwhile, and
writers never wait for it. The backup copies that snapshot and nothing else, where the API
left to itself would start again from the first page each time another connection
commits (and, under steady writes, might never finish). Every event acknowledged before
the backup began is in it; none committed after is, so no organization's history is cut
in the middle of a transaction.

The copy is written beside the target under a temporary name, checked, then renamed over
it: a failed or interrupted backup leaves no half-written file under the name asked for.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# pages per step: 4 MiB with SQLite's default 4 KiB pages
STEP_PAGES = 1024

# (pages copied, pages in all), after each step
Progress = Callable[[int, int], None]


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


class TargetNotEmpty(BackupError):
    """A restore would overwrite a store that holds organizations."""


@dataclass(frozen=True)
class Copied:
    """What a backup or restore copied."""

    path: Path
    pages: int
    bytes: int
    organizations: int
    events: int
    revision: str | None


def backup_sqlite(
    source: Path, target: Path, progress: Progress | None = None, step_pages: int = STEP_PAGES
) -> Copied:
    """Copy the live store at `source` to `target` (replaced if it exists)."""
    if not source.is_file():
        raise BackupError(f"no SQLite store at {source}")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    reader = sqlite3.connect(source, isolation_level=None, timeout=30)
    try:
        reader.execute("BEGIN")
        organizations, events, revision = _contents(reader)  # the snapshot starts here
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            pages = _copy(reader, copy, progress, step_pages)
            # one self-contained file (the store's WAL mode came with its first page)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
        reader.execute("ROLLBACK")
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot back up {source}: {exc}") from exc
    finally:
        reader.close()
    _check(partial)
    os.replace(partial, target)
    return Copied(target, pages, target.stat().st_size, organizations, events, revision)


def inspect_backup(path: Path) -> Copied:
    """What a backup file holds; BackupError if it is not an intact worktrail store."""
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    _check(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        organizations, events, revision = _contents(conn)
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a worktrail store: {exc}") from exc
    finally:
        conn.close()
    if revision is None:
        raise BackupError(f"{path} is not a worktrail store: it has no schema revision")
    return Copied(path, pages, path.stat().st_size, organizations, events, revision)


def restore_sqlite(
    backup: Path,
    target: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    step_pages: int = STEP_PAGES,
) -> Copied:
    """Put the backup at `backup` in place of the store at `target` (made if missing).
    A target that holds any organization is only overwritten with `force`. The server
    must not be running on `target`: it would keep serving what it had cached."""
    found = inspect_backup(backup)
    try:
        holds = _organizations_in(target)
    except TargetNotEmpty:
        if not force:
            raise
        for path in (target, *(target.with_name(target.name + x) for x in ("-wal", "-shm"))):
            path.unlink(missing_ok=True)  # not an SQLite store: replaced whole
        holds = 0
    if holds and not force:
        raise TargetNotEmpty(
            f"{target} holds {holds} organization{'s' if holds != 1 else ''}; restoring "
            "would replace them (--force does)"
        )
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True, isolation_level=None)
    target.parent.mkdir(parents=True, exist_ok=True)
    dest = sqlite3.connect(target, isolation_level=None, timeout=30)
    try:
        pages = _copy(source, dest, progress, step_pages)
        # the copy keeps the backup's journal mode in its header; say it to this connection
        dest.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise BackupError(f"cannot restore into {target}: {exc}") from exc
    finally:
        dest.close()
        source.close()
    return Copied(
        target, pages, target.stat().st_size, found.organizations, found.events, found.revision
    )


def _copy(
    source: sqlite3.Connection, dest: sqlite3.Connection, progress: Progress | None, step: int
) -> int:
    total = 0

    def report(_status: int, remaining: int, pages: int) -> None:
        nonlocal total
        total = pages
        if progress is not None:
            progress(pages - remaining, pages)

    source.backup(dest, pages=max(1, step), progress=report)
    return total


def _contents(conn: sqlite3.Connection) -> tuple[int, int, str | None]:
    """(organizations, events, schema revision) of a store, read in `conn`'s transaction."""
    organizations, events = conn.execute(
        "SELECT count(*), coalesce(sum(last_seq), 0) FROM orgs"
    ).fetchone()
    revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return int(organizations), int(events), revision[0] if revision else None


def _organizations_in(path: Path) -> int:
    """How many organizations the store at `path` holds (0: none, no store, no file)."""
    if not path.is_file() or path.stat().st_size == 0:
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "orgs" not in tables:
            if tables:
                raise TargetNotEmpty(
                    f"{path} is a database with tables of its own, not a worktrail store; "
                    "restoring would replace it (--force does)"
                )
            return 0
        return int(conn.execute("SELECT count(*) FROM orgs").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise TargetNotEmpty(f"{path} is not an SQLite database ({exc}); --force replaces it")
    finally:
        conn.close()


def _check(path: Path) -> None:
    """BackupError unless the SQLite file at `path` passes its quick check."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not an intact SQLite database: {exc}") from exc
    finally:
        conn.close()
    if verdict != "ok":
        raise BackupError(f"{path} fails SQLite's quick check: {verdict}")
