"""The query parameters of GET /subscribed_events, read the way Kantata reads them.

Malformed values (a page that is no number, an order Kantata does not know, a date that is
no date) and invalid combinations are 400 `system` errors; well-formed values that name
nothing Kantata knows (an unknown subject type, optional field or include) are 422
`validation` errors naming the parameter. A parameter given twice counts with its last
value, as in Rails; parameters the endpoint does not know are ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams

from ...diff import datetime_to_micros
from ...model import MAX_ID, EntityType, split_event_id
from ...web.openapi import listed, query
from .errors import bad_request, invalid
from .mapping import (
    ACTIONS_OF_VERB,
    BY_PREFIX,
    BY_SUBJECT_TYPE,
    KANTATA_SUBJECT_TYPES,
    VERB_CLASSES,
)

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 200
INT32_MAX = 2**31 - 1
OPTIONAL_FIELDS = ("previous_payload", "current_payload", "payload_changes")
INCLUDES = ("subject",)
ORDERS = {"created_at:asc": True, "created_at:desc": False, "created_at": True}
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Paging:
    offset: int
    size: int
    page_number: int


@dataclass(frozen=True)
class EventsRequest:
    """What a Kantata client asked for, checked before anything is looked up."""

    created_after: int | None  # microseconds; events recorded strictly after
    created_before: int | None  # events recorded strictly before
    subject_actions: tuple[tuple[str, str], ...] | None  # from event_types; None: any
    subject_type: EntityType | None
    subject_ids: tuple[int, ...]
    user_ids: tuple[int, ...]
    seqs: tuple[int, ...] | None  # of the events named by `only` that are the account's
    newest_per_subject: tuple[tuple[str, ...], ...] | None
    include_subject: bool
    optional_fields: frozenset[str]
    ascending: bool
    paging: Paging
    matches_nothing: bool  # a filter names something worktrail never emits


def last(qp: QueryParams, name: str) -> str | None:
    values = qp.getlist(name)
    return values[-1] if values else None


def comma_list(qp: QueryParams, *names: str) -> list[str] | None:
    """Values of a list parameter: comma-separated, repeated, or Rails' `name[]` form."""
    raw = [v for name in names for v in qp.getlist(name)]
    parts = [part.strip() for value in raw for part in value.split(",") if part.strip()]
    return parts or None  # `name=` alone asks for nothing


def flag(qp: QueryParams, name: str) -> bool:
    raw = last(qp, name)
    if raw is None:
        return False
    lowered = raw.strip().lower()
    if lowered in ("true", "t", "1", "yes"):
        return True
    if lowered in ("false", "f", "0", "no", ""):
        return False
    raise bad_request(f"{name} must be true or false, not {raw!r}")


def integer(qp: QueryParams, name: str, lo: int) -> int | None:
    raw = last(qp, name)
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 12:
        raise bad_request(f"{name} must be an integer, not {raw!r}")
    value = int(text)
    if not lo <= value <= INT32_MAX:
        raise bad_request(f"{name} must be an integer from {lo} to {INT32_MAX}, not {value}")
    return value


def ids(qp: QueryParams, name: str) -> tuple[int, ...] | None:
    values = comma_list(qp, name)
    if values is None:
        return None
    out: list[int] = []
    for value in values:
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise bad_request(f"{name} must be a comma-separated list of ids, not {value!r}")
        out.append(int(value))
    return tuple(dict.fromkeys(out))


def timestamp(qp: QueryParams, name: str, zone: ZoneInfo) -> int | None:
    """An ISO-8601 date-time (or date); without a zone it is in the account's time zone."""
    raw = last(qp, name)
    if raw is None:
        return None
    text = raw.strip()
    if "T" in text:
        text = text.replace(" ", "+")  # an unencoded + in the offset arrives as a space
    try:
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        return datetime_to_micros(parsed.astimezone(dt.UTC))
    except (ValueError, OverflowError):
        raise bad_request(
            f"{name} must be an ISO 8601 date-time, e.g. 2026-01-31T09:30:00-07:00, not {raw!r}"
        )


