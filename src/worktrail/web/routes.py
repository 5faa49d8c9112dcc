"""Which methods the application serves at a path, found through the routes' own matching
(the same test a request meets), so that Allow headers list all of them."""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import Scope

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(scope: Scope) -> set[str]:
    """The methods some route of the application answers at the request's path (with HEAD
    beside GET, and OPTIONS, which every path answers); empty when no route has the path."""
    routes = scope["app"].routes
    methods = {
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    }
    if "GET" in methods:
        methods.add("HEAD")
    return methods | {"OPTIONS"} if methods else methods
