"""Asana's `opt_fields`: choose which fields of each event come back.

`opt_fields=action,user.name,change.field` asks for those paths. As in Asana, an object
that is a resource keeps its `gid` and `resource_type` whatever was asked; a resource asked
for without sub-fields comes back as just those two. Other values asked for without
sub-fields (`change`, `created_at`, a plain `new_value`) come back whole. Names Asana events
do not have are ignored, like Asana ignores fields a resource does not carry.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import bad_request

FieldTree = dict[str, "FieldTree"]
_SEGMENT = re.compile(r"[A-Za-z0-9_]+")
IDENTITY = ("gid", "resource_type")


def parse_opt_fields(values: list[str]) -> FieldTree | None:
    """The paths of every `opt_fields` value as a tree; None when no field was named."""
    tree: FieldTree = {}
    for raw in values:
        for path in raw.split(","):
            path = path.strip()
            if not path:
                continue
            segments = path.split(".")
            if not all(_SEGMENT.fullmatch(s) for s in segments):
                raise bad_request(
                    f"opt_fields: Not a valid field path: {path!r}",
                    "Give comma-separated paths such as action,user.name,change.field.",
                )
            node = tree
            for segment in segments:
                node = node.setdefault(segment, {})
    return tree or None


def select(value: Any, tree: FieldTree) -> Any:
    """`value` with only the fields of `tree` (and the identity of resources)."""
    if isinstance(value, list):
        return [select(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: value[key] for key in IDENTITY if key in value}
    for key, sub in tree.items():
        if key in value and key not in out:
            out[key] = select(value[key], sub) if sub else _whole(value[key])
    return out


def _whole(value: Any) -> Any:
    """A value asked for without sub-fields: resources compact to their identity."""
    if isinstance(value, list):
        return [_whole(item) for item in value]
    if isinstance(value, dict) and "gid" in value:
        return {key: value[key] for key in IDENTITY if key in value}
    return value