def paging(qp: QueryParams) -> Paging:
    """page/per_page, or limit/offset when both are given (then page/per_page are ignored)."""
    limit, offset = integer(qp, "limit", 1), integer(qp, "offset", 0)
    page = integer(qp, "page", 1) or 1
    per_page = integer(qp, "per_page", 1) or DEFAULT_PER_PAGE
    if limit is not None and offset is not None:
        size = min(limit, MAX_PER_PAGE)
        return Paging(offset, size, offset // size + 1)
    size = min(per_page, MAX_PER_PAGE)  # as Kantata's other endpoints do: clamp, not fail
    return Paging((page - 1) * size, size, page)


def event_types(qp: QueryParams) -> tuple[tuple[tuple[str, str], ...] | None, bool]:
    """(subject_type, action) pairs of the event types asked for, and whether some were asked
    for that worktrail never emits (well-formed Kantata names such as time_entry:created)."""
    names = comma_list(qp, "event_types", "event_types[]")
    if names is None:
        return None, False
    pairs: list[tuple[str, str]] = []
    for name in names:
        if not EVENT_TYPE.match(name):
            raise invalid("event_types", f"{name!r} is not an event type like story:updated")
        prefix, _, verb = name.partition(":")
        kantata_type = BY_PREFIX.get(prefix)
        if kantata_type is not None:
            entity = kantata_type.entity.value
            pairs.extend((entity, action) for action in ACTIONS_OF_VERB.get(verb, ()))
    return tuple(dict.fromkeys(pairs)), not pairs


def subject(qp: QueryParams) -> tuple[EntityType | None, tuple[int, ...], bool]:
    name = last(qp, "subject_type")
    subject_ids = ids(qp, "subject_id")
    if subject_ids is not None and not name:
        raise bad_request("subject_id requires subject_type")
    if not name:
        return None, (), False
    if "," in name:
        raise bad_request("subject_type takes one subject type")
    if name not in KANTATA_SUBJECT_TYPES:
        raise invalid("subject_type", f"{name!r} is not a subject type")
    kantata_type = BY_SUBJECT_TYPE.get(name)
    issued = tuple(i for i in subject_ids or () if 0 < i <= MAX_ID)
    nothing = kantata_type is None or (subject_ids is not None and not issued)
    return (kantata_type.entity if kantata_type else None), issued, nothing


def choices(qp: QueryParams, name: str, allowed: tuple[str, ...]) -> frozenset[str]:
    values = comma_list(qp, name, f"{name}[]") or []
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise invalid(name, f"{name} takes {', '.join(allowed)}; {', '.join(unknown)} is unknown")
    return frozenset(values)


def read_request(qp: QueryParams, org_id: int, zone: ZoneInfo) -> EventsRequest:
    most_recent = flag(qp, "most_recent")
    by_event_type = flag(qp, "most_recent_by_event_type")
    if most_recent and by_event_type:
        raise bad_request("most_recent cannot be combined with most_recent_by_event_type")
    order = last(qp, "order")
    if order is not None and order.strip() not in ORDERS:
        raise bad_request(f"order must be created_at:asc or created_at:desc, not {order!r}")
    subject_type, subject_ids, no_subject = subject(qp)
    pairs, no_type = event_types(qp)
    only = ids(qp, "only")
    seqs = None
    if only is not None:
        seqs = tuple(seq for org, seq in map(split_event_id, only) if org == org_id and seq)
    newest = () if most_recent else VERB_CLASSES if by_event_type else None
    return EventsRequest(
        created_after=timestamp(qp, "created_after", zone),
        created_before=timestamp(qp, "created_before", zone),
        subject_actions=pairs,
        subject_type=subject_type,
        subject_ids=subject_ids,
        user_ids=ids(qp, "user_ids") or (),
        seqs=seqs,
        newest_per_subject=newest,
        include_subject="subject" in choices(qp, "include", INCLUDES),
        optional_fields=choices(qp, "optional_fields", OPTIONAL_FIELDS),
        ascending=ORDERS[order.strip()] if order is not None else False,
        paging=paging(qp),
        matches_nothing=no_subject or no_type or seqs == (),
    )


# -- what the OpenAPI document says of these parameters --------------------------------

_FLAG = {"enum": ["true", "t", "1", "yes", "false", "f", "0", "no", ""]}
_INT32 = {"type": "integer", "maximum": INT32_MAX}
PARAMETERS = (
    query("created_after", {"type": "string"}, "ISO 8601 (the account's zone if none)"),
    query("created_before", {"type": "string"}, "ISO 8601 (the account's zone if none)"),
    listed("event_types", {"type": "string", "pattern": EVENT_TYPE.pattern}, "e.g. story:updated"),
    query("subject_type", {"enum": sorted(KANTATA_SUBJECT_TYPES)}, "e.g. Story"),
    listed("subject_id", {"type": "integer", "minimum": 0}, "with subject_type"),
    listed("user_ids", {"type": "integer", "minimum": 0}, "changes by these users"),
    listed("only", {"type": "integer", "minimum": 0}, "only these event ids"),
    query("most_recent", _FLAG, "only the newest event of each subject"),
    query("most_recent_by_event_type", _FLAG, "the newest of each subject and verb"),
    listed("include", {"enum": list(INCLUDES)}, "side-load the subjects"),
    listed("optional_fields", {"enum": list(OPTIONAL_FIELDS)}, "payloads to add"),
    query("order", {"enum": list(ORDERS)}, "created_at:desc (default) or created_at:asc"),
    query("page", {**_INT32, "minimum": 1}),
    query(
        "per_page", {**_INT32, "minimum": 1}, f"default {DEFAULT_PER_PAGE}, at most {MAX_PER_PAGE}"
    ),
    query("limit", {**_INT32, "minimum": 1}, "with offset, instead of page and per_page"),
    query("offset", {**_INT32, "minimum": 0}),
)
