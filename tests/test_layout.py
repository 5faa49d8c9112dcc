"""The shape of the code base, held where a reviewer might miss it: small modules, and the
vendor and native APIs reaching the database only through the read door and the write side
(import-linter checks the imports; this checks what an import cannot show)."""

from __future__ import annotations

import ast
from pathlib import Path

import worktrail

PACKAGE = Path(worktrail.__file__).parent
MAX_LINES = 600


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def test_no_module_is_over_600_lines() -> None:
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in modules()}
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_apis_never_touch_the_store() -> None:
    """Routes read through a Reader and write through the Writer; `services.store` is the
    web layer's own (authentication)."""
    reached = []
    for path in modules():
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] not in ("api", "dialects", "ui"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("store", "_store"):
                reached.append(f"{relative}:{node.lineno}")
    assert reached == []
