"""Sections of the README, so tests can run the code it shows.

Every shell block of the README (```bash, ```sh) is run by a test, unless the line right
above it says why not, as an HTML comment (GitHub does not show it)::

    <!-- not run by the tests: it serves until stopped -->

`test_readme.test_every_shell_example_is_run_or_says_why_not` holds the README to that.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

# a shell block, and the reason the line above it gives for the tests to leave it out
SHELL_BLOCK = re.compile(
    r"(?:^|\n)(?:<!-- not run by the tests: (?P<why>[^\n]*?) -->\n)?"
    r"```(?:bash|sh)\n(?P<code>.*?)```",
    re.S,
)


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


def bash_blocks(text: str, *, not_run: bool = False) -> list[str]:
    """The shell blocks of `text` that the tests run; with not_run=True, all of them."""
    return [m["code"] for m in SHELL_BLOCK.finditer(text) if not_run or m["why"] is None]


def not_run_blocks(text: str = README) -> dict[str, str]:
    """The shell blocks the tests leave out, each with the reason the README gives."""
    return {m["code"]: m["why"] for m in SHELL_BLOCK.finditer(text) if m["why"] is not None}
