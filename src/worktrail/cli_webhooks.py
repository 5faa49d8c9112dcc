"""`worktrail worker` and `worktrail webhooks list | add | deliveries | replay`.

The webhook commands act on the local store as the organization's owner, through the same
checks and writes as the native API (`/api/v1/webhooks`): a subscription added here is
history like one added over HTTP. `worker` delivers: any number of them, beside or instead
of the delivery that `worktrail serve` runs (WORKTRAIL_WEBHOOK_WORKER=0 turns that off).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .cli_store import (
    DatabaseUrl,
    OrgOption,
    console,
    err,
    open_store,
    owner_of,
    pick_org,
    settings_for,
)
from .diff import micros_to_iso
from .errors import WorktrailError

if TYPE_CHECKING:
    from .auth import Principal
    from .store import Store

webhooks_app = typer.Typer(
    help="Manage webhook subscriptions: list, add, deliveries, replay.", no_args_is_help=True
)

WebhookId = Annotated[int, typer.Argument(min=1, help="The subscription's id.")]


def _when(micros: int | None) -> str:
    return micros_to_iso(micros, "seconds") if micros else ""


def _owner(reader: Any, store: Store, org_id: int) -> Principal:
    """The organization's owner, whom the webhook commands act as."""
    from .auth import principal_for_user

    owner = owner_of(store, org_id)
    return principal_for_user(reader.names([owner])[owner])


def _fail(exc: WorktrailError) -> typer.Exit:
    err.print(f"[red]{escape(exc.detail)}[/red]", soft_wrap=True)
    return typer.Exit(2)


def worker(database_url: DatabaseUrl = None) -> None:
    """Deliver webhooks, issue checkpoints as they fall due and run each organization's
    retention policy (every retention_interval_minutes), until stopped (SIGTERM or
    Ctrl-C finish what is in flight first).

    Any number of workers may run, on any machines sharing a PostgreSQL database: they
    share the work through it and never send one attempt twice at once. The log is the
    server's (log_level, log_format); with metrics set to HOST:PORT, the worker serves its
    own metrics there."""
    from .cli_ops import server_runtime
    from .worker import CheckpointWorker, RetentionWorker, build_worker
    from .write import Notary

    settings = settings_for(database_url)
    store = open_store(settings)
    try:
        delivery = build_worker(store, settings)
    except WorktrailError as exc:
        raise _fail(exc) from exc
    # and checkpoints, when they are due (worker/checkpoints.py)
    checkpoints = CheckpointWorker(store, Notary(store, settings), settings)
    signing = checkpoints if checkpoints.enabled else None
    expiry = RetentionWorker(store, settings)  # worker/retention.py
    with server_runtime(settings, store):
        err.print("Delivering webhooks; SIGTERM or Ctrl-C stops after what is in flight.")
        run_event_loop(_run_until_signalled(delivery, signing, expiry if expiry.enabled else None))
    err.print("Stopped.")


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop where it is installed (uvicorn's `standard` extra brings it, and
    `serve` runs on it too): sockets cost the worker about half as much as on asyncio's own
    loop. asyncio's loop otherwise."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _run_until_signalled(
    delivery: Any, checkpoints: Any = None, retention: Any = None
) -> None:
    loop = asyncio.get_running_loop()
    jobs = [job for job in (delivery, checkpoints, retention) if job is not None]
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: [job.stop() for job in jobs])
    await asyncio.gather(*(job.run() for job in jobs))


