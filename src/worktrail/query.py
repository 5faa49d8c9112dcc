"""The one query core: EventQuery in, a page of events and a position out.

Every reader (native API, exports, the vendor dialects, tail) builds an EventQuery and
calls `run_query`; only the store turns it into SQL. Positions travel to clients inside
opaque cursors signed with the server secret (`CursorCodec`), so a tampered or foreign
cursor is recognised and answered as a client error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson

from .errors import BadRequest
from .model import Event, Scope, StoredEvent

if TYPE_CHECKING:
    from .store import Store


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
)


_E = TypeVar("_E", Event, StoredEvent)


@dataclass(frozen=True)
class EventPage(Generic[_E]):
    events: list[_E]
    has_more: bool
    position: int | None  # seq of the last event returned, else the position asked for


def run_query(store: Store, query: EventQuery) -> EventPage[Event]:
    """Fetch one page: at most query.limit events, and whether more follow."""
    return _page(store.fetch_events(query), query)


def run_query_stored(store: Store, query: EventQuery) -> EventPage[StoredEvent]:
    """run_query for readers that render stored rows without parsing them."""
    return _page(store.fetch_stored(query), query)


def _page(rows: list[_E], query: EventQuery) -> EventPage[_E]:
    events = rows[: query.limit]
    position = events[-1].seq if events else query.after_seq
    return EventPage(events, len(rows) > query.limit, position)


class InvalidCursor(BadRequest):
    title = "Invalid cursor"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Opaque, signed tokens: base64url(JSON payload) "." base64url(HMAC-SHA256)[:16 bytes]."""

    def __init__(self, secret: str, purpose: str = "cursor") -> None:
        self._key = hashlib.sha256(f"{purpose}:{secret}".encode()).digest()

    def encode(self, payload: dict[str, Any]) -> str:
        body = _b64(orjson.dumps(payload))
        return body + "." + self._sign(body)

    def decode(self, token: str) -> dict[str, Any]:
        """The payload of a token this server signed; InvalidCursor for anything else."""
        body, dot, signature = token.partition(".")
        if not dot or len(token) > 4096 or not hmac.compare_digest(signature, self._sign(body)):
            raise InvalidCursor("the cursor is malformed or was not issued by this server")
        try:
            payload = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise InvalidCursor("the cursor is malformed") from exc
        if not isinstance(payload, dict):
            raise InvalidCursor("the cursor is malformed")
        return payload

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:16])


def encode_position(codec: CursorCodec, query: EventQuery, position: int) -> str:
    return codec.encode(
        {
            "o": query.org_id,
            "f": query.fingerprint(),
            "p": position,
            "d": "a" if query.ascending else "d",
            "t": int(time.time()),
        }
    )


def decode_position(codec: CursorCodec, query: EventQuery, cursor: str) -> int:
    """The position a cursor carries, after checking it belongs to this org and query."""
    payload = codec.decode(cursor)
    if payload.get("o") != query.org_id:
        raise InvalidCursor("the cursor belongs to another organization")
    if payload.get("f") != query.fingerprint() or payload.get("d") != (
        "a" if query.ascending else "d"
    ):
        raise InvalidCursor(
            "the cursor was issued for a different query; repeat the same filters and order"
        )
    position = payload.get("p")
    if not isinstance(position, int) or position < 0:
        raise InvalidCursor("the cursor is malformed")
    return position
