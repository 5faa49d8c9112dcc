"""RFC 9457 problem details: the one error shape of the native API."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..errors import WorktrailError

PROBLEM_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_TYPE)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc if part not in ("body",)) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(WorktrailError)
    async def worktrail_error(_request: Request, exc: WorktrailError) -> Response:
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"location": _location(err.get("loc", ())), "message": err.get("msg", "invalid")}
            for err in exc.errors()
        ]
        in_body = any(tuple(err.get("loc", ()))[:1] == ("body",) for err in exc.errors())
        status = 422 if in_body else 400
        first = errors[0] if errors else {"location": "request", "message": "invalid"}
        detail = f"{first['location']}: {first['message']}"
        return problem(status, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed", 406: "Not acceptable"}
        title = titles.get(exc.status_code, "Error")
        response = problem(exc.status_code, title, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, _exc: Exception) -> Response:
        return problem(500, "Internal error", "an unexpected error occurred; it has been logged")
