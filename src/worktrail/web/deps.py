"""Request dependencies: the service objects, the authenticated principal and its reader."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..auth import Principal
from ..query import Reader
from .services import Services, services_of


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
    return services.authenticate(bearer_token(request))


async def get_reader(
    services: Annotated[Services, Depends(get_services)],
    principal: Annotated[Principal, Depends(get_principal)],
) -> Reader:
    return services.reader(principal)


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
ReaderDep = Annotated[Reader, Depends(get_reader)]
