"""`worktrail retention show | set | run`: each organization's retention policy, and
expiring its old events by hand (the background job does the same every
retention_interval_minutes)."""

from __future__ import annotations

from typing import Annotated

import typer

from .cli_store import DatabaseUrl, OrgOption, console, err, open_store, pick_org, settings_for
from .diff import micros_to_iso
from .errors import WorktrailError
from .model import RetentionPolicy
from .model.retention import check_by_type, check_days

retention_app = typer.Typer(
    help="Show and set each organization's retention policy; expire old events.",
    no_args_is_help=True,
)


@retention_app.command("show")
def show(org: OrgOption = None, database_url: DatabaseUrl = None) -> None:
    """The organization's policy and how far its history is pruned."""
    from .write.retention import policy_of

    store = open_store(settings_for(database_url))
    org_id = pick_org(store, org)
    policy = policy_of(store, org_id)
    ranges = store.retention.ranges(org_id)
    console.print(f"organization {org_id}: {policy.describe()}", soft_wrap=True)
    through = store.retention.pruned_through(org_id)
    if not ranges:
        console.print("nothing pruned yet")
        return
    prefix = f"events 1..{through} pruned" if through else "no prefix pruned"
    holes = [r for r in ranges if r.first_seq != 1]
    console.print(
        f"{prefix}; {len(holes)} pruned run(s) after it; last pruned "
        f"{micros_to_iso(max(r.pruned_at for r in ranges))}",
        soft_wrap=True,
    )


@retention_app.command("set")
def set_policy(
    days: Annotated[int | None, typer.Option("--days", help="Keep events this many days.")] = None,
    forever: Annotated[
        bool, typer.Option("--forever", help="Keep events forever (no retention).")
    ] = False,
    subject_type: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            help="TYPE=DAYS or TYPE=forever: this subject type's own retention (repeatable).",
        ),
    ] = None,
    clear_types: Annotated[
        bool, typer.Option("--clear-types", help="Drop every per-subject-type retention.")
    ] = False,
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change the organization's retention policy (what is not given stays)."""
    from .write.retention import policy_of
    from .write.retention import set_policy as keep

    if days is not None and forever:
        err.print("[red]--days and --forever contradict each other[/red]")
        raise typer.Exit(2)
    store = open_store(settings_for(database_url))
    org_id = pick_org(store, org)
    old = policy_of(store, org_id)
    by_type: dict[str, int | None] = {} if clear_types else dict(old.by_type)
    try:
        new_days = None if forever else (check_days(days) if days is not None else old.days)
        for item in subject_type or []:
            kind, _, value = item.partition("=")
            wanted = None if value == "forever" else int(value) if value.isdigit() else value
            by_type.update(check_by_type({kind: wanted}))
    except ValueError as exc:
        err.print(f"[red]the policy must be {exc}[/red]")
        raise typer.Exit(2) from exc
    policy = keep(store, org_id, RetentionPolicy(new_days, by_type))
    console.print(f"organization {org_id}: {policy.describe()}", soft_wrap=True)


@retention_app.command("run")
def run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would expire; remove nothing.")
    ] = False,
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove the events each organization's policy says are expired (every organization,
    or --org's), with a progress bar. On PostgreSQL a run over every organization first
    drops the months that have expired whole (a month holds every organization's events,
    so a run with --org deletes in batches only)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from .write.retention import run_retention

    store = open_store(settings_for(database_url))
    if org is not None:
        pick_org(store, org)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )
    tasks: dict[int, object] = {}

    def advance(org_id: int, done: int, total: int) -> None:
        if org_id not in tasks:
            tasks[org_id] = progress.add_task(f"Organization {org_id}", total=total)
        progress.update(tasks[org_id], completed=done, total=total)  # type: ignore[arg-type]

    try:
        with progress:
            reports = run_retention(
                store, None if org is None else [org], dry_run=dry_run, progress=advance
            )
    except WorktrailError as exc:
        err.print(f"[red]retention failed:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    if not reports:
        console.print("no organization has a retention policy: nothing expires")
    verb = "would remove" if dry_run else "removed"
    for report in reports:
        partitions = (
            f" ({len(report.partitions_dropped)} partition(s) dropped whole)"
            if report.partitions_dropped
            else ""
        )
        console.print(
            f"organization {report.org_id}: {verb} {report.expired:,} events{partitions}, "
            f"{report.held:,} kept by legal holds; pruned through seq {report.pruned_through}",
            soft_wrap=True,
        )
