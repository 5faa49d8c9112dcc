"""The `worktrail` command: serve, demo, migrate, org, token, webhooks, worker, tail, export,
verify, witness, integrity, backup, restore, doctor, bench.

serve, migrate, demo and org create may create a store; the others open an existing one
(cli_store)."""

from __future__ import annotations

import gc
import os
import time
from dataclasses import replace
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from .cli_doctor import doctor
from .cli_export import export
from .cli_integrity import integrity_app, verify, witness
from .cli_ops import backup, restore, server_runtime
from .cli_privacy import holds_app, users_app
from .cli_retention import retention_app
from .cli_store import DatabaseUrl, OrgOption, close_stores, console, err, owner_of
from .cli_store import open_store as _store
from .cli_store import pick_org as _org
from .cli_store import settings_for as _settings
from .cli_webhooks import webhooks_app, worker
from .config import SETTINGS
from .diff import micros_to_iso
from .errors import WorktrailError
from .model import Event
from .store import Store, TokenRow, describe

app = typer.Typer(
    help="worktrail: event history and audit trail for work-management data.",
    no_args_is_help=True,
    add_completion=False,
)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
org_app = typer.Typer(help="Create and inspect organizations.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(org_app, name="org")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(holds_app, name="holds")
app.add_typer(users_app, name="users")
app.command()(export)
app.command()(worker)
app.command()(verify)
app.command()(witness)
app.add_typer(integrity_app, name="integrity")
app.add_typer(retention_app, name="retention")
app.command()(backup)
app.command()(restore)
app.command()(doctor)


@app.callback()
def _main(ctx: typer.Context) -> None:
    """Close every store a command opened when it ends."""
    ctx.call_on_close(close_stores)


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _load_demo(store: Store, events: int) -> tuple[int, int]:
    from .demo import build_demo

    with _progress() as progress:
        task = progress.add_task("Writing demo events", total=events)
        result = build_demo(
            store, events=events, progress=lambda n: progress.update(task, completed=n)
        )
        progress.update(task, completed=result.event_count)
    err.print(
        f"Demo organization {result.org_id} ({result.event_count:,} events, "
        f"{result.projects} projects, {result.tasks} tasks, {result.users} users)"
    )
    return result.org_id, result.owner_id


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [default: 8000]")] = None,
    database_url: DatabaseUrl = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load a demo organization if the database is empty.")
    ] = False,
    demo_events: Annotated[int, typer.Option(help="Events in the demo organization.")] = 20_000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (live feeds poll across them).")
    ] = 1,
) -> None:
    """Run the HTTP service (migrating the database first)."""
    import uvicorn

    from .app import create_app
    from .auth import create_token

    settings = _settings(database_url, host=host, port=port)
    if demo:  # a demo's webhooks may go to a receiver on this machine
        settings = replace(settings, webhooks_allow_private=1)
    store = _store(settings, create=True)
    if demo:
        orgs = store.list_orgs()
        if orgs:
            org_id = orgs[0].id
            owner = owner_of(store, org_id)
        else:
            org_id, owner = _load_demo(store, demo_events)
        _, token = create_token(store, org_id, owner, "serve --demo")
        base = f"http://{settings.host}:{settings.port}"
        err.print(f"\nOwner API token: [bold]{token}[/bold]")
        err.print(f"  export TOKEN={token}")
        err.print(f'  curl -H "Authorization: Bearer $TOKEN" "{base}/api/v1/events?limit=5"')
        err.print(f"  API docs: {base}/docs")
        err.print(f"  Web UI: {base}/login#token={token}\n", soft_wrap=True)
    with server_runtime(settings, store, workers) as log_config:
        if workers > 1:
            # Each worker process builds its own app from the environment; the organization
            # lock keeps seq order across processes on both databases.
            store.close()
            values = {s.env: getattr(settings, s.name) for s in SETTINGS}
            os.environ.update({env: str(value) for env, value in values.items() if value})
            uvicorn.run(
                "worktrail.app:create_app_from_environment",
                factory=True,
                workers=workers,
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level,
                log_config=log_config,
            )
            return
        app = create_app(settings, store)
        _freeze_startup_objects()
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            log_config=log_config,
        )


