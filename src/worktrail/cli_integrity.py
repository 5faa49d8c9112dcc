"""`worktrail verify`, `worktrail witness`, `worktrail integrity key | checkpoint |
rotate-key`, and the bundles `worktrail export --bundle` writes.

`verify` checks a store (its hash chain, and its Merkle tree against the latest
checkpoint and, with --checkpoint, one kept from before), or offline, with nothing but
files and the log's verifier key: a bundle (--bundle) or one event's proof (--proof, as
GET /api/v1/events/{id}/proof answers it)."""

from __future__ import annotations

import base64
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from .cli_store import DatabaseUrl, OrgOption, console, err, open_store, pick_org, settings_for
from .errors import WorktrailError

if TYPE_CHECKING:
    from .integrity.note import VerifierKey

integrity_app = typer.Typer(
    help="Checkpoints and their signing key: key, checkpoint, rotate-key.", no_args_is_help=True
)

KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="The log's verifier key (a line as GET /api/v1/integrity/key gives), or a file "
        "of them.",
        show_default=False,
    ),
]


def load_keys(value: str) -> list[VerifierKey]:
    """Verifier keys from a key line or a file of them; exit 2 naming what is wrong."""
    from .integrity.note import NoteError, parse_verifier_keys

    path = Path(value)
    try:
        text = path.read_text() if "+" not in value and path.is_file() else value
        return parse_verifier_keys(text)
    except (NoteError, OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]--key:[/red] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from exc


def _fail(message: str) -> typer.Exit:
    console.print(f"BROKEN: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


# -- verify ----------------------------------------------------------------------------------


def verify(
    org: OrgOption = None,
    database_url: DatabaseUrl = None,
    bundle: Annotated[
        Path | None, typer.Option(help="Check this bundle offline (needs --key).")
    ] = None,
    proof: Annotated[
        Path | None,
        typer.Option(help="Check one event's proof offline, as saved from the API (--key)."),
    ] = None,
    key: KeyOption = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="A checkpoint kept from before: the store must still extend it (--key)."),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Processes checking a bundle [default: one a CPU]")
    ] = None,
) -> None:
    """Recompute the organization's hash chain and Merkle tree and hold them to the latest
    checkpoint; or check a bundle or a proof offline, with the log's verifier key."""
    if bundle is not None or proof is not None:
        if key is None or (bundle is not None and proof is not None):
            err.print("[red]give --bundle FILE or --proof FILE, and --key[/red]")
            raise typer.Exit(2)
        if database_url is not None or org is not None or checkpoint is not None:
            err.print(
                "[red]--bundle and --proof are checked offline: leave out the store options[/red]"
            )
            raise typer.Exit(2)
        if bundle is not None:
            _verify_bundle(bundle, load_keys(key), jobs)
        else:
            assert proof is not None
            _verify_proof(proof, load_keys(key))
        return
    _verify_store(org, database_url, checkpoint, key)


