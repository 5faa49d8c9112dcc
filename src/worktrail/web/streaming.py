"""Streamed exports: every event a query selects, read in keyset chunks a step ahead of
the renderer, as NDJSON or CSV. The native API, `worktrail export` and the UI's export
stream through here, so they write the same bytes in the same constant memory."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from starlette.responses import Response, StreamingResponse

from ..model import StoredEvent
from .render import iter_csv, iter_ndjson

_T = TypeVar("_T")


# Rows fetched per keyset chunk of a streamed export: large enough that per-query and
# per-piece costs vanish, small enough that the server's memory stays flat.
EXPORT_CHUNK = 5000


def read_ahead(items: Iterator[_T], depth: int = 1) -> Iterator[_T]:
    """The items of `items`, produced by a thread of their own up to `depth` ahead: the
    database reads the next chunk (in its driver's C code, without the GIL) while this one
    is rendered. Closing the iterator (the client went away) stops the producer."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put((kind, value), timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put("error", exc)
            return
        put("done", None)

    # in the request's context: its reads go where the request's would (read replicas)
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(produce,), name="read-ahead", daemon=True).start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


def stream_events(
    chunks: Iterable[list[StoredEvent]], fmt: str, headers: dict[str, str]
) -> Response:
    if fmt == "csv":
        headers = {"Content-Disposition": 'attachment; filename="events.csv"', **headers}
        return StreamingResponse(
            iter_csv(chunks), media_type="text/csv; charset=utf-8", headers=headers
        )
    return StreamingResponse(
        iter_ndjson(chunks), media_type="application/x-ndjson", headers=headers
    )
