"""The timeline at `/`: the organization's newest events, filtered by the URL (filters.py)
or the search box (search.py), with facet counts, the activity chart, keyset paging by the
API's cursors, export links and the live feed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from ..errors import BadRequest
from ..model import EntityRow, EntityType, Event, EventQuery
from ..query import EventPage, decode_cursor, encode_position
from .chart import activity_chart
from .filters import FILTER_PARAMS, PAGE_PARAMS, Filters, parse_filters, to_micros
from .present import Presenter, entity_href, entity_name
from .search import QUALIFIERS, SearchError, parse_search
from .tallies import Summary
from .web import UiRoute, Viewer, get_viewer, page

router = APIRouter(route_class=UiRoute, include_in_schema=False)
ViewerDep = Annotated[Viewer, Depends(get_viewer)]
PAGE_SIZE = 25
DAY = 86_400_000_000
TOP_ACTORS = 8
PICKER_PROJECTS = 50  # more are reached by search (project:NAME) or from their pages


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    href: str
    selected: bool


@dataclass(frozen=True)
class Facet:
    name: str
    values: tuple[FacetValue, ...]


@router.get("/")
def timeline(request: Request, viewer: ViewerDep) -> Response:
    qp = request.query_params
    unknown = sorted(set(qp) - {*FILTER_PARAMS, *PAGE_PARAMS, "q"})
    if unknown:
        raise BadRequest(f"unknown parameter(s): {', '.join(unknown)}")
    filters = parse_filters(qp, viewer.zone)
    if "q" in qp:
        try:
            search = parse_search(qp["q"], viewer.reader)
        except SearchError as exc:
            return timeline_page(viewer, filters, search_error=exc.detail, typed=qp["q"])
        return RedirectResponse(merge_search(filters, search.params), status_code=303)
    return timeline_page(viewer, filters)


def merge_search(filters: Filters, params: list[tuple[str, str]]) -> str:
    """The timeline's URL with a search's parameters added to the current filters (a
    scope, time or text of the search replaces the current one)."""
    replaced = {name for name, _ in params if name in ("scope", "after", "before", "text")}
    kept = [(k, v) for k, v in filters.params() if k not in replaced]
    merged = list(dict.fromkeys([*kept, *params]))
    return "/?" + urlencode(merged) if merged else "/"


def timeline_page(
    viewer: Viewer, filters: Filters, search_error: str | None = None, typed: str = ""
) -> Response:
    reader = viewer.reader
    scope_entity = reader.scope(filters.scope) if filters.scope is not None else None
    query = filters.query(reader.org_id, viewer.zone, PAGE_SIZE)
    events, older, newer = page_of(viewer, query, lambda pair: filters.url("/", pair))
    presenter = Presenter(viewer.zone, viewer.now)
    day_offset = _day_offset(viewer)
    summary = viewer.ui.tallies.summary(reader, query, day_offset)
    counted = summary or Summary(0)
    top_actors = [a for a, _ in counted.actors.most_common(TOP_ACTORS)]
    ids = presenter.needed_ids(events) | set(top_actors) | set(filters.actors)
    presenter.names = reader.names(ids)
    first, last = _chart_days(filters, viewer, day_offset)
    context: dict[str, Any] = {
        "title": "Timeline",
        "filters": filters,
        "events": [presenter.event(e) for e in events],
        "older": older,
        "newer": newer,
        "live": None if newer else filters.url("/live"),
        "total": summary.total if summary is not None else None,
        "facets": facets(filters, counted.actions, counted.types, counted.actors, presenter),
        "chart": activity_chart(counted.days, filters, first, last),
        "scope": _scope_view(scope_entity, filters),
        "picker": picker(viewer, scope_entity),
        "chips": chips(filters, presenter),
        "search_error": search_error,
        "typed": typed,
        "qualifiers": QUALIFIERS,
        "exports": {fmt: filters.url(f"/export.{fmt}") for fmt in ("csv", "ndjson")},
        "integrity": viewer.integrity(summary.position if summary is not None else None),
    }
    return page("timeline.html", context, viewer, 400 if search_error else 200)


def page_of(
    viewer: Viewer, query: EventQuery, link: Callable[[tuple[str, str]], str]
) -> tuple[list[Event], str | None, str | None]:
    """The page the request's cursor names (the newest without one), newest first, and the
    links to the older and the newer page (None: there is none); `link` makes a link with
    one more parameter (the cursor)."""
    qp, cursors, reader = viewer.request.query_params, viewer.services.cursors, viewer.reader
    if newer_cursor := qp.get("newer"):
        ascending = replace(query, ascending=True)
        position, issued = decode_cursor(cursors, ascending, newer_cursor)
        reader.check_position(position, True, issued)  # never past pruned events
        found: EventPage[Event] = reader.page(replace(ascending, after_seq=position))
        events = list(reversed(found.events))
        has_older, has_newer = True, found.has_more
    else:
        if older_cursor := qp.get("older"):
            position, issued = decode_cursor(cursors, query, older_cursor)
            reader.check_position(position, False, issued)
            query = replace(query, after_seq=position)
        found = reader.page(query)
        events = found.events
        has_older, has_newer = found.has_more, bool(qp.get("older"))
    if not events:
        return events, None, None
    older = newer = None
    if has_older:
        cursor = encode_position(cursors, replace(query, ascending=False), events[-1].seq)
        older = link(("older", cursor))
    if has_newer:
        cursor = encode_position(cursors, replace(query, ascending=True), events[0].seq)
        newer = link(("newer", cursor))
    return events, older, newer


def facets(
    filters: Filters,
    actions: dict[str, int],
    types: dict[str, int],
    actors: dict[int, int],
    presenter: Presenter,
) -> list[Facet]:
    def values(name: str, counts: dict[Any, int], selected: tuple[Any, ...]) -> list[FacetValue]:
        shown = list(dict.fromkeys([*selected, *sorted(counts, key=lambda k: -counts[k])]))
        out = []
        for value in shown:
            label = str(value)
            if name == "actor":
                row = presenter.names.get(int(value))
                label = entity_name(EntityType.USER, row.state if row else None, int(value))
            href = filters.toggled(name, str(value)).url()
            out.append(FacetValue(str(value), label, counts.get(value, 0), href, value in selected))
        return out

    top = dict(sorted(actors.items(), key=lambda kv: -kv[1])[:TOP_ACTORS])
    return [
        Facet("Action", tuple(values("actions", actions, filters.actions))),
        Facet("Type", tuple(values("types", types, filters.types))),
        Facet("Actor", tuple(values("actor", top, filters.actors))),
    ]


def chips(filters: Filters, presenter: Presenter) -> list[tuple[str, str]]:
    """The filters in force, in words, each with the link that removes it."""
    out: list[tuple[str, str]] = []
    for name, label in (("types", "type"), ("actions", "action"), ("fields", "field")):
        for value in getattr(filters, name):
            out.append((f"{label}: {value}", filters.toggled(name, value).url()))
    for actor in filters.actors:
        row = presenter.names.get(actor)
        who = entity_name(EntityType.USER, row.state if row else None, actor)
        out.append((f"actor: {who}", filters.toggled("actor", str(actor)).url()))
    for name in ("after", "before", "text"):
        value = getattr(filters, name)
        if value:
            out.append((f"{name}: {value}", filters.without(name).url()))
    return out


def picker(viewer: Viewer, scope: EntityRow | None) -> dict[str, Any]:
    """The scope picker: the readable workspaces, and projects of the workspace the scope
    lies in (the first PICKER_PROJECTS of them, and the scope's own), as (value, label)."""
    reader = viewer.reader
    workspaces, _ = reader.list_entities(EntityType.WORKSPACE, limit=200)
    current = None
    if scope is not None and scope.type in (EntityType.WORKSPACE, EntityType.PROJECT):
        current = scope.id if scope.type is EntityType.WORKSPACE else scope.container_id
    elif scope is not None:
        current = reader.workspaces_of([scope.id]).get(scope.id)
    projects: list[EntityRow] = []
    more = None
    if current is not None:
        projects, more = reader.list_entities(
            EntityType.PROJECT, container_id=current, limit=PICKER_PROJECTS
        )
        if scope is not None and scope.type is EntityType.PROJECT and scope not in projects:
            projects.append(scope)
    selected = f"{scope.type.value}:{scope.id}" if scope is not None else ""
    return {
        "workspaces": _options(EntityType.WORKSPACE, workspaces),
        "projects": _options(EntityType.PROJECT, projects),
        "more_projects": more is not None,
        "selected": selected,
    }


def _options(entity_type: EntityType, rows: list[EntityRow]) -> list[tuple[str, str]]:
    named = [(f"{entity_type.value}:{r.id}", entity_name(entity_type, r.state, r.id)) for r in rows]
    return sorted(named, key=lambda option: option[1].lower())


def _scope_view(scope: EntityRow | None, filters: Filters) -> dict[str, str] | None:
    if scope is None:
        return None
    return {
        "kind": scope.type.value,
        "name": entity_name(scope.type, scope.state, scope.id),
        "href": entity_href(scope.type, scope.id) or "/",
        "clear": filters.without("scope").url(),
    }


def _day_offset(viewer: Viewer) -> int:
    offset = viewer.now.astimezone(viewer.zone).utcoffset()
    return int(offset.total_seconds() * 1_000_000) if offset else 0


def _chart_days(filters: Filters, viewer: Viewer, day_offset: int) -> tuple[int | None, int | None]:
    """The first and last day the chart shows: the filter's time range, where it has one."""
    first = last = None
    if filters.after:
        first = (to_micros(filters.after, viewer.zone) + day_offset) // DAY
    if filters.before:
        last = (to_micros(filters.before, viewer.zone) - 1 + day_offset) // DAY
    return first, last
