"""The router of the Tracker dialect: each path served under /v2 and /v3, as Tracker does."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.responses import Response

router = APIRouter(tags=["tracker"])
VERSIONS = ("/v2", "/v3")

Endpoint = Callable[..., Response]


def tracker_get(path: str, summary: str, description: str = "") -> Callable[[Endpoint], Endpoint]:
    """Serve `endpoint` at `path` under every Tracker API version."""

    def register(endpoint: Endpoint) -> Endpoint:
        for version in VERSIONS:
            router.add_api_route(
                version + path,
                endpoint,
                methods=["GET"],
                summary=f"Tracker: {summary}",
                description=description,
                name=f"tracker_{endpoint.__name__}_{version.strip('/')}",
            )
        return endpoint

    return register