@webhooks_app.command("list")
def list_webhooks(
    deleted: Annotated[bool, typer.Option("--deleted", help="Show deleted ones too.")] = False,
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The organization's subscriptions and where each one's delivery stands."""
    from .query import Reader

    store = open_store(settings_for(database_url))
    reader = Reader.whole(store, pick_org(store, org))
    table = Table("id", "kind", "status", "url", "pending", "last success", "last failure")
    after: int | None = None
    while True:
        rows, after = reader.webhooks(after, 500, deleted)
        ids = [r.id for r in rows]
        cursors, owed = reader.webhook_cursors(ids), reader.webhook_owed(ids)
        for row in rows:
            cursor = cursors.get(row.id)
            failure = ""
            if cursor is not None and cursor.last_failure_at:
                failure = f"{_when(cursor.last_failure_at)} {cursor.last_failure or ''}"
            table.add_row(
                str(row.id),
                str(row.state["kind"]),
                "deleted" if row.deleted else str(row.state["status"]),
                escape(str(row.state["url"])),
                str(owed.get(row.id, (0, 0))[0]),
                _when(cursor.last_success_at) if cursor else "",
                escape(failure),
            )
        if after is None:
            break
    console.print(table)


FilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        help="KEY=VALUE, as GET /api/v1/events takes them: scope=project:12, "
        "subject_type=task, action=created,closed, actor=7. Repeatable.",
    ),
]


@webhooks_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where deliveries go (http or https).")],
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    filter_: FilterOption = None,
    signing: Annotated[
        str, typer.Option(help="hmac (a shared whsec_ secret) or ed25519 (a public key).")
    ] = "hmac",
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Subscribe an endpoint to the organization's events (signed, Standard Webhooks).
    The secret is shown once."""
    from .delivery.subscriptions import new_subscription
    from .query import Reader
    from .write import Writer

    settings = settings_for(database_url)
    store = open_store(settings)
    org_id = pick_org(store, org)
    body: dict[str, Any] = {"url": url, "signing": signing, "filter": _filter(filter_ or [])}
    if description is not None:
        body["description"] = description
    reader = Reader.whole(store, org_id)
    try:
        values, secret = new_subscription(
            body, reader=reader, allow_private=bool(settings.webhooks_allow_private)
        )
        principal = _owner(reader, store, org_id)
        entity = Writer(store).create_webhook(principal, values, secret).entity
    except WorktrailError as exc:
        raise _fail(exc) from exc
    err.print(f"Webhook {entity.id} created, delivering to {escape(url)}.")
    if secret.startswith("whsk_"):
        from .delivery.signing import public_key

        err.print("Its deliveries verify with this public key:")
        console.print(public_key(secret))
    else:
        err.print("Its signing secret (shown this once):")
        console.print(secret)


def _filter(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            err.print(f"[red]--filter takes KEY=VALUE; got {escape(pair)!r}[/red]")
            raise typer.Exit(2)
        out[key.strip()] = value.strip()
    return out


@webhooks_app.command("deliveries")
def deliveries(
    webhook_id: WebhookId,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """A subscription's delivery log: one row per attempt, newest first."""
    from .model import event_id
    from .query import Reader

    store = open_store(settings_for(database_url))
    reader = Reader.whole(store, pick_org(store, org))
    try:
        reader.webhook(webhook_id)
        rows, _ = reader.webhook_deliveries(webhook_id, None, limit)
    except WorktrailError as exc:
        raise _fail(exc) from exc
    table = Table("attempted", "event", "try", "status", "ms", "error", "next try")
    for row in rows:
        table.add_row(
            _when(row.attempted_at),
            "ping" if row.seq is None else str(event_id(row.org_id, row.seq)),
            str(row.attempt),
            "" if row.status_code is None else str(row.status_code),
            str(row.latency_ms),
            escape(row.error or ""),
            _when(row.next_attempt_at),
        )
    console.print(table)


@webhooks_app.command("replay")
def replay(
    webhook_id: WebhookId,
    since: Annotated[
        str, typer.Option(help="Deliver again every event recorded from this ISO-8601 time.")
    ],
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Deliver again, with the same webhook-ids, every matching event from a time on."""
    from .query import Reader
    from .web.params import parse_time
    from .write import Writer

    store = open_store(settings_for(database_url))
    org_id = pick_org(store, org)
    reader = Reader.whole(store, org_id)
    try:
        reader.webhook(webhook_id)
        position = reader.position_before(parse_time(since, "since"))
        principal = _owner(reader, store, org_id)
        Writer(store).replay_webhook(principal, webhook_id, position)
    except WorktrailError as exc:
        raise _fail(exc) from exc
    console.print(
        f"Webhook {webhook_id}: every matching event after seq {position} is due again; "
        "a running worker delivers them."
    )
