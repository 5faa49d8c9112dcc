"""What erasing a person reads and rewrites, inside the organization's write transaction:
the events where their personal values may be, and the same events with those values
erased (readable form and salts; the hash and everything over it stay as they were)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, or_, select, update

from . import schema as t

_CHUNK = 500


class ErasableEvent(NamedTuple):
    """An event as erasure reads it: whose values it holds, and where."""

    seq: int
    subject_type: str
    subject_id: int
    actor_id: int | None
    schema_version: int
    data: str
    personal: str | None


_E = t.events.c
_COLUMNS = (
    _E.seq,
    _E.subject_type,
    _E.subject_id,
    _E.actor_id,
    _E.schema_version,
    _E.data,
    _E.personal,
)


def person_events(conn: Connection, org_id: int, user_id: int) -> list[ErasableEvent]:
    """The events about a user and those the user acted in, by seq."""
    rows = conn.execute(
        select(*_COLUMNS)
        .where(
            _E.org_id == org_id,
            or_(
                (_E.subject_type == "user") & (_E.subject_id == user_id),
                _E.actor_id == user_id,
            ),
        )
        .order_by(_E.seq)
    ).all()
    return [ErasableEvent(*r) for r in rows]


def subject_events(
    conn: Connection, org_id: int, subjects: Iterable[tuple[str, int]]
) -> list[ErasableEvent]:
    """The events about any of these subjects (type, id), by seq."""
    by_type: dict[str, list[int]] = {}
    for subject_type, subject_id in sorted(set(subjects)):
        by_type.setdefault(subject_type, []).append(subject_id)
    found: list[ErasableEvent] = []
    for subject_type, ids in by_type.items():
        for start in range(0, len(ids), _CHUNK):
            rows = conn.execute(
                select(*_COLUMNS).where(
                    _E.org_id == org_id,
                    _E.subject_type == subject_type,
                    _E.subject_id.in_(ids[start : start + _CHUNK]),
                )
            ).all()
            found += [ErasableEvent(*r) for r in rows]
    return sorted(found)


def rewrite_events(conn: Connection, org_id: int, rows: list[tuple[str, str, int]]) -> None:
    """New stored document and personal map of events: (data, personal, seq) each."""
    if not rows:
        return
    statement = (
        update(t.events)
        .where(_E.org_id == bindparam("o"), _E.seq == bindparam("s"))
        .values(data=bindparam("d"), personal=bindparam("p"))
    )
    params: list[dict[str, Any]] = [{"o": org_id, "s": s, "d": d, "p": p} for d, p, s in rows]
    conn.execute(statement, params)
