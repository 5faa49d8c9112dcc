"""The search box: free text and GitHub-audit-log style qualifiers, turned into the
timeline's URL parameters (filters.py).

    actor:ana action:closed project:Apollo field:due_on after:2026-11-01 "release notes"

Qualifiers that name things (actor, project, workspace, task) take an id or a name (a
part of it, any case); what is left over is free text. A qualifier that is not known, or a
name that matches nothing, is a `SearchError` that says which and what is known.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from ..errors import BadRequest
from ..model import EntityRow, EntityType
from ..query import Reader
from .filters import ACTIONS, FIELD, TYPES

QUALIFIERS = {
    "actor": "who made the change: a name, e-mail or user id",
    "action": "created, updated, deleted, restored, closed or reopened",
    "type": "the kind of thing changed: task, project, comment, …",
    "workspace": "a workspace's name or id",
    "project": "a project's name or id",
    "task": "a task's name or id",
    "field": "a field the change touched, e.g. due_on or tags",
    "after": "on or after a date, e.g. 2026-11-01",
    "before": "before a date",
}
_QUALIFIER = re.compile(r"([A-Za-z_]+):(.*)", re.S)
_SCOPES = {
    "workspace": EntityType.WORKSPACE,
    "project": EntityType.PROJECT,
    "task": EntityType.TASK,
}
_LISTED = 5  # candidates named when a name is ambiguous


class SearchError(BadRequest):
    title = "Search not understood"


@dataclass(frozen=True)
class Search:
    params: list[tuple[str, str]]


def split_terms(text: str) -> list[str]:
    """The terms of a search, quotes keeping words together ("release notes",
    project:"Apollo launch")."""
    try:
        return shlex.split(text)
    except ValueError:  # an unmatched quote: the words as they are
        return text.replace('"', " ").replace("'", " ").split()


def parse_search(text: str, reader: Reader) -> Search:
    """The URL parameters a search stands for; SearchError if part of it cannot be."""
    params: list[tuple[str, str]] = []
    words: list[str] = []
    for term in split_terms(text[:1000]):
        match = _QUALIFIER.fullmatch(term)
        if match is None or match[2].startswith("//"):  # words, times, links: free text
            words.append(term)
            continue
        name, value = match[1].lower(), match[2].strip()
        if name not in QUALIFIERS:
            known = ", ".join(f"{q}:" for q in QUALIFIERS)
            raise SearchError(f"unknown qualifier '{match[1]}:'. Known qualifiers: {known}")
        if not value:
            raise SearchError(f"'{name}:' needs a value: {QUALIFIERS[name]}")
        params.append(_resolve(name, value, reader))
    if words:
        params.append(("text", " ".join(words)))
    return Search(params)


def _resolve(name: str, value: str, reader: Reader) -> tuple[str, str]:
    if name == "action":
        return ("action", _choice(name, value.lower(), ACTIONS))
    if name == "type":
        return ("type", _choice(name, value.lower(), TYPES))
    if name == "field":
        if not FIELD.fullmatch(value):
            raise SearchError(f"'{value}' is not a field name, e.g. due_on or tags")
        return ("field", value)
    if name in ("after", "before"):
        return (name, value)
    if name == "actor":
        return ("actor", str(_actor(value, reader)))
    entity_type = _SCOPES[name]
    return ("scope", f"{entity_type.value}:{_named(entity_type, value, reader).id}")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SearchError(f"'{value}' is not a known {name}; use one of {', '.join(allowed)}")
    return value


def _actor(value: str, reader: Reader) -> int:
    """The user a name, part of a name, e-mail or id names (exact matches first)."""
    users, _ = reader.list_entities(EntityType.USER, limit=1000)
    wanted = value.lower()
    if wanted.isdigit():
        exact = [u for u in users if u.id == int(wanted)]
    else:
        exact = [u for u in users if wanted in (_name(u).lower(), _email(u).lower())]
    found = exact or [
        u
        for u in users
        if any(part.startswith(wanted) for part in _name(u).lower().split())
        or _email(u).lower().split("@")[0] == wanted
        or wanted in _name(u).lower()
    ]
    return _one("user", value, found).id


def _named(entity_type: EntityType, value: str, reader: Reader) -> EntityRow:
    if value.isdigit():
        return reader.entity(int(value), entity_type)
    found = reader.find(entity_type, value, limit=50)
    exact = [e for e in found if _name(e).lower() == value.lower()]
    return _one(entity_type.value, value, exact or found)


def _one(kind: str, value: str, found: list[EntityRow]) -> EntityRow:
    if len(found) == 1:
        return found[0]
    if not found:
        raise SearchError(f"no {kind} matches '{value}'")
    names = ", ".join(f"{_name(e)} (#{e.id})" for e in found[:_LISTED])
    more = f" and {len(found) - _LISTED} more" if len(found) > _LISTED else ""
    raise SearchError(f"{len(found)} {kind}s match '{value}': {names}{more}; be more precise")


def _name(entity: EntityRow) -> str:
    return str(entity.state.get("name") or "")


def _email(entity: EntityRow) -> str:
    return str(entity.state.get("email") or "")
