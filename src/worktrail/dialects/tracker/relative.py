"""`…/events/_relative`: a window onto an entity's history, placed by Tracker's parameters.

Let E be the entity's events (with those of everything in it) in the order worktrail
recorded them (seq: commit order, which is also the order of the event ids).

    no from/selected   forward: the first perPage of E; backward: the last perPage
    from=X             forward: the perPage events right after X; backward: right before X
                       (X itself excluded)
    selected=X         X, then alternately the nearest event before and the nearest after
                       (before first), until perPage events or E is exhausted on both sides
                       (then the remaining side goes on alone)

The window is listed oldest first, reversed when `newEventsOnTop` XOR `direction=backward`.
`hasPrev`/`hasNext` say whether E has events before the window's oldest / after its newest
(with an empty window after `from=X`, X itself lies on the side the window came from).
So paging either way is: take the last event of the list as the next `from`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from starlette.datastructures import QueryParams

from ...model import Event, EventQuery
from ...query import EventPage, Reader
from ...web.openapi import query
from .access import event_seq, pruned, unknown_event
from .errors import TrackerError, bad_parameter

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 1000
DIRECTIONS = ("forward", "backward")


@dataclass(frozen=True)
class RelativeRequest:
    per_page: int
    anchor: str | None  # the from or selected event id as given
    from_seq: int | None
    selected_seq: int | None
    new_events_on_top: bool
    backward: bool


@dataclass(frozen=True)
class Window:
    events: list[Event]  # in presentation order
    has_prev: bool
    has_next: bool


def single(qp: QueryParams, name: str) -> str | None:
    values = qp.getlist(name)
    if len(values) > 1:
        raise bad_parameter(name, f"Given {len(values)} times; give it once")
    return values[0] if values else None


def listed(qp: QueryParams, name: str) -> frozenset[str]:
    """The values of a repeatable, comma-separated parameter."""
    return frozenset(v.strip() for raw in qp.getlist(name) for v in raw.split(",") if v.strip())


def read_request(qp: QueryParams, org_id: int) -> RelativeRequest:
    """Tracker's parameters, checked: 400 for a bad value, 404 for another org's event id."""
    start, selected = single(qp, "from"), single(qp, "selected")
    if start is not None and selected is not None:
        raise TrackerError(
            400,
            "Parameters 'from' and 'selected' cannot be used together",
            {"from": "Not used together with selected"},
        )
    direction = (single(qp, "direction") or "forward").lower()
    if direction not in DIRECTIONS:
        raise bad_parameter("direction", "Must be forward or backward")
    return RelativeRequest(
        per_page=per_page(qp),
        anchor=start if start is not None else selected,
        from_seq=event_seq("from", start, org_id) if start is not None else None,
        selected_seq=event_seq("selected", selected, org_id) if selected is not None else None,
        new_events_on_top=boolean(qp, "newEventsOnTop"),
        backward=direction == "backward",
    )


def per_page(qp: QueryParams, default: int = DEFAULT_PER_PAGE) -> int:
    raw = single(qp, "perPage")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PER_PAGE:
        raise bad_parameter("perPage", f"Must be an integer from 1 to {MAX_PER_PAGE}: {raw!r}")
    return int(raw)


def boolean(qp: QueryParams, name: str) -> bool:
    """true/false in any case (the official Python client sends True/False)."""
    raw = single(qp, name)
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise bad_parameter(name, f"Must be true or false: {raw!r}")
    return lowered == "true"


def read_window(reader: Reader, history: EventQuery, asked: RelativeRequest) -> Window:
    """The events `asked` places in `history` (an EventQuery of the entity's scope)."""
    anchor = asked.anchor or ""
    if asked.selected_seq is not None:
        window = _around(reader, history, asked.selected_seq, asked.per_page - 1, anchor)
    elif asked.from_seq is not None:
        window = _beyond(reader, history, asked, anchor)
    else:
        window = _edge(reader, history, asked)
    if asked.new_events_on_top != asked.backward:
        return replace(window, events=window.events[::-1])
    return window


def _page(
    reader: Reader, history: EventQuery, *, ascending: bool, after: int | None, limit: int
) -> EventPage[Event]:
    return reader.page(replace(history, ascending=ascending, after_seq=after, limit=limit))


def _from_anchor(
    reader: Reader, history: EventQuery, seq: int, ascending: bool, limit: int, anchor: str
) -> tuple[Event, EventPage[Event]]:
    """The anchor event `seq`, which must be in the history, and up to `limit` events right
    after it (or before it): the page starts one position early, so that the anchor leads it."""
    start = seq - 1 if ascending else seq + 1
    pruned(reader, seq, ascending)
    page = _page(reader, history, ascending=ascending, after=start, limit=limit + 1)
    if not page.events or page.events[0].seq != seq:
        raise unknown_event(anchor)
    return page.events[0], EventPage[Event](page.events[1:], page.has_more, page.position)


def _edge(reader: Reader, history: EventQuery, asked: RelativeRequest) -> Window:
    page = _page(reader, history, ascending=not asked.backward, after=None, limit=asked.per_page)
    if asked.backward:
        return Window(page.events[::-1], has_prev=page.has_more, has_next=False)
    return Window(page.events, has_prev=False, has_next=page.has_more)


def _beyond(reader: Reader, history: EventQuery, asked: RelativeRequest, anchor: str) -> Window:
    assert asked.from_seq is not None
    forward = not asked.backward
    _, page = _from_anchor(reader, history, asked.from_seq, forward, asked.per_page, anchor)
    if forward:
        return Window(page.events, has_prev=True, has_next=page.has_more)
    return Window(page.events[::-1], has_prev=page.has_more, has_next=True)


def _around(reader: Reader, history: EventQuery, seq: int, room: int, anchor: str) -> Window:
    """The anchor and `room` neighbours, alternating before/after, oldest first."""
    selected, later = _from_anchor(reader, history, seq, True, room, anchor)
    earlier = _page(reader, history, ascending=False, after=seq, limit=room)
    before, after = earlier.events, later.events
    # Alternating from the before side gives it ceil(room/2); a short side leaves the rest
    # of the room to the other one.
    n_before = min(len(before), max((room + 1) // 2, room - len(after)))
    n_after = min(len(after), room - n_before)
    return Window(
        [*before[:n_before][::-1], selected, *after[:n_after]],
        has_prev=n_before < len(before) or earlier.has_more,
        has_next=n_after < len(after) or later.has_more,
    )


EVENT_ID = {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}
BOOLEAN_PATTERN = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"  # in any case
PER_PAGE = query(
    "perPage", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}, "default 50"
)
# what the OpenAPI document says of _relative's parameters
PARAMETERS = (
    PER_PAGE,
    query("from", EVENT_ID, "the event to start after (its 24-hex id)"),
    query("selected", EVENT_ID, "the event to center the window on"),
    query("newEventsOnTop", {"type": "string", "pattern": BOOLEAN_PATTERN}, "true or false"),
    query("direction", {"enum": ["forward", "backward"]}),
)
