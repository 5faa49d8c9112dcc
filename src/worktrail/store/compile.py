"""EventQuery → SQL: the one place where a reader's question becomes a statement.

A page is picked in two steps: first its positions (seqs), from indexes only, then the rows
of those positions. Statements are kept per query *shape* (which filters are present, the
order, position and offset): every value is a bound parameter, so a server that asks a few
shapes over and over builds each statement once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    ScalarSelect,
    Select,
    Subquery,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    union_all,
)

from ..model import MAX_ID, EntityType, EventQuery
from . import schema as t
from .rows import EVENT_READ_COLUMNS
from .text import fields_condition, text_condition, text_values

# Larger than any seq: the open end of a recorded-time window.
MAX_SEQ = 2**62


def shape(q: EventQuery) -> tuple[Any, ...]:
    """What the SQL of `q` depends on besides its values: which filters it has, its order,
    position and offset. Queries of one shape share one statement; their values are bound
    (`bound_values`)."""
    return (
        q.scope is not None,
        q.descendants,
        q.until_seq is not None,
        bool(q.seqs),
        bool(q.subject_types),
        bool(q.subject_ids),
        bool(q.actions),
        q.subject_actions,  # its pairs are written into the statement
        bool(q.actor_ids),
        q.occurred_from is not None,
        q.occurred_to is not None,
        q.recorded_from is not None,
        q.recorded_to is not None,
        q.visible_workspaces is not None,
        q.ascending,
        q.after_seq is not None,
        q.offset > 0,
        q.newest_per_subject,  # its action classes are written into the statement
        q.text is not None,
        len(q.changed_fields),
    )


def bound_values(q: EventQuery) -> dict[str, Any]:
    """The values bound to `q`'s statement."""
    return {
        "org_id": q.org_id,
        "scope_type": q.scope.type.value if q.scope is not None else None,
        "scope_id": q.scope.id if q.scope is not None else None,
        "until_seq": q.until_seq,
        "seqs": _issued(q.seqs),
        "subject_types": list(q.subject_types),
        "subject_ids": _issued(q.subject_ids),
        "actions": list(q.actions),
        "actor_ids": _issued(q.actor_ids),
        "occurred_from": q.occurred_from,
        "occurred_to": q.occurred_to,
        "recorded_from": q.recorded_from,
        "recorded_to": q.recorded_to,
        "visible": sorted(q.visible_workspaces or ()),
        "after_seq": q.after_seq,
        "page_size": q.limit + 1,
        "offset": q.offset,
        **text_values(q),
    }


def _issued(ids: tuple[int, ...]) -> list[int]:
    """The ids of a filter that can exist: ids and seqs are positive and at most MAX_ID,
    so larger ones match nothing here rather than overflow the database's integers."""
    return [i for i in ids if 0 < i <= MAX_ID]


class StatementCache:
    """Statements by query shape: building a statement costs more than running a page of it
    (SQLAlchemy's construction and cache-key work). Bounded: a shape seen first when the
    cache is full is built each time."""

    def __init__(self, build: Callable[[EventQuery], Any], size: int = 512) -> None:
        self._build = build
        self._size = size
        self._statements: dict[tuple[Any, ...], Any] = {}

    def __call__(self, q: EventQuery) -> Any:
        key = shape(q)
        stmt = self._statements.get(key)
        if stmt is None:
            stmt = self._build(q)
            if len(self._statements) < self._size:
                self._statements[key] = stmt
        return stmt

    def __len__(self) -> int:
        """How many statements are kept."""
        return len(self._statements)


def page_statement(q: EventQuery, partitioned: bool = False) -> Select[Any]:
    """The page of `q` in two steps: first its positions, then their rows. Picking
    positions reads indexes only; a time range makes the planner choose the time index
    and sort, and sorting bare positions instead of whole rows is what keeps such a page
    fast (2.4 s -> 0.14 s over a million events on SQLite), as it does deep offsets.

    `partitioned` (PostgreSQL, partitions.py): a position is (seq, recorded_at), which
    the indexes that pick it hold too, so that each row is read from the one monthly
    partition that holds it rather than probed for in every month's index."""
    if partitioned and _plain(q):
        return _plain_page(q)
    by_time = partitioned and q.newest_per_subject is None
    if q.newest_per_subject is not None:
        positions = _newest_seqs(q)
    else:
        stmt, seq_col = _matching(q)
        stmt = stmt.add_columns(seq_col.label("seq"))
        if by_time:
            stmt = stmt.add_columns(_recorded_of(q).label("recorded_at"))
        positions = stmt.subquery("matching")
    seq = positions.c.seq
    page = select(seq, positions.c.recorded_at) if by_time else select(seq)
    if q.after_seq is not None:
        after = bindparam("after_seq", type_=Integer)
        page = page.where(seq > after if q.ascending else seq < after)
    page = page.order_by(seq.asc() if q.ascending else seq.desc())
    # a parameter, so that PostgreSQL plans each run for its values: a generic plan would
    # save planning (about 2.8 ms over 18 monthly partitions, against 0.6 ms to run a
    # first page), but it is made once from the statistics of the moment, and with a
    # month's partition not yet analyzed it scanned and sorted it: 35 ms against 1.6 ms
    page = page.limit(bindparam("page_size", type_=Integer))
    if q.offset:
        page = page.offset(bindparam("offset", type_=Integer))
    picked = page.subquery("page")
    e = t.events
    on = e.c.seq == picked.c.seq
    if by_time:
        on = and_(on, e.c.recorded_at == picked.c.recorded_at)
    return (
        select(*EVENT_READ_COLUMNS)
        .select_from(e.join(picked, on))
        .where(e.c.org_id == bindparam("org_id"))
    )


