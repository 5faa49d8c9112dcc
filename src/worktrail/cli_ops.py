"""Operating a server: `worktrail backup`, `worktrail restore`, and what `serve` and
`worker` set up around their work (the log's format, the metrics' files and listener).

Backups here are of SQLite stores (store/backup.py: a consistent copy taken while writes
go on). A PostgreSQL store is backed up with PostgreSQL's own tools; both commands say so
and where the recipe is (docs/operations.md).
"""

from __future__ import annotations

import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from .cli_store import DatabaseUrl, console, err, missing_store_help, settings_for
from .config import ConfigError, Settings
from .store import Store, StoreMissing, describe
from .store.backup import STEP_PAGES, BackupError, Copied, backup_sqlite, restore_sqlite
from .store.location import require_file, sqlite_path

POSTGRES_BACKUPS = (
    "is a PostgreSQL database: back it up with pg_dump (or pg_basebackup and WAL "
    "archiving) and restore it with pg_restore; the recipe is in docs/operations.md, "
    "section 'Backup and restore'"
)

StepPages = Annotated[
    int,
    typer.Option(min=1, help="Pages copied per step (4 KiB each); between steps writes go on."),
]


@contextmanager
def server_runtime(settings: Settings, store: Store, workers: int = 1) -> Iterator[dict[str, Any]]:
    """Around a server's run: its logging configured (yielded, for uvicorn to apply in
    every process), the metrics' directory when several processes share them, and the
    metrics' own listener when the `metrics` setting names one. Bad settings exit 2."""
    # here, not at the top: every other command would pay for importing the web layer
    from .web.exposition import (
        Scrape,
        metrics_placement,
        multiprocess_dir,
        start_listener,
        store_probes,
    )
    from .web.logs import log_config

    try:
        placement = metrics_placement(settings.metrics)
        config = log_config(settings.log_level, settings.log_format)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    logging.config.dictConfig(config)
    with multiprocess_dir(workers):
        stop = None
        if placement.listen is not None:
            try:
                stop = start_listener(placement.listen, Scrape(store_probes(store)))
            except OSError as exc:
                err.print(f"[red]cannot serve metrics on {settings.metrics}:[/red] {exc}")
                raise typer.Exit(2) from exc
        try:
            yield config
        finally:
            if stop is not None:
                stop()


def _sqlite_file(settings: Settings, command: str) -> Path:
    """The SQLite file of the store the settings name; exit 2 for PostgreSQL."""
    url = settings.database_url
    path = sqlite_path(url)
    if path is not None:
        return path
    if url.startswith(("postgresql", "postgres")):
        err.print(
            f"[red]`worktrail {command}`:[/red] {describe(url)} {POSTGRES_BACKUPS}.",
            soft_wrap=True,
        )
    else:
        err.print(f"[red]`worktrail {command}` copies SQLite stores, not {describe(url)}[/red]")
    raise typer.Exit(2)


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def _copying(description: str) -> tuple[Progress, Any]:
    progress = _progress()
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        # pages, shown as bytes at SQLite's default page size
        progress.update(task, completed=done * 4096, total=total * 4096)

    return progress, update


def _summary(copied: Copied) -> str:
    return (
        f"{copied.organizations:,} organization{'s' if copied.organizations != 1 else ''}, "
        f"{copied.events:,} events, schema {copied.revision}, "
        f"{copied.bytes / 1_048_576:.1f} MiB"
    )


def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the copy (replaced if it exists).")],
    step_pages: StepPages = STEP_PAGES,
    database_url: DatabaseUrl = None,
) -> None:
    """Copy the SQLite store, consistently, while the server goes on writing: every event
    acknowledged before the backup began is in the copy."""
    settings = settings_for(database_url)
    source = _sqlite_file(settings, "backup")
    try:
        require_file(settings.database_url)
    except StoreMissing as exc:
        err.print(missing_store_help(exc, settings.database_url), soft_wrap=True)
        raise typer.Exit(2) from exc
    progress, update = _copying("Backing up")
    try:
        with progress:
            copied = backup_sqlite(source, file.absolute(), update, step_pages)
    except BackupError as exc:
        err.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from exc
    console.print(f"Backed up {source} to {copied.path}: {_summary(copied)}.", soft_wrap=True)


def restore(
    file: Annotated[Path, typer.Argument(help="A file `worktrail backup` wrote.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a store that holds organizations.")
    ] = False,
    step_pages: StepPages = STEP_PAGES,
    database_url: DatabaseUrl = None,
) -> None:
    """Put a backup in place of the SQLite store (stop the server first). A store that
    holds organizations is only replaced with --force."""
    from .store.health import head_revision

    settings = settings_for(database_url)
    target = _sqlite_file(settings, "restore")
    progress, update = _copying("Restoring")
    try:
        with progress:
            copied = restore_sqlite(
                file.absolute(), target, force=force, progress=update, step_pages=step_pages
            )
    except BackupError as exc:
        err.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from exc
    console.print(f"Restored {file} to {target}: {_summary(copied)}.", soft_wrap=True)
    if copied.revision != head_revision():
        console.print(
            f"Its schema is at {copied.revision}; this worktrail's is {head_revision()}: "
            "run `worktrail migrate` before serving it."
        )
