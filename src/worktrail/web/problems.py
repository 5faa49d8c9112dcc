"""Errors rendered once, at the boundary: RFC 9457 problem details for the native API, and
for paths an ErrorRenderer was registered for (the vendor dialects), that API's own shape."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..errors import BadRequest, WorktrailError
from .routes import allowed_methods

PROBLEM_TYPE = "application/problem+json"

# renders an error raised under some path prefix in the shape of the API served there
ErrorRenderer = Callable[[Request, WorktrailError], Response]


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_TYPE)


log = logging.getLogger("worktrail")


def _describe(err: dict[str, Any]) -> dict[str, str]:
    loc = tuple(err.get("loc", ()))
    if err.get("type") == "json_invalid":
        reason = (err.get("ctx") or {}).get("error", "")
        return {"location": "body", "message": f"malformed JSON {reason}".strip()}
    where = ".".join(str(part) for part in loc[1:]) or str(loc[0] if loc else "request")
    return {"location": where, "message": str(err.get("msg", "invalid"))}


def _dialect_renderer(request: Request) -> ErrorRenderer | None:
    """The error renderer of the dialect whose path prefix is longest for this request."""
    path = request.url.path
    best: tuple[int, ErrorRenderer | None] = (0, None)
    for prefix, renderer in getattr(request.app.state, "error_renderers", ()):
        if path.startswith(prefix) and len(prefix) > best[0]:
            best = (len(prefix), renderer)
    return best[1]


def render_error(request: Request, exc: WorktrailError) -> Response:
    """The one error path: the API served under the request's path renders the error in
    its shape (a dialect's, else problem+json), with the headers the error carries."""
    renderer = _dialect_renderer(request)
    if renderer is not None:
        response = renderer(request, exc)
    else:
        response = problem(exc.status, exc.title, exc.detail, **exc.extra)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="worktrail"'
    for name, value in exc.headers.items():
        response.headers.setdefault(name, value)
    return response


def _http_error(exc: StarletteHTTPException) -> WorktrailError:
    """Starlette's own errors (no route, wrong method) as worktrail errors."""
    error = WorktrailError(str(exc.detail), headers=dict(exc.headers or {}))
    error.status = exc.status_code
    error.title = _TITLES.get(exc.status_code, "Error")
    return error


_TITLES = {404: "Not found", 405: "Method not allowed", 406: "Not acceptable"}


def unexpected_error() -> WorktrailError:
    """What a client is told of a failure of the server's own: nothing of its internals.
    The connection is closed after it, and the response says so."""
    error = WorktrailError(
        "an unexpected error occurred; it has been logged", headers={"Connection": "close"}
    )
    error.status, error.title = 500, "Internal error"
    return error


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(WorktrailError)
    async def worktrail_error(request: Request, exc: WorktrailError) -> Response:
        return render_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        raw = list(exc.errors())
        renderer = _dialect_renderer(request)
        if renderer is not None:
            first = _describe(raw[0]) if raw else {"location": "request", "message": "invalid"}
            detail = f"{first['location']}: {first['message']}"
            return renderer(request, BadRequest(detail))
        if raw and all(tuple(err.get("loc", ()))[:1] == ("path",) for err in raw):
            return problem(404, "Not found", "no such resource: the id in the path is malformed")
        errors = [_describe(err) for err in raw]
        in_body = any(tuple(err.get("loc", ()))[:1] == ("body",) for err in raw)
        status = 422 if in_body else 400
        first = errors[0] if errors else {"location": "request", "message": "invalid"}
        detail = f"{first['location']}: {first['message']}"
        return problem(status, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error = _http_error(exc)
        if exc.status_code == 405:  # the router names one route's methods; Allow has all
            error.headers["Allow"] = ", ".join(sorted(allowed_methods(request.scope)))
        return render_error(request, error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return render_error(request, unexpected_error())
