"""GET /api/v1/events/stream: the live feed as Server-Sent Events.

Starts at the head (only events committed from now on) unless a cursor is given, either as
`?cursor=` (from /api/v1/events?order=oldest with the same filters) or, on reconnect, as the
`Last-Event-ID` header the browser sends by itself. Each SSE message's id is a cursor.
"""

from __future__ import annotations

from dataclasses import replace

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from ..model import Event
from ..query import decode_cursor
from ..web.deps import ReaderDep, ServicesDep
from ..web.feed import event_feed
from ..web.openapi import content, header, parameters
from ..web.render import event_json
from .events import PRUNED_HEADER, authorized_query, parse_history_request
from .schemas import HISTORY_FILTERS, SCOPE

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get(
    "/events/stream",
    summary="Live feed (Server-Sent Events)",
    description="Same filters as /api/v1/events. Resumes from `cursor` or `Last-Event-ID`.",
    openapi_extra=parameters(
        SCOPE,
        *HISTORY_FILTERS,
        header("Last-Event-ID", {"type": "string"}, "resume after this message (its id)"),
    ),
    responses={
        200: {
            "description": "the events committed from now (or the cursor) on, as they commit",
            "content": content("text/event-stream", schema={"type": "string"}),
        }
    },
)
def stream_events(request: Request, services: ServicesDep, reader: ReaderDep) -> Response:
    asked = parse_history_request(request, services, reader.org_id)
    query = authorized_query(services, reader, replace(asked, cursor=None))
    query = replace(query, ascending=True, limit=min(query.limit, 500))
    resume = request.headers.get("last-event-id") or asked.cursor
    if resume:  # a position retention pruned past is refused, never jumped over
        position, issued = decode_cursor(services.cursors, query, resume)
        reader.check_position(position, True, issued)
    else:
        position = reader.head()
    response = event_feed(
        request,
        reader,
        query,
        position,
        services.cursors,
        _render,
        shared="native",
    )
    response.headers[PRUNED_HEADER] = str(reader.pruned_through())
    return response


def _render(event: Event) -> bytes:
    return orjson.dumps(event_json(event))