def _freeze_startup_objects() -> None:
    """Leave the objects of startup (modules, routes, schemas: most of the heap) out of
    the garbage collector's full passes, which a batch's many new objects set off."""
    gc.collect()
    gc.freeze()


@app.command()
def demo(
    events: Annotated[int, typer.Option(help="How many events to write (1,000,000 and more).")] = (
        20_000
    ),
    database_url: DatabaseUrl = None,
) -> None:
    """Add a realistic demo organization with weeks of activity, and print an owner token."""
    from .auth import create_token

    store = _store(_settings(database_url), create=True)
    started = time.perf_counter()
    org_id, owner = _load_demo(store, events)
    elapsed = time.perf_counter() - started
    _, token = create_token(store, org_id, owner, "demo")
    err.print(f"Done in {elapsed:.1f}s. Owner API token:")
    console.print(token)


@app.command()
def migrate(
    database_url: DatabaseUrl = None,
    revision: Annotated[
        str | None,
        typer.Option(
            help="Go to this revision instead of the newest: a downgrade (before going back "
            "to an older worktrail) drops what later revisions added."
        ),
    ] = None,
) -> None:
    """Create or upgrade the database schema."""
    from .store.health import revisions

    settings = _settings(database_url)
    store = _store(settings, create=True, migrate=False)
    before = store.schema_revision()
    try:
        store.migrate(revision)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    after = store.schema_revision()
    where = describe(settings.database_url)
    if before == after:
        console.print(f"Schema is up to date (revision {after}) at {where}.", soft_wrap=True)
    else:
        back = before in revisions() and revisions().index(str(after)) > revisions().index(before)
        console.print(
            f"Schema {'downgraded' if back else 'upgraded'} from {before or 'empty'} to {after} "
            f"at {where}.",
            soft_wrap=True,
        )


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option(help="Organization name.")],
    owner_name: Annotated[str, typer.Option(help="Owner's full name.")],
    owner_email: Annotated[str, typer.Option(help="Owner's e-mail.")],
    timezone: Annotated[str, typer.Option(help="Time zone for vendor date rendering.")] = "UTC",
    database_url: DatabaseUrl = None,
) -> None:
    """Create an organization and its owner, and print an owner API token."""
    from .auth import create_token
    from .write import create_organization

    # a new organization may start a new store: the command says so when it does
    store = _store(_settings(database_url), create=True)
    try:
        created = create_organization(store, name, owner_name, owner_email, timezone)
    except WorktrailError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    _, token = create_token(store, created.org_id, created.owner_id, "owner")
    err.print(f"Organization {created.org_id}, owner user {created.owner_id}. Owner API token:")
    console.print(token)


@org_app.command("list")
def org_list(database_url: DatabaseUrl = None) -> None:
    """List organizations with their event counts."""
    store = _store(_settings(database_url))
    table = Table("id", "name", "events", "created")
    for org in store.list_orgs():
        entity = store.get_entity(org.id, org.id)
        name = str(entity.state.get("name")) if entity else ""
        table.add_row(str(org.id), name, f"{org.last_seq:,}", micros_to_iso(org.created_at))
    console.print(table)