def _plain(q: EventQuery) -> bool:
    """Whether `q` is an organization's whole history from a position: the most read page,
    which needs no second step (no filter to pick positions by, no offset to skip)."""
    return (
        q.scope is None
        and q.offset == 0
        and not (q.seqs or q.subject_types or q.subject_ids or q.actions or q.subject_actions)
        and not (q.actor_ids or q.changed_fields)
        and q.occurred_from is None
        and q.occurred_to is None
        and q.recorded_from is None
        and q.recorded_to is None
        and q.visible_workspaces is None
        and q.newest_per_subject is None
        and q.text is None
    )


def _plain_page(q: EventQuery) -> Select[Any]:
    """The page of a plain `q` in one step, on PostgreSQL: its rows in key order. Over
    monthly partitions the two steps cost more to plan than to run (the events table twice,
    every month's indexes each time): 5.4 ms against 1.3 ms for a first page over 18."""
    e = t.events
    seq = e.c.seq
    stmt = select(*EVENT_READ_COLUMNS).where(e.c.org_id == bindparam("org_id"))
    if q.after_seq is not None:
        after = bindparam("after_seq", type_=Integer)
        stmt = stmt.where(seq > after if q.ascending else seq < after)
    if q.until_seq is not None:
        stmt = stmt.where(seq <= bindparam("until_seq"))
    stmt = stmt.order_by(seq.asc() if q.ascending else seq.desc())
    return stmt.limit(bindparam("page_size", type_=Integer))


def _recorded_of(q: EventQuery) -> ColumnElement[int]:
    """The recorded_at of `_matching(q)`'s rows: on PostgreSQL a scope row holds its
    event's (the partition key of event_scopes, which the table's metadata leaves out
    since SQLite's scope rows do not have it)."""
    if q.scope is not None and q.descendants:
        return literal_column(f"{t.event_scopes.name}.recorded_at", BigInteger)
    return t.events.c.recorded_at


def count_statement(q: EventQuery) -> Select[Any]:
    """How many events `q` matches over all its pages (position, limit and offset aside);
    with newest_per_subject, how many events it keeps."""
    if q.newest_per_subject is not None:
        return select(func.count()).select_from(_newest_seqs(q))
    stmt, _ = _matching(q, func.count())
    return stmt


def tally_statement(q: EventQuery) -> Select[Any]:
    """How many events `q` matches (its limit and offset aside) by action, subject type,
    actor and day: rows (action, subject_type, actor_id, day, n), where day is
    (occurred_at + the bound `day_offset`) // one day in microseconds, and only events
    after the position `after_seq` (ascending) up to `until_seq` count."""
    e = t.events
    day = (e.c.occurred_at + bindparam("day_offset", type_=BigInteger)) // DAY
    stmt, seq_col = _matching(
        q, e.c.action, e.c.subject_type, e.c.actor_id, day.label("day"), event_rows=True
    )
    if q.after_seq is not None:
        stmt = stmt.where(seq_col > bindparam("after_seq", type_=Integer))
    # grouped outside, by the inner query's columns: grouping by the expression itself
    # would bind the offset twice, and PostgreSQL would not know the two are one
    inner = stmt.subquery("tallied")
    keys = (inner.c.action, inner.c.subject_type, inner.c.actor_id, inner.c.day)
    return select(*keys, func.count().label("n")).group_by(*keys)


DAY = 86_400_000_000  # microseconds


def _needs_event_rows(q: EventQuery) -> bool:
    """Whether a scope query filters or groups on more than its scope rows hold."""
    return bool(
        q.subject_ids
        or q.actions
        or q.subject_actions
        or q.actor_ids
        or q.occurred_from is not None
        or q.occurred_to is not None
        or q.visible_workspaces is not None
        or q.newest_per_subject is not None
        or q.text is not None
        or bool(q.changed_fields)
    )


def _first_seq_recorded(at: str) -> ScalarSelect[Any]:
    """The first seq recorded at or after the bound parameter `at`."""
    e = t.events.c
    return (
        select(e.seq)
        .where(e.org_id == bindparam("org_id"), e.recorded_at >= bindparam(at))
        .order_by(e.recorded_at, e.seq)
        .limit(1)
        .scalar_subquery()
    )


