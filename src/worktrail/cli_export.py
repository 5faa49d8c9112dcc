"""`worktrail export`: the events `GET /api/v1/events` selects, as CSV or NDJSON, to a file
or stdout, streamed in constant memory.

From the local store (--database-url, --org) the events are read through the read door as
the organization's owner sees them and rendered by the API's own renderers, so the file
is byte for byte what the API streams. From a server (--url, --token) it is what the
server streams, as the token's user may read it. Either way the filters go through the
API's parser first, so a bad value is refused before anything is read, in the API's words.

The web and HTTP-client modules are imported by the functions that use them: every
`worktrail` command imports this module, and `tail` should start at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import orjson
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .cli_integrity import write_bundle
from .cli_store import DatabaseUrl, OrgOption, err, open_store, pick_org, settings_for
from .config import Settings
from .errors import WorktrailError

if TYPE_CHECKING:
    import httpx

    from .model import EventQuery, StoredEvent

MEDIA_TYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
EXTENSIONS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}
FILTERS = (
    "scope",
    "descendants",
    "subject_type",
    "action",
    "actor",
    "occurred_after",
    "occurred_before",
    "order",
)


class ExportFailed(Exception):
    """The export cannot go on; `code` is the exit status (2: the request was wrong)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Filters:
    """The options that select events, named as GET /api/v1/events names its parameters."""

    scope: str | None
    descendants: bool
    subject_type: list[str]
    action: list[str]
    actor: list[str]
    occurred_after: str | None
    occurred_before: str | None
    order: str | None

    def params(self) -> list[tuple[str, str]]:
        """The query parameters of the same request to the API."""
        pairs: list[tuple[str, str]] = []
        for name in FILTERS:
            value = getattr(self, name)
            if name == "descendants":
                if not value:
                    pairs.append((name, "false"))
            elif isinstance(value, list):
                pairs.extend((name, v) for v in value)
            elif value is not None:
                pairs.append((name, value))
        return pairs

    def query(self, settings: Settings, org_id: int) -> EventQuery:
        """The EventQuery the API would make of these filters, or ExportFailed (code 2)."""
        from starlette.datastructures import QueryParams

        from .api.events import history_query

        try:
            return history_query(QueryParams(self.params()), settings, org_id)
        except WorktrailError as exc:
            raise ExportFailed(as_options(exc.detail), 2) from exc


def as_options(message: str) -> str:
    """An API message about parameters ('occurred_after'), in option names (--occurred-after)."""
    names = "|".join(FILTERS)
    return re.sub(rf"'({names})'", lambda m: "--" + m[1].replace("_", "-"), message)


def choose_format(fmt: str | None, output: str | None) -> str:
    """csv or ndjson: as asked, else by the output file's extension, else ndjson."""
    if fmt is not None:
        if fmt not in MEDIA_TYPES:
            raise ExportFailed(f"--format must be csv or ndjson, got {fmt!r}", 2)
        return fmt
    return EXTENSIONS.get(Path(output).suffix.lower(), "ndjson") if output else "ndjson"


# -- where the bytes come from ----------------------------------------------------------------