def _verify_bundle(path: Path, keys: list[VerifierKey], jobs: int | None) -> None:
    from .integrity.bundle import BundleError, verify_bundle

    started = time.perf_counter()
    try:
        report = verify_bundle(path, keys, jobs)
    except OSError as exc:
        err.print(f"[red]cannot read {path}:[/red] {exc.strerror}")
        raise typer.Exit(2) from exc
    except BundleError as exc:
        raise _fail(str(exc)) from exc
    elapsed = time.perf_counter() - started
    span = f"seq {report.first_seq}…{report.last_seq}, " if report.events else ""
    console.print(
        f"OK: {report.events:,} events ({span}in {elapsed:.2f}s) proven in {report.origin} "
        f"at tree size {report.tree_size}, signed by a key given.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def check_proof(body: dict[str, Any], keys: list[VerifierKey]) -> tuple[int, int, str]:
    """(seq, tree size, origin) of a proof as GET /api/v1/events/{id}/proof answers it,
    once it holds: the event's hash from its content, its leaf in the signed checkpoint's
    tree. ValueError naming what does not hold."""
    import hashlib

    from .chain import canonical_bytes
    from .integrity.checkpoint import open_checkpoint
    from .integrity.events import rendered_body
    from .integrity.merkle import leaf_hash, verify_inclusion

    event = body["event"]
    checkpoint = open_checkpoint(body["checkpoint"], keys)
    digest = hashlib.sha256(canonical_bytes(rendered_body(event))).hexdigest()
    if digest != event["hash"]:
        raise ValueError(f"event seq {event['seq']}: its content does not match its hash")
    leaf = leaf_hash(bytes.fromhex(digest))
    if base64.b64decode(body["leaf_hash"]) != leaf or body["leaf_index"] != event["seq"] - 1:
        raise ValueError(f"event seq {event['seq']}: the proof is of another leaf")
    if body["tree_size"] != checkpoint.size:
        raise ValueError("the proof is of another tree size than its checkpoint")
    path = [base64.b64decode(h) for h in body["audit_path"]]
    verify_inclusion(event["seq"] - 1, checkpoint.size, leaf, path, checkpoint.root)
    return int(event["seq"]), checkpoint.size, checkpoint.origin


def _verify_proof(path: Path, keys: list[VerifierKey]) -> None:
    try:
        body = orjson.loads(path.read_bytes())
    except OSError as exc:
        err.print(f"[red]cannot read {path}:[/red] {exc.strerror}")
        raise typer.Exit(2) from exc
    except orjson.JSONDecodeError as exc:
        raise _fail(f"{path} is not JSON: {exc}") from exc
    try:
        seq, size, origin = check_proof(body, keys)
    except (KeyError, TypeError) as exc:
        raise _fail(f"{path} is not a proof as the API gives it (no {exc})") from exc
    except ValueError as exc:  # ProofError, NoteError, a bad hash
        raise _fail(str(exc)) from exc
    console.print(
        f"OK: event seq {seq} is in {origin} at tree size {size}, signed by a key given.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _verify_store(
    org: int | None, database_url: str | None, kept: Path | None, key: str | None
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from .integrity.checkpoint import Checkpoint, open_checkpoint
    from .integrity.note import NoteError
    from .verify import verify_chain

    trusted: Checkpoint | None = None
    if kept is not None:
        if key is None:
            err.print("[red]--checkpoint needs --key to check its signature[/red]")
            raise typer.Exit(2)
        try:
            trusted = open_checkpoint(kept.read_text(), load_keys(key))
        except (OSError, NoteError) as exc:
            err.print(f"[red]--checkpoint {kept}:[/red] {exc}", soft_wrap=True)
            raise typer.Exit(2) from exc
    store = open_store(settings_for(database_url))
    org_id = pick_org(store, org)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )
    try:
        with progress:
            task = progress.add_task("Verifying", total=store.head_seq(org_id))
            result = verify_chain(
                store, org_id, lambda n: progress.update(task, completed=n), trusted
            )
            progress.update(task, completed=result.checked)
    except WorktrailError as exc:
        raise _fail(f"the store cannot be read: {exc.detail}") from exc
    if not result.ok:
        where = f"at seq {result.first_bad_seq}" if result.first_bad_seq else "Merkle tree"
        console.print(f"BROKEN {where}: {result.reason}", markup=False, soft_wrap=True)
        raise typer.Exit(1)
    held = (
        f", Merkle tree matches the checkpoint of tree size {result.checkpoint}"
        if result.checkpoint is not None
        else ", Merkle tree intact (no checkpoint yet)"
    )
    if trusted is not None:
        held += f" and extends the one given (tree size {trusted.size})"
    pruned = f"; {result.pruned_summary()}" if result.pruned else ""
    console.print(f"OK: {result.checked:,} events, chain intact{held}{pruned}.", soft_wrap=True)


# -- integrity key | checkpoint | rotate-key ---------------------------------------------------


def _notary(database_url: str | None) -> Any:
    from .write import Notary

    settings = settings_for(database_url)
    store = open_store(settings)
    return store, Notary(store, settings)


@integrity_app.command("key")
def key_lines(org: OrgOption = None, database_url: DatabaseUrl = None) -> None:
    """Print the organization's verifier keys: the current one first, then retired ones
    (the same lines as GET /api/v1/integrity/key)."""
    from .integrity.note import VerifierKey

    store, notary = _notary(database_url)
    org_id = pick_org(store, org)
    keys = store.integrity.signing_keys()
    if not keys:
        err.print("[red]no signing key yet:[/red] `worktrail integrity checkpoint` makes one")
        raise typer.Exit(1)
    for k in keys:
        console.print(VerifierKey(notary.origin(org_id), k.public_key).line(), soft_wrap=True)


@integrity_app.command("checkpoint")
def checkpoint_now(org: OrgOption = None, database_url: DatabaseUrl = None) -> None:
    """Issue a checkpoint of the organization's tree now and print it (the latest one, when
    the tree has not grown since); the signing key is made on first use."""
    store, notary = _notary(database_url)
    org_id = pick_org(store, org)
    try:
        record = notary.issue(org_id)
    except WorktrailError as exc:
        err.print(f"[red]{exc.detail}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    typer.echo(record.note, nl=False)


@integrity_app.command("rotate-key")
def rotate_key(database_url: DatabaseUrl = None) -> None:
    """Make a new signing key: new checkpoints are signed with it; the old one is retired
    but stays published, so everything it signed still verifies. Restart servers on other
    hosts with the new key file."""
    _, notary = _notary(database_url)
    try:
        before, after = notary.rotate()
    except WorktrailError as exc:
        err.print(f"[red]{exc.detail}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    retired = f"key {before[:16]} retired; " if before else ""
    console.print(f"{retired}key {after[:16]} signs from now on ({notary.key_path}).")


# -- witness --------------------------------------------------------------------------------


def witness(
    url: Annotated[str, typer.Argument(help="The server, e.g. https://audit.example.com")],
    key: KeyOption = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="WORKTRAIL_TOKEN", help="API token of the organization.", show_default=False
        ),
    ] = None,
    state: Annotated[Path, typer.Option(help="Where the checkpoints seen are kept.")] = Path(
        "witness-state"
    ),
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="Check once and exit.")] = False,
) -> None:
    """Watch a log's checkpoints: each must be signed by the key and extend the last one
    seen (checked with a consistency proof). Exits 1 on a split view, a rollback or a bad
    signature; with --once, 3 when the server cannot be asked."""
    from .integrity.witness import Alarm, Unreachable, Witness

    if key is None:
        err.print("[red]--key is required: the log's verifier key[/red]")
        raise typer.Exit(2)
    watcher = Witness(url, load_keys(key), state, token)
    try:
        while True:
            try:
                seen = watcher.check()
                console.print(seen.news, markup=False, highlight=False, soft_wrap=True)
            except Alarm as exc:
                console.print(f"ALARM: {exc}", markup=False, highlight=False, soft_wrap=True)
                raise typer.Exit(1) from exc
            except Unreachable as exc:
                err.print(f"cannot check now: {exc}", markup=False, highlight=False, soft_wrap=True)
                if once:
                    raise typer.Exit(3) from exc
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.close()


