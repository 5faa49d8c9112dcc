"""What the `worktrail` commands share: their consoles, the --database-url and --org
options, and the store a command opens.

Only the commands that set a store up (serve, migrate, demo, org create) create one where
the database URL points. Every other command opens an existing store or says which one
it looked for and how to name another: opening an SQLite URL creates its file, and a
command run from the wrong directory would otherwise leave an empty `worktrail.db`
behind and report an empty history.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

from .config import SETTINGS, ConfigError, Settings, load_settings
from .errors import WorktrailError
from .model import EntityType
from .store import Store, StoreMissing, describe
from .store import open_store as _open_store
from .store.health import schema_state

console = Console()
err = Console(stderr=True)
_opened: list[Store] = []

DATABASE_ENV = next(s.env for s in SETTINGS if s.name == "database_url")
DEFAULT_DATABASE_URL = Settings().database_url

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help=f"sqlite:///path.db or postgresql://... (default: {DATABASE_ENV}, then "
        f"{DEFAULT_DATABASE_URL})",
        show_default=False,
    ),
]
OrgOption = Annotated[
    int | None, typer.Option("--org", help="Organization id (default: the first).")
]


def settings_for(database_url: str | None, **overrides: object) -> Settings:
    """The settings a command runs with: its options over the environment and file."""
    try:
        return load_settings().with_overrides(database_url=database_url, **overrides)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def open_store(settings: Settings, *, create: bool = False, migrate: bool | None = None) -> Store:
    """The store the settings name, closed when the command ends (see close_stores).

    create=False (the default): only an existing store, else a message naming the store
    looked for and exit 2. create=True: a new store is made if there is none, and said so.
    migrate (by default: when create is true): bring the schema to the newest version.
    A store neither created nor migrated must be at the newest version already: a command
    that only uses a store leaves its schema alone, and says to run `worktrail migrate`."""
    migrate = create if migrate is None else migrate
    try:
        store = _open_store(settings, create=create)
        _opened.append(store)
        fresh = create and migrate and store.schema_revision() is None
        if migrate:
            store.migrate()
        elif not create:
            _require_current_schema(store)
    except StoreMissing as exc:
        err.print(missing_store_help(exc, settings.database_url), soft_wrap=True)
        raise typer.Exit(2) from exc
    except (ConfigError, WorktrailError, ValueError) as exc:
        err.print(f"[red]cannot open the database:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    if fresh:
        # unwrapped, so that the path can be copied whole from any width of terminal
        err.print(
            f"Created a new worktrail store at {describe(settings.database_url)}", soft_wrap=True
        )
    return store


def _require_current_schema(store: Store) -> None:
    """Exit 2, saying what to do, unless the store's schema is this worktrail's newest."""
    revision, head = schema_state(store)
    if revision != head:
        err.print(
            f"[red]the store at {describe(store.url)} has schema revision {revision}; this "
            f"worktrail works with {head}:[/red] run `worktrail migrate` first",
            soft_wrap=True,
        )
        raise typer.Exit(2)


def missing_store_help(exc: StoreMissing, url: str) -> str:
    """What to tell someone whose command found no store: which one, why it was looked
    for there, and how to name another."""
    lines = [f"[red]no worktrail store at {exc.where}:[/red] {exc.reason}"]
    if os.environ.get(DATABASE_ENV) == url:
        lines.append(f"(the database URL {url} comes from {DATABASE_ENV})")
    elif url == DEFAULT_DATABASE_URL:
        lines.append(f"(the default database URL {url} names a file in the current directory)")
    lines.append(
        f"Name a store with --database-url URL or {DATABASE_ENV}=URL "
        "(sqlite:///path.db or postgresql://user@host/db); "
        "`worktrail migrate`, `worktrail demo` or `worktrail org create` make a new one."
    )
    return "\n".join(lines)


def close_stores() -> None:
    """Close every store the command opened."""
    while _opened:
        _opened.pop().close()


def pick_org(store: Store, org: int | None) -> int:
    """The organization a command works on: `org`, else the first; exit 2 if there is none."""
    orgs = store.list_orgs()
    if not orgs:
        err.print("[red]no organization yet:[/red] run `worktrail demo` or `worktrail org create`")
        raise typer.Exit(2)
    if org is None:
        return orgs[0].id
    if org not in {o.id for o in orgs}:
        err.print(f"[red]organization {org} does not exist[/red]")
        raise typer.Exit(2)
    return org


def owner_of(store: Store, org_id: int) -> int:
    """The id of the organization's owner (exit 2 if it has none)."""
    after = None
    while True:
        users = store.list_entities(org_id, EntityType.USER, after_id=after, limit=500)
        for user in users:
            if user.state.get("role") == "owner":
                return user.id
        if len(users) < 500:
            raise typer.Exit(2)
        after = users[-1].id
