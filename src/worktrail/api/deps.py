"""Request dependencies: the service objects and the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..auth import Principal, authenticate
from ..config import Settings
from ..query import CursorCodec
from ..ratelimit import RateLimiter
from ..store import Store
from ..write import Writer


@dataclass
class Services:
    settings: Settings
    store: Store
    writer: Writer
    cursors: CursorCodec
    rate_limiter: RateLimiter


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """The dependency; async, as a sync one would cost every request a thread-pool hop."""
    return services_of(request)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def get_principal(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> Principal:
    return authenticate(services.store, bearer_token(request))


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
