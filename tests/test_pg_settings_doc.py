"""docs/operations.md recommends exactly the PostgreSQL settings the benchmarks run with."""

from __future__ import annotations

import re
from pathlib import Path

from worktrail.store.pg_settings import RECOMMENDED

OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
SETTING = re.compile(r"^(\w+) = (\S+)", re.MULTILINE)


def test_the_documented_settings_are_the_benchmarks() -> None:
    text = OPERATIONS.read_text()
    block = text.split("# postgresql.conf — recommended for worktrail\n", 1)[1].split("```", 1)[0]
    assert dict(SETTING.findall(block)) == RECOMMENDED