def _matching(
    q: EventQuery, *columns: ColumnElement[Any], event_rows: bool = False
) -> tuple[Select[Any], ColumnElement[int]]:
    """`columns` of the events that pass every filter of `q` (its position, order, limit
    and offset aside), and the seq column to order them by. `event_rows`: the columns
    read the events table, so a scope query must join it."""
    e = t.events
    if q.scope is not None and q.descendants:
        s = t.event_scopes
        seq_col: ColumnElement[int] = s.c.seq
        rows = (
            s.join(e, and_(e.c.org_id == s.c.org_id, e.c.seq == s.c.seq))
            if event_rows or _needs_event_rows(q)
            else s
        )
        stmt = (
            select(*columns)
            .select_from(rows)
            .where(
                s.c.org_id == bindparam("org_id"),
                s.c.scope_type == bindparam("scope_type"),
                s.c.scope_id == bindparam("scope_id"),
            )
        )
    else:
        seq_col = e.c.seq
        stmt = select(*columns).select_from(e).where(e.c.org_id == bindparam("org_id"))
        if q.scope is not None:
            stmt = stmt.where(
                e.c.subject_type == bindparam("scope_type"),
                e.c.subject_id == bindparam("scope_id"),
            )
    conditions = _conditions(q, seq_col)
    if conditions:
        stmt = stmt.where(*conditions)
    return stmt, seq_col


def _conditions(q: EventQuery, seq_col: ColumnElement[int]) -> list[ColumnElement[bool]]:
    """The conditions of `q`'s filters other than its organization and scope."""
    e = t.events
    conditions: list[ColumnElement[bool]] = []
    if q.until_seq is not None:
        conditions.append(seq_col <= bindparam("until_seq"))
    if q.seqs:
        conditions.append(seq_col.in_(bindparam("seqs", expanding=True)))
    if q.subject_types:
        typed = t.event_scopes.c if q.scope is not None and q.descendants else e.c
        conditions.append(typed.subject_type.in_(bindparam("subject_types", expanding=True)))
    if q.subject_ids:
        conditions.append(e.c.subject_id.in_(bindparam("subject_ids", expanding=True)))
    if q.actions:
        conditions.append(e.c.action.in_(bindparam("actions", expanding=True)))
    if q.subject_actions:
        conditions.append(_subject_actions(q.subject_actions))
    if q.actor_ids:
        conditions.append(e.c.actor_id.in_(bindparam("actor_ids", expanding=True)))
    if q.occurred_from is not None:
        conditions.append(e.c.occurred_at >= bindparam("occurred_from"))
    if q.occurred_to is not None:
        conditions.append(e.c.occurred_at < bindparam("occurred_to"))
    # recorded_at never goes back within an organization (Store.write): a recorded-time
    # window is the seq range from the first event recorded in it, found with one seek
    if q.recorded_from is not None:
        conditions.append(seq_col >= _first_seq_recorded("recorded_from"))
    if q.recorded_to is not None:
        conditions.append(seq_col < func.coalesce(_first_seq_recorded("recorded_to"), MAX_SEQ))
    if q.text is not None:
        conditions.append(text_condition())
    if q.changed_fields:
        conditions.append(fields_condition(len(q.changed_fields)))
    if q.visible_workspaces is not None:
        v = t.event_scopes.alias("visible")
        conditions.append(
            exists().where(
                v.c.org_id == e.c.org_id,
                v.c.scope_type == EntityType.WORKSPACE.value,
                v.c.scope_id.in_(bindparam("visible", expanding=True)),
                v.c.seq == e.c.seq,
            )
        )
    return conditions


def _subject_actions(pairs: tuple[tuple[str, str], ...]) -> ColumnElement[bool]:
    e = t.events
    by_type: dict[str, list[str]] = {}
    for subject_type, action in pairs:
        by_type.setdefault(subject_type, []).append(action)
    return or_(
        *(
            and_(e.c.subject_type == subject_type, e.c.action.in_(actions))
            for subject_type, actions in sorted(by_type.items())
        )
    )


def _newest_seqs(q: EventQuery) -> Subquery:
    """The seqs of the newest matching event of each subject and action class (one column,
    `seq`). One pass over the matching events in (subject_type, subject_id) order, which
    ix_events_subject_latest covers: a grouped maximum per class, so that neither database
    has to sort the events of the window."""
    e = t.events
    classes = [tuple(c) for c in q.newest_per_subject or ()]
    named = sorted({action for c in classes for action in c})
    newest: list[ColumnElement[Any]] = [
        func.max(case((e.c.action.in_(c), e.c.seq))) for c in classes
    ]
    if named:
        newest.append(func.max(case((e.c.action.not_in(named), e.c.seq))))
    else:
        newest.append(func.max(e.c.seq))
    labels = [f"n{i}" for i in range(len(newest))]
    grouped, _ = _matching(q, *(n.label(f"n{i}") for i, n in enumerate(newest)))
    grouped = grouped.group_by(e.c.subject_type, e.c.subject_id)
    if len(newest) == 1:
        return select(grouped.subquery("per_subject").c.n0.label("seq")).subquery("newest")
    per_class = grouped.cte("per_subject")
    return union_all(
        *(
            select(per_class.c[name].label("seq")).where(per_class.c[name].is_not(None))
            for name in labels
        )
    ).subquery("newest")
