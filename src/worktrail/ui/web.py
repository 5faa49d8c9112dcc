"""What every page of the web UI shares: who is looking (`Viewer`, from the session), the
templates, the response headers, and errors rendered as pages in the UI's own look."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..auth import Principal
from ..errors import BadRequest, NotFound, Unauthorized, WorktrailError
from ..model import EntityRow
from ..query import Reader
from ..web.security import UI_CSP
from ..web.services import Services, services_of
from .integrity import Integrity, Status
from .session import Session, Sessions
from .tallies import Tallies

log = logging.getLogger("worktrail")
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # templates ship with the package: no stat() of them per page
)
templates.filters["number"] = lambda n: f"{n:,}"


def ago(seconds: float) -> str:
    """How long ago a moment (seconds since the epoch) was, in words."""
    elapsed = max(0.0, time.time() - seconds)
    if elapsed < 60:
        return "just now"
    if elapsed < 3600:
        return f"{int(elapsed // 60)} min ago"
    if elapsed < 86_400:
        return f"{int(elapsed // 3600)} h ago"
    return f"{int(elapsed // 86_400)} days ago"


templates.globals["ago"] = ago


@dataclass
class UiState:
    """The UI's objects of one application: sessions, counts and verifications kept, and
    each organization's record (its name and time zone) for a few seconds."""

    sessions: Sessions
    tallies: Tallies
    integrity: Integrity
    organizations: dict[int, tuple[float, EntityRow]] = field(default_factory=dict)

    def organization(self, reader: Reader) -> EntityRow:
        """The reader's organization, read again when the one kept is ORG_SECONDS old."""
        kept = self.organizations.get(reader.org_id)
        if kept is not None and time.monotonic() - kept[0] < ORG_SECONDS:
            return kept[1]
        organization = reader.organization()
        self.organizations[reader.org_id] = (time.monotonic(), organization)
        return organization


ORG_SECONDS = 10.0  # a renamed organization or a new time zone shows within this


def ui_state(request: Request) -> UiState:
    state: UiState = request.app.state.ui
    return state


class SignInRequired(Exception):
    """The request has no valid session: pages send the browser to the sign-in form."""


@dataclass
class Viewer:
    """Who is looking at a page: their principal, reader, session and organization."""

    request: Request
    services: Services
    ui: UiState
    principal: Principal
    reader: Reader
    session: Session
    organization: EntityRow
    zone: dt.tzinfo
    now: dt.datetime

    @property
    def csrf(self) -> str:
        return self.ui.sessions.csrf_token(self.session.nonce)

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    def integrity(self, head: int | None = None) -> Status:
        """The integrity badge's status (`head`: the organization's head, if read already)."""
        whole = self.services.whole_reader(self.reader.org_id)
        return self.ui.integrity.status_or_start(
            whole, self.reader.head() if head is None else head
        )


def zone_of(organization: EntityRow) -> dt.tzinfo:
    name = organization.state.get("timezone")
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def get_viewer(request: Request) -> Viewer:
    """The dependency of every signed-in page: SignInRequired without a valid session."""
    ui, services = ui_state(request), services_of(request)
    session = ui.sessions.read(request)
    if session is None:
        raise SignInRequired
    try:
        principal = services.authenticate_session(session.token_hash)
    except Unauthorized:
        raise SignInRequired
    reader = services.reader(principal)
    organization = ui.organization(reader)
    return Viewer(
        request,
        services,
        ui,
        principal,
        reader,
        session,
        organization,
        zone_of(organization),
        dt.datetime.now(dt.UTC),
    )


def page(
    template: str, context: dict[str, Any], viewer: Viewer | None = None, status: int = 200
) -> HTMLResponse:
    """A page: the template rendered, with the UI's content security policy."""
    html = templates.get_template(template).render(**context, viewer=viewer)
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = UI_CSP
    return response


def error_page(error: WorktrailError, viewer: Viewer | None = None) -> HTMLResponse:
    response = page("error.html", {"error": error, "title": error.title}, viewer, error.status)
    for name, value in error.headers.items():
        response.headers.setdefault(name, value)
    return response


def local_path(target: str | None) -> str:
    """`target` if it is a path on this site (no open redirects), else the timeline."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


class UiRoute(APIRoute):
    """A route of the UI: a missing session sends the browser to sign in; errors are pages
    in the UI's look (never JSON); a malformed id in the path is a page that is not there.
    Every answer says how long the server took (`Server-Timing: app;dur=…`, milliseconds;
    for a stream, until it began)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def ui_handler(request: Request) -> Response:
            started = time.perf_counter()
            response = await answer(request)
            # the server's own time, for browsers' developer tools and the benchmark
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
            return response

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                if request.method != "GET":
                    return error_page(Unauthorized("sign in first"))
                wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(wanted, safe='')}", status_code=303)
            except RequestValidationError as exc:
                if all(tuple(e.get("loc", ()))[:1] == ("path",) for e in exc.errors()):
                    return error_page(NotFound("there is no such page"))
                return error_page(BadRequest("the form was not filled in as expected"))
            except WorktrailError as exc:
                return error_page(exc)

        return ui_handler