def local_pieces(
    filters: Filters, fmt: str, database_url: str | None, org: int | None, show: bool
) -> tuple[Iterator[bytes], Progress]:
    """The rendered export from the local store, and a progress of events written (of the
    total matching, counted first when the progress is shown)."""
    from .api import events as api
    from .query import Reader
    from .web.render import iter_csv, iter_ndjson

    settings = settings_for(database_url)
    filters.query(settings, 0)  # refuse bad filters before opening anything
    store = open_store(settings)
    reader = Reader.whole(store, pick_org(store, org))
    query = filters.query(settings, reader.org_id)
    if query.scope is not None:
        try:
            reader.scope(query.scope)
        except WorktrailError as exc:
            raise ExportFailed(exc.detail, 2) from exc
    progress = Progress(
        TextColumn("Exporting events"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not show,
        redirect_stdout=False,  # stdout carries the export itself
    )
    task = progress.add_task("export", total=reader.count(query) if show else None)
    # the API's chunk size and read-ahead: the same memory bound, the same speed
    chunks = counted(api.read_ahead(reader.iter_stored(query, api.EXPORT_CHUNK)), progress, task)
    render = iter_csv if fmt == "csv" else iter_ndjson
    return render(chunks), progress


def counted(
    chunks: Iterator[list[StoredEvent]], progress: Progress, task: TaskID
) -> Iterator[list[StoredEvent]]:
    for chunk in chunks:
        yield chunk
        progress.advance(task, len(chunk))  # `chunk` has been rendered and written


def remote_pieces(
    filters: Filters, fmt: str, url: str, token: str, show: bool
) -> tuple[Iterator[bytes], Progress]:
    """The export as the server at `url` streams it, and a progress of bytes received
    (the server sends no count)."""
    import httpx

    filters.query(Settings(), 0)  # the server would refuse these too: say so before asking
    if not url.startswith(("http://", "https://")):
        raise ExportFailed(f"--url must start with http:// or https://, got {url!r}", 2)
    progress = Progress(
        TextColumn("Receiving events"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        disable=not show,
        redirect_stdout=False,  # stdout carries the export itself
    )
    task = progress.add_task("export", total=None)
    try:
        request = httpx.Request(
            "GET",
            url.rstrip("/") + "/api/v1/events",
            params=tuple(filters.params()),
            headers={"Authorization": f"Bearer {token}", "Accept": MEDIA_TYPES[fmt]},
        )
    except httpx.InvalidURL as exc:
        raise ExportFailed(f"--url {url!r} is not a URL: {exc}", 2) from exc
    return _receive(request, fmt, lambda n: progress.advance(task, n)), progress


def _receive(request: httpx.Request, fmt: str, advance: Callable[[int], None]) -> Iterator[bytes]:
    import httpx

    # long reads: the server streams as fast as the database reads, chunk by chunk
    timeout = httpx.Timeout(30.0, read=300.0)
    try:
        with httpx.Client(timeout=timeout) as client:
            response = client.send(request, stream=True)
            try:
                _check(response, fmt)
                for piece in response.iter_bytes():
                    yield piece
                    advance(len(piece))
            finally:
                response.close()
    except httpx.HTTPError as exc:
        raise ExportFailed(f"cannot export from {request.url.host}: {exc}", 1) from exc


def _check(response: httpx.Response, fmt: str) -> None:
    """ExportFailed unless the server answered with the stream asked for."""
    if response.status_code == 200:
        if response.headers.get("content-type", "").startswith(MEDIA_TYPES[fmt]):
            return
        raise ExportFailed(f"{response.url} is not worktrail's events API", 1)
    response.read()
    try:
        detail = str(orjson.loads(response.content)["detail"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        detail = response.text[:200]
    code = 2 if 400 <= response.status_code < 500 else 1
    raise ExportFailed(f"the server answered {response.status_code}: {as_options(detail)}", code)


# -- where the bytes go ------------------------------------------------------------------------


@contextmanager
def destination(output: str | None) -> Iterator[BinaryIO]:
    """stdout, or a file that appears complete or not at all: the export is written beside
    it under a temporary name and renamed when it is done."""
    if output is None or output == "-":
        stdout = typer.get_binary_stream("stdout")
        yield stdout
        stdout.flush()
        return
    target = Path(output)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with partial.open("xb") as out:  # made as any new file is, under the umask
            yield out
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def export_bundle(filters: Filters, database_url: str | None, org: int | None, path: Path) -> int:
    """Write a bundle of the events the filters select from the local store to `path`;
    how many it holds."""
    if filters.order not in (None, "oldest"):
        raise ExportFailed("a bundle holds events oldest first: leave out --order", 2)
    settings = settings_for(database_url)
    filters.query(settings, 0)
    store = open_store(settings)
    reader_org = pick_org(store, org)
    query = filters.query(settings, reader_org)
    if query.scope is not None:
        from .query import Reader

        try:
            Reader.whole(store, reader_org).scope(query.scope)
        except WorktrailError as exc:
            raise ExportFailed(exc.detail, 2) from exc
    with destination(str(path)) as out:
        return write_bundle(store, settings, reader_org, query, out)


# -- the command ---------------------------------------------------------------------------


def export(
    scope: Annotated[
        str | None, typer.Option(help="Only this entity and its descendants, e.g. project:12.")
    ] = None,
    descendants: Annotated[
        bool, typer.Option(help="With --scope: the entity's descendants' events too.")
    ] = True,
    subject_type: Annotated[
        list[str] | None,
        typer.Option(help="Only events of these entity types (repeat or comma-separate)."),
    ] = None,
    action: Annotated[
        list[str] | None, typer.Option(help="Only these actions, e.g. created, closed.")
    ] = None,
    actor: Annotated[list[str] | None, typer.Option(help="Only changes by these user ids.")] = None,
    occurred_after: Annotated[
        str | None, typer.Option(help="ISO 8601 with a zone, e.g. 2026-01-31T09:30:00Z.")
    ] = None,
    occurred_before: Annotated[str | None, typer.Option(help="ISO 8601 with a zone.")] = None,
    order: Annotated[str | None, typer.Option(help="newest (the default) or oldest.")] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv or ndjson [default: from the --output extension (.csv, .ndjson, "
            ".jsonl), else ndjson]",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    database_url: DatabaseUrl = None,
    org: OrgOption = None,
    url: Annotated[
        str | None,
        typer.Option(help="Export from the server at this URL instead of the local store."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="WORKTRAIL_TOKEN", help="API token for --url.", show_default=False),
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            help="Write a bundle instead: the events with a signed checkpoint and the proof "
            "that they are in it, for `worktrail verify --bundle` (docs/integrity.md).",
        ),
    ] = None,
) -> None:
    """Write the events GET /api/v1/events would select as CSV or NDJSON, streamed; from
    the local store (the organization's whole history) or from a server (--url)."""
    filters = Filters(
        scope,
        descendants,
        subject_type or [],
        action or [],
        actor or [],
        occurred_after,
        occurred_before,
        order,
    )
    show = err.is_terminal
    try:
        if bundle is not None:
            if url is not None or fmt is not None or output is not None:
                raise ExportFailed("--bundle is made from the local store, in its own format", 2)
            count = export_bundle(filters, database_url, org, bundle)
            err.print(f"{count:,} events with their proof written to {bundle}", highlight=False)
            return
        chosen = choose_format(fmt, output)
        if url is not None:
            if database_url is not None or org is not None:
                raise ExportFailed("--url exports from a server: leave out --database-url/--org", 2)
            if not token:
                raise ExportFailed("--url needs --token (or WORKTRAIL_TOKEN)", 2)
            pieces, progress = remote_pieces(filters, chosen, url, token, show)
        else:
            pieces, progress = local_pieces(filters, chosen, database_url, org, show)
        with progress, destination(output) as out:
            for piece in pieces:
                out.write(piece)
    except ExportFailed as exc:
        err.print(f"[red]export failed:[/red] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(exc.code) from exc
    except WorktrailError as exc:  # the database failed while reading
        err.print(f"[red]export failed:[/red] {exc.detail}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from exc
    except BrokenPipeError:
        # the reader of stdout went away (`| head`): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        raise typer.Exit(1) from None
    except OSError as exc:
        where = output if output not in (None, "-") else "stdout"
        message = f"[red]export failed:[/red] cannot write {where}: {exc.strerror}"
        err.print(message, soft_wrap=True, highlight=False)
        raise typer.Exit(1) from exc
