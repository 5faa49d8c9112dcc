"""Entity pages (`/tasks/12`, `/projects/3`, …): the entity's current state (or its state
at a chosen moment, `?at=`), where it lies, and its history with its descendants', every
event with a field-by-field diff."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from ..model import (
    ENTITY_SPECS,
    MAX_ID,
    PLURALS,
    EntityRow,
    EntityType,
    Event,
    EventQuery,
    FieldKind,
    Scope,
)
from .filters import to_micros
from .present import PAGED, Presenter, Thing, Value, entity_href, entity_name
from .timeline import PAGE_SIZE, ViewerDep, page_of
from .web import UiRoute, Viewer, page

router = APIRouter(route_class=UiRoute, include_in_schema=False)
EntityId = Annotated[int, Path(ge=1, le=MAX_ID)]
REF_KINDS = (FieldKind.REF, FieldKind.REF_SET)


@dataclass(frozen=True)
class FieldView:
    label: str
    values: tuple[Value, ...]
    chips: bool  # a set of values, shown as chips


def register(entity_type: EntityType) -> None:
    @router.get(f"/{PLURALS[entity_type]}/{{entity_id}}", name=f"ui-{entity_type.value}")
    def entity_page(entity_id: EntityId, request: Request, viewer: ViewerDep) -> Response:
        return render_entity(viewer, viewer.reader.entity(entity_id, entity_type))


def render_entity(viewer: Viewer, entity: EntityRow) -> Response:
    reader, qp = viewer.reader, viewer.request.query_params
    at_text = (qp.get("at") or "").strip()
    at = to_micros(at_text, viewer.zone) if at_text else None
    state, as_of, existed = entity.state, None, True
    if at is not None:
        then = reader.state_at(entity, at)
        existed = then is not None
        state = (then.after or then.before or {}) if then is not None else {}
        as_of = then
    query = EventQuery(reader.org_id, scope=Scope(entity.type, entity.id), limit=PAGE_SIZE)
    if at is not None:
        query = replace(query, occurred_to=at + 1)
    base = f"{entity_href(entity.type, entity.id)}"
    kept = [("at", at_text)] if at_text else []
    events, older, newer = page_of(viewer, query, lambda pair: f"{base}?{urlencode([*kept, pair])}")
    latest = reader.own_events(entity, limit=1)
    presenter = Presenter(viewer.zone, viewer.now)
    ids = presenter.needed_ids(events) | _state_refs(entity.type, state)
    ids |= {s.id for e in latest for s in e.scopes}
    presenter.names = reader.names(ids)
    context: dict[str, Any] = {
        "title": entity_name(entity.type, entity.state, entity.id),
        "entity": entity,
        "kind": entity.type.value,
        "name": entity_name(entity.type, entity.state, entity.id),
        "trail": _trail(entity, latest, presenter),
        "fields": _fields(entity.type, state, presenter) if existed else [],
        "existed": existed,
        "at": at_text,
        "as_of": presenter.when(as_of.occurred_at) if as_of is not None else None,
        "as_of_event": presenter.event(as_of) if as_of is not None else None,
        "events": [presenter.event(e) for e in events],
        "older": older,
        "newer": newer,
        "base": base,
        "timeline": f"/?scope={entity.type.value}:{entity.id}",
        "by_user": f"/?actor={entity.id}" if entity.type is EntityType.USER else None,
        "integrity": viewer.integrity(),
    }
    return page("entity.html", context, viewer)


def _state_refs(entity_type: EntityType, state: dict[str, Any]) -> set[int]:
    ids: set[int] = set()
    for name, spec in ENTITY_SPECS[entity_type].fields.items():
        value = state.get(name)
        if spec.kind is FieldKind.REF and isinstance(value, int):
            ids.add(value)
        elif spec.kind is FieldKind.REF_SET and isinstance(value, list):
            ids.update(v for v in value if isinstance(v, int))
    return ids


def _fields(
    entity_type: EntityType, state: dict[str, Any], presenter: Presenter
) -> list[FieldView]:
    out: list[FieldView] = []
    for name, spec in ENTITY_SPECS[entity_type].fields.items():
        if name == "name":  # the page's heading
            continue
        change = presenter.change(entity_type, {"field": name, "old": None, "new": None})
        value = state.get(name)
        if spec.multi:
            values = tuple(presenter.value(v, spec.kind, spec.ref) for v in value or ())
            out.append(FieldView(change.label, values, True))
        elif spec.kind is FieldKind.JSON_MAP:
            pairs = sorted((value or {}).items())
            values = tuple(Value(f"{k}: {presenter.value(v, None, None).text}") for k, v in pairs)
            out.append(FieldView(change.label, values, True))
        else:
            out.append(
                FieldView(change.label, (presenter.value(value, spec.kind, spec.ref),), False)
            )
    return out


def _trail(entity: EntityRow, latest: list[Event], presenter: Presenter) -> list[Thing]:
    """Where the entity lies: its ancestors, outermost first (as its newest event saw them)."""
    if not latest:
        return []
    order = (EntityType.WORKSPACE, EntityType.PROJECT, EntityType.TASK)
    ancestors = [s for s in latest[0].scopes if s.id != entity.id and s.type in order]
    ancestors.sort(key=lambda s: order.index(s.type))
    return [presenter.thing(s.type, s.id) for s in ancestors]


for _type in PAGED:
    register(_type)
