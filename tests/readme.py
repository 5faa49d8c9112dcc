"""Sections of the README, so tests can run the code it shows."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(heading: str) -> str:
    """The README text from `heading` (a line prefix) to the next heading of its level,
    ignoring lines inside code blocks."""
    level = len(heading.split(" ", 1)[0])
    lines = README.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(heading))
    fenced = False
    for i in range(first + 1, len(lines)):
        line = lines[i]
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", line):
            return "".join(lines[first:i])
    return "".join(lines[first:])


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)
