"""The web UI: server-rendered pages over the read door, for the people who read the
history (project leads, auditors).

    /login, /logout                 signin.py, session.py
    /                               timeline.py: filters (filters.py, search.py), facets
                                    and the activity chart (tallies.py, chart.py)
    /tasks/12, /projects/3, …       entities.py: state, state as of a moment, history
    /live, /export.csv|.ndjson      live.py: the live feed, exports, "verify now"
    /assets/…                       static/: styles, scripts, icons (no CDN, works offline)

Pages read through `Reader` only, render events with present.py, and are Jinja2
templates (templates/) with a small script for the live feed; they work without
JavaScript otherwise. Every page's data is also in the native API.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response

from ..web.docs import DocAssets
from . import entities, live, signin, timeline
from .integrity import Integrity
from .session import Sessions
from .tallies import Tallies
from .web import STATIC, UiState

ASSETS = "/assets"


def install_ui(app: FastAPI) -> None:
    """Add the web UI's routes and assets to the application (after its services)."""
    services = app.state.services
    app.state.ui = UiState(Sessions(services.secret), Tallies(), Integrity())
    app.mount(ASSETS, DocAssets(directory=STATIC), name="ui-assets")
    for module in (signin, timeline, live, entities):
        app.include_router(module.router)

    icon = (STATIC / "favicon.svg").read_bytes()

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(icon, media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})


__all__ = ["install_ui"]