@org_app.command("api-key")
def org_api_key(
    org: OrgOption = None,
    rotate: Annotated[bool, typer.Option("--rotate", help="Replace it with a new key.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Show (or rotate) the organization's admin API key used by vendor admin APIs."""
    import secrets

    store = _store(_settings(database_url))
    org_id = _org(store, org)
    if rotate:
        store.set_admin_api_key(org_id, secrets.token_hex(16))
    row = store.get_org(org_id)
    assert row is not None
    console.print(row.admin_api_key)


TokenId = Annotated[int, typer.Argument(help="Token id from `worktrail token list`.")]
DAY_MICROS = 86_400 * 1_000_000


def _token_name(name: str) -> str:
    """A token's name as the API accepts it: 1 to 200 printable characters."""
    name = name.strip()
    if not name or len(name) > 200 or not name.isprintable():
        err.print("[red]a token's name is 1 to 200 printable characters[/red]")
        raise typer.Exit(2)
    return name


@token_app.command("create")
def token_create(
    user: Annotated[int | None, typer.Option(help="User id (default: the owner).")] = None,
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "cli",
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=36_500, help="Expire after N days (default: never).")
    ] = None,
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Mint an API token for a user; it is shown once and stored hashed."""
    from .auth import create_token
    from .diff import now_micros

    store = _store(_settings(database_url))
    org_id = _org(store, org)
    expires = now_micros() + expires_in_days * DAY_MICROS if expires_in_days else None
    try:
        token_id, token = create_token(
            store, org_id, user or owner_of(store, org_id), _token_name(name), expires
        )
    except WorktrailError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    err.print(f"Token {token_id} created:")
    console.print(token)


@token_app.command("list")
def token_list(org: OrgOption = None, database_url: DatabaseUrl = None) -> None:
    """List an organization's tokens (never the secrets): when each was last used, when it
    expires, when it was revoked."""
    from rich.markup import escape

    def when(micros: int | None) -> str:
        return micros_to_iso(micros, "seconds") if micros else ""

    store = _store(_settings(database_url))
    table = Table("id", "user", "name", "prefix", "created", "last used", "expires", "revoked")
    for row in store.list_tokens(_org(store, org)):
        table.add_row(
            str(row.id),
            str(row.user_id),
            escape(row.name),
            row.prefix + "…",
            when(row.created_at),
            when(row.last_used_at),
            when(row.expires_at),
            when(row.revoked_at),
        )
    console.print(table)


def _token(store: Store, org: int | None, token_id: int) -> tuple[int, TokenRow]:
    """(organization id, the token) or exit 1 naming what is missing."""
    org_id = _org(store, org)
    row = store.get_token(org_id, token_id)
    if row is None:
        err.print(f"[red]no token {token_id} in organization {org_id}[/red]")
        raise typer.Exit(1)
    return org_id, row


@token_app.command("revoke")
def token_revoke(
    token_id: TokenId, org: OrgOption = None, database_url: DatabaseUrl = None
) -> None:
    """Revoke a token: requests with it are refused from now on. A revoked token stays
    revoked; revoking it again changes nothing."""
    store = _store(_settings(database_url))
    org_id, row = _token(store, org, token_id)
    if row.revoked_at is not None:
        console.print(f"Token {token_id} was already revoked ({micros_to_iso(row.revoked_at)}).")
        return
    store.revoke_token(org_id, token_id)
    console.print(f"Token {token_id} revoked.")


@token_app.command("rename")
def token_rename(
    token_id: TokenId,
    name: Annotated[str, typer.Argument(help="The new name.")],
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Give a token a new name."""
    store = _store(_settings(database_url))
    org_id, _ = _token(store, org, token_id)
    store.update_token(org_id, token_id, {"name": _token_name(name)})
    console.print(f"Token {token_id} renamed.")


@token_app.command("expire")
def token_expire(
    token_id: TokenId,
    in_days: Annotated[
        int | None, typer.Option("--in-days", min=1, max=36_500, help="Expire N days from now.")
    ] = None,
    now: Annotated[bool, typer.Option("--now", help="Expire it at once.")] = False,
    never: Annotated[bool, typer.Option("--never", help="Remove its expiry.")] = False,
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set when a token expires (an expired token can be given a later expiry again; a
    revoked one cannot come back)."""
    from .diff import now_micros

    if (in_days is not None) + now + never != 1:
        err.print("[red]give one of --in-days N, --now, --never[/red]")
        raise typer.Exit(2)
    store = _store(_settings(database_url))
    org_id, _ = _token(store, org, token_id)
    expires = None if never else now_micros() + (in_days or 0) * DAY_MICROS
    store.update_token(org_id, token_id, {"expires_at": expires})
    console.print(
        f"Token {token_id} "
        + ("never expires." if expires is None else f"expires {micros_to_iso(expires, 'seconds')}.")
    )


def event_line(event: Event) -> str:
    actor = event.actor.name if event.actor else "system"
    parts = []
    for change in event.changes:
        if "added" in change:
            parts.append(f"{change['field']} +{change['added']} -{change['removed']}")
        else:
            parts.append(f"{change['field']}: {change['old']!r} → {change['new']!r}")
    summary = "; ".join(parts)
    if len(summary) > 160:
        summary = summary[:157] + "..."
    subject = f"{event.subject_type.value}:{event.subject_id}"
    return (
        f"{event.seq:>8} {micros_to_iso(event.occurred_at)} {actor:<20} "
        f"{event.action.value:<9} {subject:<16} {summary}"
    ).rstrip()


@app.command()
def tail(
    org: OrgOption = None,
    scope: Annotated[
        str | None, typer.Option(help="Only this entity and its descendants, e.g. project:12.")
    ] = None,
    cursor: Annotated[str | None, typer.Option(help="Resume from a cursor (order=oldest).")] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Begin with the first event.")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 0.5,
    max_events: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Follow new events as they are committed, one line each."""
    from dataclasses import replace

    from .model import EventQuery, Scope
    from .query import CursorCodec, Reader, decode_cursor, encode_position

    parsed_scope = None
    if scope:
        try:
            parsed_scope = Scope.parse(scope)
        except ValueError as exc:
            err.print(f"[red]--scope {exc}[/red]")
            raise typer.Exit(2) from exc
    store = _store(_settings(database_url))
    org_id = _org(store, org)
    reader = Reader.whole(store, org_id)
    if parsed_scope is not None:
        try:  # a scope that names nothing would wait for events forever
            reader.scope(parsed_scope)
        except WorktrailError as exc:
            err.print(f"[red]--scope: {exc.detail}[/red]")
            raise typer.Exit(2) from exc
    query = EventQuery(org_id=org_id, scope=parsed_scope, ascending=True, limit=500)
    codec = CursorCodec(store.server_secret())
    if cursor:
        try:
            position, issued = decode_cursor(codec, query, cursor)
            reader.check_position(position, True, issued)  # never past pruned events
        except WorktrailError as exc:
            err.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(2) from exc
    else:
        position = 0 if from_start else reader.head()
    # where it starts, before the first poll: events committed from now on are shown
    err.print(f"following {scope or 'every event'} after seq {position} (Ctrl-C stops)")
    seen = 0
    try:
        while max_events is None or seen < max_events:
            page = reader.page(replace(query, after_seq=position))
            for event in page.events:
                console.print(event_line(event), markup=False, highlight=False, soft_wrap=True)
                seen += 1
                position = event.seq
                if max_events is not None and seen >= max_events:
                    break
            if not page.has_more:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    err.print(f"resume with --cursor {encode_position(codec, query, position)}")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def bench(ctx: typer.Context) -> None:
    """Run the performance suite (bench/ of a source checkout): the same as `python -m bench`,
    with the same options (--help lists them)."""
    import subprocess
    import sys
    from pathlib import Path

    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / "bench" / "suite.py").is_file():
        err.print(
            "the performance suite lives in bench/ of a source checkout; install worktrail "
            "from a clone (pip install -e '.[bench]') to run it"
        )
        raise typer.Exit(2)
    result = subprocess.run([sys.executable, "-m", "bench", *ctx.args], cwd=checkout)
    raise typer.Exit(result.returncode)


if __name__ == "__main__":  # pragma: no cover
    app()
