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
from dataclasses import dataclass

from fastapi import APIRouter

from ..web.problems import ErrorRenderer


@dataclass(frozen=True)
class Dialect:
    name: str
    router: APIRouter
    prefixes: tuple[str, ...]  # URL path prefixes whose errors this dialect renders
    render_error: ErrorRenderer


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
