"""The interactive API documentation (Swagger UI at /docs, ReDoc at /redoc), served with
every asset from worktrail itself.

FastAPI's own pages load their JavaScript, CSS and favicon from public CDNs and stay blank
on a machine without internet access. The assets here come from the `fastapi-offline`
distribution (Swagger UI 5, ReDoc 2), installed as a dependency, and are mounted under
`ASSETS`; the pages are FastAPI's, pointed at them.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
    swagger_ui_default_parameters,
)
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

DOCS = "/docs"
REDOC = "/redoc"
ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# No validator badge: Swagger UI would ask validator.swagger.io to check the schema.
SWAGGER_PARAMETERS = {**swagger_ui_default_parameters, "validatorUrl": None}


def asset_directory() -> Path:
    """Where the installed distribution keeps swagger-ui-bundle.js, swagger-ui.css,
    redoc.standalone.js and favicon.png."""
    return Path(str(files("fastapi_offline").joinpath("static")))


class DocAssets(StaticFiles):
    """The packaged files, which browsers may keep if they ask first: `no-cache` (instead
    of the service's `no-store`) lets a reload revalidate the 1.5 MB bundle by its ETag
    and get a 304, and still picks up a new version after an upgrade."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "no-cache"
        return response


def install_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets to an app made with docs_url=redoc_url=None."""
    app.mount(ASSETS, DocAssets(directory=asset_directory()), name="docs-assets")
    title = app.title

    @app.get(DOCS, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
