"""Huddle's task audit trail at Huddle's own path.

    GET /tasks/workspace/{workspaceId}/audits?daysBack=30&pagesize=50&skipitems=0

The changes to the workspace's tasks, subtasks and comments recorded in the last `daysBack`
days, newest first, `pagesize` of them after skipping `skipitems`; as JSON
(application/vnd.huddle.data+json or application/json) or CSV (text/csv) by `Accept`.
The window counts from when worktrail recorded each change, so it is a seq range and a
deep `skipitems` is found by index seeks (store/seek.py) rather than by stepping over rows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from ...auth import Principal
from ...errors import NotFound, Pruned
from ...model import EntityRow, EntityType, EventQuery, Scope
from ...query import EntityHidden, Reader
from ...web.deps import PrincipalDep, ReaderDep, ServicesDep
from ...web.openapi import content, header, parameters, query
from ...web.services import Services
from .. import kit
from .errors import ERROR_SCHEMA, ERROR_TYPE, TOO_MANY, HuddleError, not_found, validation
from .render import change_json, change_of, changes_csv, users_named

DAY = 86_400_000_000
RATE_SCOPE = "huddle"
DATA_TYPE = "application/vnd.huddle.data+json"
PARAMS = {  # name: (default, lowest, highest)
    "daysBack": (30, 1, 36_500),
    "pagesize": (50, 1, 500),
    "skipitems": (0, 0, 2**31 - 1),
}
FORMATS = {  # media type Huddle clients send: what they get
    DATA_TYPE: "json",
    "application/json": "json",
    "application/*": "json",
    "*/*": "json",
    "text/csv": "csv",
    "text/*": "csv",
}

router = APIRouter(tags=["huddle"])


def negotiate(accept: str | None) -> tuple[str, str]:
    """(format, media type of the answer) for an Accept header; 406 when none is served."""
    if not accept or not accept.strip():
        return "json", DATA_TYPE
    offers: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media.lower() in FORMATS and quality > 0:
            offers.append((-quality, index, media.lower()))
    if not offers:
        raise HuddleError(
            406,
            f"Accept must allow {DATA_TYPE}, application/json or text/csv",
            "NotAcceptable",
        )
    media = min(offers)[2]
    fmt = FORMATS[media]
    if fmt == "csv":
        return fmt, "text/csv; charset=utf-8"
    return fmt, "application/json" if media == "application/json" else DATA_TYPE


def read_params(request: Request) -> dict[str, int]:
    values: dict[str, int] = {}
    for name, (default, lo, hi) in PARAMS.items():
        raws = request.query_params.getlist(name)
        if not raws:
            values[name] = default
            continue
        raw = raws[-1].strip()
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not lo <= int(raw) <= hi:
            raise validation(f"{name} must be an integer from {lo} to {hi}, not {raws[-1]!r}")
        values[name] = int(raw)
    return values


def workspace_for(
    services: Services, principal: Principal, reader: Reader, workspace_id: str
) -> EntityRow:
    """The workspace, if the principal may read its audit trail; Huddle's errors if not."""
    limit = str(services.settings.rate_limit_per_minute)

    def too_many(wait: float) -> HuddleError:
        headers = {
            "Retry-After": str(int(wait)),
            "X-RateLimit-Limit": limit,
            "X-RateLimit-Remaining": "0",
        }
        return HuddleError(429, TOO_MANY, "TooManyRequests", headers=headers)

    kit.admit(services, RATE_SCOPE, f"token:{principal.token_id}", too_many)
    if not (workspace_id.isascii() and workspace_id.isdigit()) or len(workspace_id) > 19:
        raise not_found()
    hidden = False
    try:
        entity = reader.entity(int(workspace_id), EntityType.WORKSPACE)
    except EntityHidden as exc:
        entity, hidden = exc.entity, True
    except NotFound:
        raise not_found()
    if entity.deleted:
        raise HuddleError(404, "The workspace has been deleted", "WorkspaceDeleted")
    if hidden:
        raise HuddleError(
            403, "User is not a member of the workspace", "WorkspaceMembershipRequired"
        )
    if entity.state.get("locked"):
        raise HuddleError(403, "The workspace is locked", "WorkspaceLocked")
    return entity


