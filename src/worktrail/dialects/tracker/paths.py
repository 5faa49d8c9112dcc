"""The router of the Tracker dialect: each path served under /v2 and /v3, as Tracker does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from ...web.openapi import content, header, parameters

router = APIRouter(tags=["tracker"])
VERSIONS = ("/v2", "/v3")

Endpoint = Callable[..., Response]


# every Tracker read answers in the reader's language
LANGUAGE = header("Accept-Language", {"type": "string"}, "en (default) or ru")


def tracker_get(
    path: str,
    summary: str,
    description: str = "",
    params: tuple[dict[str, Any], ...] = (),
    schema: dict[str, Any] | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Serve `endpoint` at `path` under every Tracker API version; `params` and `schema`
    are the query parameters and the answer's shape, for the OpenAPI document."""
    responses: dict[int | str, Any] = {
        200: {"description": summary, "content": content("application/json", schema=schema)}
    }

    def register(endpoint: Endpoint) -> Endpoint:
        for version in VERSIONS:
            router.add_api_route(
                version + path,
                endpoint,
                methods=["GET"],
                summary=f"Tracker: {summary}",
                description=description,
                name=f"tracker_{endpoint.__name__}_{version.strip('/')}",
                openapi_extra=parameters(*params, LANGUAGE),
                responses=responses,
            )
        return endpoint

    return register
