"""`worktrail holds list | place | lift` and `worktrail users erase`: legal holds and
erasure, on the local store, as the organization's owner, through the same checks and
writes as the native API (`/api/v1/legal-holds`, `POST /api/v1/users/{id}/erase`): a hold
placed or an erasure made here is an event like one made over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .cli_store import DatabaseUrl, OrgOption, console, err, open_store, owner_of, pick_org
from .cli_store import settings_for as _settings
from .diff import micros_to_iso
from .errors import WorktrailError

if TYPE_CHECKING:
    from .auth import Principal
    from .query import Reader
    from .store import Store

holds_app = typer.Typer(
    help="Legal holds: held events are never pruned or erased.", no_args_is_help=True
)
users_app = typer.Typer(help="People: erase one (the right to be forgotten).", no_args_is_help=True)


def owner_principal(reader: Reader, store: Store, org_id: int) -> Principal:
    """The organization's owner, whom these commands act as."""
    from .auth import principal_for_user

    owner = owner_of(store, org_id)
    return principal_for_user(reader.names([owner])[owner])


def fail(exc: WorktrailError) -> typer.Exit:
    err.print(f"[red]{escape(exc.detail)}[/red]", soft_wrap=True)
    return typer.Exit(2)


@holds_app.command("list")
def list_holds(
    lifted: Annotated[bool, typer.Option("--lifted", help="Show lifted ones too.")] = False,
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The organization's legal holds."""
    from .query import Reader

    store = open_store(_settings(database_url))
    reader = Reader.whole(store, pick_org(store, org))
    table = Table("id", "scope", "status", "placed", "reason")
    for hold in reader.holds(include_lifted=lifted):
        state = hold.state
        table.add_row(
            str(hold.id),
            f"{state['scope_type']}:{state['scope_id']}",
            "lifted" if hold.deleted else "active",
            micros_to_iso(hold.created_at, "seconds"),
            escape(str(state["reason"])),
        )
    console.print(table)


@holds_app.command("place")
def place(
    scope: Annotated[str, typer.Argument(help="What to hold: organization:ID or TYPE:ID.")],
    reason: Annotated[str, typer.Option(help="Why (required).")],
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Place a legal hold on the organization or on one entity and what lies in it."""
    from .query import Reader
    from .write import Writer
    from .write.holds import parse_scope

    store = open_store(_settings(database_url))
    org_id = pick_org(store, org)
    reader = Reader.whole(store, org_id)
    try:
        principal = owner_principal(reader, store, org_id)
        hold = Writer(store).place_hold(principal, parse_scope(scope), reason).entity
    except WorktrailError as exc:
        raise fail(exc) from exc
    console.print(f"Legal hold {hold.id} placed on {escape(scope)}.")


@holds_app.command("lift")
def lift(
    hold_id: Annotated[int, typer.Argument(min=1, help="The hold's id.")],
    reason: Annotated[str | None, typer.Option(help="Why it is lifted.")] = None,
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Lift a legal hold."""
    from .query import Reader
    from .write import Writer

    store = open_store(_settings(database_url))
    org_id = pick_org(store, org)
    reader = Reader.whole(store, org_id)
    try:
        principal = owner_principal(reader, store, org_id)
        Writer(store).lift_hold(principal, hold_id, reason)
    except WorktrailError as exc:
        raise fail(exc) from exc
    console.print(f"Legal hold {hold_id} lifted.")


@users_app.command("erase")
def erase(
    user_id: Annotated[int, typer.Argument(min=1, help="The user's id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Erase a person's name, email and the free text they wrote from every event (they
    read "[erased]"); hashes, the chain and proofs stay valid. Refused while a legal hold
    holds any of those events."""
    from .query import Reader
    from .write import Writer

    store = open_store(_settings(database_url))
    org_id = pick_org(store, org)
    reader = Reader.whole(store, org_id)
    if not yes:
        typer.confirm(f"Erase user {user_id}'s personal values for good?", abort=True, err=True)
    try:
        principal = owner_principal(reader, store, org_id)
        summary = Writer(store).erase_person(principal, user_id)
    except WorktrailError as exc:
        raise fail(exc) from exc
    console.print(
        f"User {user_id}: {summary['events_redacted']} events redacted "
        f"({summary['values_redacted']} values), {summary['entities_redacted']} entities; "
        f"{summary['legacy_events_kept']} events of schema version 1 left as they were."
    )
