"""The live timeline (`/live`, Server-Sent Events of rendered rows, through the same feed
as the native stream), exports of the current filter (`/export.csv`, `/export.ndjson`,
through the API's export core), and "verify now"."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from ..errors import Forbidden, NotFound
from ..model import Event
from ..query import decode_position
from ..web.feed import event_feed
from ..web.streaming import EXPORT_CHUNK, read_ahead, stream_events
from .filters import parse_filters
from .present import Presenter
from .timeline import ViewerDep
from .web import UiRoute, local_path, templates

router = APIRouter(route_class=UiRoute, include_in_schema=False)
LIVE_PAGE = 100


@router.get("/live")
def live(request: Request, viewer: ViewerDep) -> Response:
    """New events of the timeline's filter as they commit, each as the row the timeline
    shows (the browser's EventSource resumes from Last-Event-ID after a reconnect)."""
    reader, cursors = viewer.reader, viewer.services.cursors
    filters = parse_filters(request.query_params, viewer.zone)
    if filters.scope is not None:
        reader.scope(filters.scope)
    query = replace(filters.query(reader.org_id, viewer.zone, LIVE_PAGE), ascending=True)
    resume = request.headers.get("last-event-id")
    position = decode_position(cursors, query, resume) if resume else reader.head()
    row = templates.get_template("_event.html")

    def render(event: Event) -> bytes:
        presenter = Presenter(viewer.zone, dt.datetime.now(dt.UTC))
        presenter.names = reader.names(presenter.needed_ids([event]))
        return row.render(event=presenter.event(event), fresh=True).encode()

    return event_feed(request, reader, query, position, cursors, render)


@router.get("/export.{fmt}")
def export(fmt: str, request: Request, viewer: ViewerDep) -> Response:
    """Every event of the current filter, newest first, streamed as the API streams it."""
    if fmt not in ("csv", "ndjson"):
        raise NotFound("exports are .csv or .ndjson")
    reader = viewer.reader
    filters = parse_filters(request.query_params, viewer.zone)
    if filters.scope is not None:
        reader.scope(filters.scope)
    query = filters.query(reader.org_id, viewer.zone, EXPORT_CHUNK)
    name = f"worktrail-events.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return stream_events(read_ahead(reader.iter_stored(query, EXPORT_CHUNK)), fmt, headers)


@router.post("/integrity/verify")
def verify_now(
    request: Request,
    viewer: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
    back: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Start verifying the organization's hash chain (owners and admins)."""
    viewer.ui.sessions.check_csrf(viewer.session.nonce, csrf)
    if not viewer.is_admin:
        raise Forbidden("verifying the history needs an organization owner or admin")
    viewer.ui.integrity.start(viewer.services.whole_reader(viewer.reader.org_id))
    return RedirectResponse(local_path(back), status_code=303)
