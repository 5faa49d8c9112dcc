"""Request context captured once per request (middleware) and read where events are
written, so it is not threaded through every call."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestInfo:
    request_id: str | None = None
    source: str = "system"  # api, ingest, ui, system, cli
    client_ip: str | None = None
    user_agent: str | None = None
    correlation_id: str | None = None

    def to_json(self, source: str | None = None) -> dict[str, Any]:
        out = {
            "request_id": self.request_id,
            "source": source or self.source,
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
            "correlation_id": self.correlation_id,
        }
        return {k: v for k, v in out.items() if v is not None}


current_request: ContextVar[RequestInfo] = ContextVar("current_request", default=RequestInfo())  # noqa: B039 (frozen)


@dataclass
class RequestTrace:
    """What a request's log line reports that is learnt on the way: the organization its
    credentials belong to. Mutable, and shared by reference, so that a dependency run in a
    worker thread (a copy of the context) can fill it in for the middleware to read."""

    org_id: int | None = None


current_trace: ContextVar[RequestTrace | None] = ContextVar("current_trace", default=None)


def note_org(org_id: int) -> None:
    """Record the organization the current request acts in (for its log line)."""
    trace = current_trace.get()
    if trace is not None:
        trace.org_id = org_id


@dataclass
class ReadSession:
    """Whom a request writes as and what its reads must see, for stores with read replicas
    (store/replicas.py): authentication fills it in, the store reads it. Mutable and shared
    by reference, like RequestTrace. Work outside any request (workers, the CLI) has none,
    and reads the primary."""

    # a request that may write (POST, PUT, PATCH, DELETE) reads the primary: what it checks
    # before it writes is what the write will meet
    primary: bool = False
    token_id: int | None = None  # the store notes this token's writes (read-your-writes)
    org_id: int | None = None  # the token's organization, where its writes are noted
    # a position in the primary's write-ahead log (bytes) a replica must have replayed to
    # serve this request: set when the token wrote a moment ago
    read_floor: int | None = None
    # where the request's first read went ("primary", or a replica's name): its later
    # reads go there too, so that within a request the history never goes back
    served_by: str | None = None


current_session: ContextVar[ReadSession | None] = ContextVar("current_session", default=None)


def unpin_reads() -> None:
    """Let the current request's next reads choose their server anew: a live feed between
    its pages (each page holds its own position)."""
    session = current_session.get()
    if session is not None:
        session.served_by = None
