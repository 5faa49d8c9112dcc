"""A word diff of two texts, for the history of long text fields (notes, descriptions)."""

from __future__ import annotations

import difflib
import re

# words and the spaces between them, kept, so that the pieces join back into the texts
_TOKENS = re.compile(r"\s+|[^\s]+")
# past this many words a diff is not worth reading (nor computing): old and new are shown
MAX_WORDS = 4000


def word_diff(old: str, new: str) -> list[tuple[str, str]] | None:
    """The pieces of the change from `old` to `new`: ("same" | "removed" | "added", text),
    in order; None when the texts are too long to diff."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    if len(a) + len(b) > MAX_WORDS:
        return None
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(("same", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            pieces.append(("removed", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            pieces.append(("added", "".join(b[j1:j2])))
    return pieces


def is_long(text: object) -> bool:
    """Whether a text value reads better as a word diff than as old → new."""
    return isinstance(text, str) and (len(text) > 60 or "\n" in text)