def page_links(base: str, path: str, workspace_id: int, p: dict[str, int], more: bool) -> list[Any]:
    def at(skip: int) -> str:
        query = urlencode({"skipitems": skip, "pagesize": p["pagesize"], "daysBack": p["daysBack"]})
        return f"{base}{path}?{query}"

    self_query = urlencode(
        {"daysBack": p["daysBack"], "pagesize": p["pagesize"], "skipitems": p["skipitems"]}
    )
    links = [
        {"rel": "self", "href": f"{base}{path}?{self_query}"},
        {"rel": "workspace", "href": f"{base}/workspaces/{workspace_id}"},
        {"rel": "current", "href": at(p["skipitems"])},
        {"rel": "first", "href": at(0)},
    ]
    if p["skipitems"] > 0:
        links.append({"rel": "prev", "href": at(max(0, p["skipitems"] - p["pagesize"]))})
    if more:
        links.append({"rel": "next", "href": at(p["skipitems"] + p["pagesize"])})
    return links


def audits(
    request: Request, services: Services, principal: Principal, reader: Reader, workspace_id: str
) -> Response:
    fmt, media_type = negotiate(request.headers.get("accept"))
    params = read_params(request)
    workspace = workspace_for(services, principal, reader, workspace_id)
    query = EventQuery(
        org_id=reader.org_id,
        scope=Scope(EntityType.WORKSPACE, workspace.id),
        subject_types=(EntityType.TASK.value, EntityType.COMMENT.value),
        recorded_from=kit.now(services) - params["daysBack"] * DAY,
        ascending=False,
        limit=params["pagesize"],
        offset=params["skipitems"],
    )
    assert query.recorded_from is not None
    try:  # a window reaching events retention removed: Huddle's 400 Validation on daysBack
        reader.check_window(query.recorded_from)
    except Pruned as exc:
        raise validation(f"daysBack reaches events that are no longer kept: {exc.detail}") from exc
    page = reader.page(query)
    events, more = page.events, page.has_more
    comment_tasks = {kit.task_of(e) or 0 for e in events if e.subject_type is EntityType.COMMENT}
    names = kit.Names.load(reader, comment_tasks | users_named(events))
    changes = [change_of(e, names) for e in events]
    base = kit.base_url(request, services)
    links = page_links(base, request.url.path, workspace.id, params, more)
    if fmt == "csv":
        link_header = ", ".join(f'<{link["href"]}>; rel="{link["rel"]}"' for link in links)
        filename = f"workspace-{workspace.id}-task-audits.csv"
        return Response(
            changes_csv(changes, base),
            media_type=media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Link": link_header,
            },
        )
    body = {
        "changes": [change_json(c, base, workspace.id) for c in changes],
        "links": links,
    }
    return Response(orjson.dumps(body), media_type=media_type)


AUDITS = {
    "type": "object",
    "required": ["changes", "links"],
    "properties": {
        "changes": {"type": "array", "items": {"type": "object"}},
        "links": {"type": "array", "items": {"type": "object"}},
    },
}


@router.get(
    "/tasks/workspace/{workspace_id}/audits",
    summary="Huddle: task audit trail of a workspace",
    openapi_extra=parameters(
        *(
            query(name, {"type": "integer", "minimum": lo, "maximum": hi}, f"default {default}")
            for name, (default, lo, hi) in PARAMS.items()
        ),
        header("Accept", {"type": "string"}, f"{DATA_TYPE}, application/json or text/csv"),
    ),
    responses={
        200: {
            "description": "the changes, newest first, and paging links (JSON), or CSV",
            "content": {
                **content(DATA_TYPE, "application/json", schema=AUDITS),
                **content("text/csv"),
            },
            "headers": {"Link": {"schema": {"type": "string"}}},
        },
        406: {
            "description": "no representation the Accept header allows",
            "content": content(ERROR_TYPE, schema=ERROR_SCHEMA),
        },
    },
    description=(
        "Huddle-compatible task audit trail: the changes to a workspace's tasks and comments "
        "of the last `daysBack` days (30), newest first, `pagesize` (50, at most 500) after "
        "`skipitems` (0). JSON (application/vnd.huddle.data+json) or CSV (text/csv) by Accept."
    ),
)
def get_audits(
    workspace_id: str,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    reader: ReaderDep,
) -> Response:
    return audits(request, services, principal, reader, workspace_id)