# -- bundles --------------------------------------------------------------------------------


def write_bundle(store: Any, settings: Any, org_id: int, query: Any, out: Any) -> int:
    """Write a bundle of the events `query` selects (in seq order) to `out`: a checkpoint
    issued now (or the latest one, where this process cannot sign), the events it covers
    and the subtree hashes that prove them. How many events it holds."""
    from .chain import canonical_bytes
    from .integrity.bundle import disclosure_line, event_line, header, trailer
    from .integrity.checkpoint import Checkpoint
    from .integrity.events import UnreadableEvent, stored_body
    from .integrity.multiproof import needed
    from .integrity.note import split
    from .query import Reader
    from .write import Notary, SigningUnavailable

    try:
        record = Notary(store, settings).issue(org_id)
    except SigningUnavailable as exc:
        record = store.integrity.latest_checkpoint(org_id)
        if record is None:
            raise WorktrailError(f"no checkpoint to prove the events with: {exc.detail}") from exc
    checkpoint = Checkpoint.parse(split(record.note)[0])
    size = checkpoint.size
    out.write(header(checkpoint, record.note))
    runs: list[list[int]] = []
    count = 0
    for chunk in Reader.whole(store, org_id).iter_stored(replace(query, ascending=True), 5000):
        for event in chunk:
            if event.seq > size:
                break
            try:
                canonical = canonical_bytes(stored_body(event))
            except UnreadableEvent as exc:
                raise WorktrailError(f"event seq {event.seq}: {exc}") from exc
            out.write(event_line(event.hash, canonical))
            if event.personal:
                personal = orjson.loads(event.personal)
                out.write(disclosure_line(orjson.loads(event.data), personal))
            if runs and runs[-1][1] == event.seq - 1:
                runs[-1][1] = event.seq
            else:
                runs.append([event.seq - 1, event.seq])
            count += 1
        else:
            continue
        break
    nodes = store.integrity.nodes(org_id, needed(size, [(a, b) for a, b in runs]))
    out.write(trailer(count, nodes))
    return count
