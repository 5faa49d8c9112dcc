"""Free-text and changed-field filters of an EventQuery, as SQL both databases run.

An event's document (`events.data`) is orjson's compact JSON of its actor, changes,
before, after, context and scopes. The text filter matches the subject's name at the time
(`after.name`, else `before.name`: a deleted entity keeps its name in `before`) and the
changes (field names, old and new values, added and removed members), case-insensitively
(SQLite folds ASCII letters only; PostgreSQL folds every letter). The field filter matches
events whose changes name one of the fields.

Both are evaluated in two steps: a `LIKE` over the whole document first, which is a plain
substring scan and discards most rows cheaply, then the precise test on the parts named
above, which parses the JSON of the rows that are left. Within a JSON string a quote or a
backslash is escaped, so the document is searched for the text as JSON writes it.

There is no text index: a search reads the events the other filters select (a scope, an
actor, a time range narrow it) from the newest on, until a page is full.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import ColumnElement, Text, and_, bindparam, func, literal_column, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement

from ..model import EventQuery
from . import schema as t

_ESCAPE = "\\"


class json_text(FunctionElement[str]):
    """The text at a dotted path of a JSON document kept as text: a string's value, an
    array's or object's JSON, NULL when absent. `json_text(column, "after.name")`."""

    type = Text()
    inherit_cache = True

    def __init__(self, document: ColumnElement[str], path: str) -> None:
        super().__init__(document, literal_column(path))


def _parts(element: json_text, compiler: SQLCompiler, **kw: Any) -> tuple[str, list[str]]:
    document, path = list(element.clauses)
    return compiler.process(document, **kw), str(path).split(".")


@compiles(json_text, "sqlite")
def _sqlite_json_text(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    document, keys = _parts(element, compiler, **kw)
    return f"json_extract({document}, '$.{'.'.join(keys)}')"


@compiles(json_text, "postgresql")
def _postgres_json_text(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    document, keys = _parts(element, compiler, **kw)
    return f"(CAST({document} AS json) #>> '{{{','.join(keys)}}}')"


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards in `text` escaped (the escape character is `\\`)."""
    escaped = text.replace(_ESCAPE, _ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def json_fragment(text: str) -> str:
    """`text` as it appears inside a JSON string (quotes, backslashes and control
    characters escaped as orjson writes them)."""
    return orjson.dumps(text).decode()[1:-1]


def _changes_text() -> ColumnElement[str]:
    return json_text(t.events.c.data, "changes")


def text_condition() -> ColumnElement[bool]:
    """The text filter, with the bound parameters `text_json` (the pattern as JSON writes
    it) and `text_plain` (as the extracted name reads)."""
    data = t.events.c.data
    name = func.coalesce(json_text(data, "after.name"), json_text(data, "before.name"))
    as_json: BindParameter[str] = bindparam("text_json")
    return and_(
        data.ilike(as_json, escape=_ESCAPE),
        or_(
            _changes_text().ilike(as_json, escape=_ESCAPE),
            name.ilike(bindparam("text_plain"), escape=_ESCAPE),
        ),
    )


def fields_condition(count: int) -> ColumnElement[bool]:
    """The changed-field filter for `count` fields, with the bound parameters `field_0`,
    `field_1`, …: patterns of `"field":"<name>"` as the changes hold them."""
    data = t.events.c.data
    changes = _changes_text()
    names: list[BindParameter[str]] = [bindparam(f"field_{i}") for i in range(count)]
    return and_(
        or_(*(data.like(n, escape=_ESCAPE) for n in names)),
        or_(*(changes.like(n, escape=_ESCAPE) for n in names)),
    )


def text_values(q: EventQuery) -> dict[str, Any]:
    """The values bound to the text and field conditions of `q`."""
    values: dict[str, Any] = {}
    if q.text is not None:
        values["text_json"] = like_pattern(json_fragment(q.text))
        values["text_plain"] = like_pattern(q.text)
    for i, name in enumerate(q.changed_fields):
        values[f"field_{i}"] = like_pattern(f'"field":{orjson.dumps(name).decode()}')
    return values
