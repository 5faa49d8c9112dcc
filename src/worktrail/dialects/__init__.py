"""Vendor dialects: wire-compatible event-history endpoints of five vendors.

Each module here is a thin translator over the one query core: vendor parameters →
EventQuery, events → vendor JSON/CSV, errors → the vendor's error shape, vendor auth →
worktrail tokens. A module takes part by defining `DIALECT = Dialect(...)`; the app
discovers them, mounts their routers at the vendors' own paths and renders errors raised
under their path prefixes in the vendor's shape. Every dialect reads through the read door
(worktrail.query.Reader) and takes what all of them need from kit.py; none runs SQL.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from ..delivery.styles import DeliveryStyle
from ..web.openapi import BEARER, ErrorShape
from ..web.problems import ErrorRenderer


@dataclass(frozen=True)
class Dialect:
    name: str
    router: APIRouter
    prefixes: tuple[str, ...]  # URL path prefixes whose errors this dialect renders
    render_error: ErrorRenderer
    errors: ErrorShape  # how render_error's answers look, for the OpenAPI document
    # how the operations under each prefix authenticate (OpenAPI security requirements)
    # and the security schemes they name beside the shared bearer token
    security: Mapping[str, list[dict[str, list[str]]]] = field(default_factory=dict)
    schemes: Mapping[str, Any] = field(default_factory=dict)
    # how this vendor's webhooks are delivered, if it has any (delivery/styles.py)
    webhooks: DeliveryStyle | None = None

    def security_of(self, path: str) -> list[dict[str, list[str]]]:
        """The security of an operation at `path` (a worktrail API token by default)."""
        found = [p for p in self.security if path.startswith(p)]
        return self.security[max(found, key=len)] if found else BEARER


def load_dialects() -> list[Dialect]:
    """Every dialect module in this package that defines DIALECT, in name order."""
    found: list[Dialect] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        dialect = getattr(module, "DIALECT", None)
        if isinstance(dialect, Dialect):
            found.append(dialect)
    return found
