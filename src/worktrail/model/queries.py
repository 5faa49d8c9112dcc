"""EventQuery: what a reader asks of one organization's history, as plain data.

Readers build one (through the read door, worktrail.query), the store compiles it to SQL.
It names filters, an order, a position and a page size; who may see what is part of it too
(`visible_workspaces`), filled in by the read door from the principal, never by a reader.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from .entities import Scope


@dataclass(frozen=True)
class EventQuery:
    org_id: int
    scope: Scope | None = None
    descendants: bool = True
    subject_types: tuple[str, ...] = ()
    subject_ids: tuple[int, ...] = ()  # subject ids (of any type; pair with subject_types)
    actions: tuple[str, ...] = ()
    # (subject_type, action) pairs: an event matches if it matches any of them
    subject_actions: tuple[tuple[str, str], ...] = ()
    actor_ids: tuple[int, ...] = ()
    seqs: tuple[int, ...] = ()  # only these positions
    occurred_from: int | None = None  # inclusive, microseconds
    occurred_to: int | None = None  # exclusive
    recorded_from: int | None = None
    recorded_to: int | None = None
    visible_workspaces: frozenset[int] | None = None  # None: every workspace
    ascending: bool = False
    after_seq: int | None = None  # position: strictly after it in the query's direction
    until_seq: int | None = None  # inclusive upper bound on seq
    limit: int = 100
    offset: int = 0  # events of the query's order to skip (for readers that page by offset)
    # Keep only the newest matching event of each subject and action class (None: every
    # matching event). Actions in one tuple count as one; the actions named in no tuple
    # form one more class, so `()` keeps the newest event of each subject.
    newest_per_subject: tuple[tuple[str, ...], ...] | None = None
    # Free text: events whose subject's name (at the time) or whose changes (field names,
    # old and new values) contain it, case-insensitively (None: no text filter).
    text: str | None = None
    changed_fields: tuple[str, ...] = ()  # only events that change one of these fields

    def fingerprint(self) -> str:
        """A short digest of the filters, so a cursor only continues the query it came from."""
        body = asdict(self)
        for key in ("after_seq", "until_seq", "limit", "offset", "visible_workspaces"):
            body.pop(key)
        # Filters added later leave the digests of queries that do not use them unchanged.
        for key, default in _LATER_FILTERS:
            if body[key] == default:
                body.pop(key)
        body["scope"] = str(self.scope) if self.scope else None
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


_LATER_FILTERS: tuple[tuple[str, Any], ...] = (
    ("subject_ids", ()),
    ("subject_actions", ()),
    ("seqs", ()),
    ("newest_per_subject", None),
    ("text", None),
    ("changed_fields", ()),
)
