"""Request context captured once per request and carried in contextvars (worktrail.context):
the write path reads it into each event's `context`, the log into each line. The same
middleware answers for the request afterwards: its access log line and its metrics.

It runs outside everything else, Starlette's ServerErrorMiddleware included (SecureApp),
so an unexpected error's 500 carries the request's `X-Request-ID` too, and is counted and
logged like any other answer.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import metrics
from ..context import (
    ReadSession,
    RequestInfo,
    RequestTrace,
    current_request,
    current_session,
    current_trace,
)
from .logs import ACCESS_LOGGER, IN_MESSAGE

access_log = logging.getLogger(ACCESS_LOGGER)

# requests that only read: theirs may go to read replicas (store/replicas.py)
_READ_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# A client's request id is kept when it is a plain token (what tracing systems send: hex,
# UUIDs, base64); anything else is replaced, so a log line cannot be forged through it.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,99}")


def request_id_of(given: str | None) -> str:
    """The request's id: the client's `X-Request-ID` when it is a plain token of at most
    100 characters, else a new one."""
    if given and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The template of the route that took the request (`/api/v1/events/{event_id}`),
    never its path; `unmatched` when no route did."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else metrics.UNMATCHED


class RequestContextMiddleware:
    """Captures request id, client address and user agent once per request; when it is
    answered, writes its access log line and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = request_id_of(headers.get("x-request-id"))
        client = scope.get("client")
        info = RequestInfo(
            request_id=request_id,
            source="api",
            client_ip=client[0] if client else None,
            user_agent=headers.get("user-agent", "")[:300] or None,
            correlation_id=(headers.get("x-correlation-id") or "")[:100] or None,
        )
        trace = RequestTrace()
        reset = (
            current_request.set(info),
            current_trace.set(trace),
            current_session.set(ReadSession(primary=scope["method"] not in _READ_METHODS)),
        )
        answer = _Answer()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode("latin-1")))
                answer.status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                answer.complete = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # ServerErrorMiddleware has logged it (web/problems.py) and, unless the
            # response had begun, answered 500. Raised further, the server would log it
            # again; it only needs to hear of it when the response was cut short.
            if not answer.complete:
                answer.status = answer.status or 500
                raise
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(scope)
            metrics.observe_request(route, scope["method"], answer.status, elapsed)
            duration_ms = round(elapsed * 1000, 1)
            access_log.info(
                "%s %s %s %sms",
                scope["method"],
                route,
                answer.status,
                duration_ms,
                extra={
                    "request_id": request_id,
                    "org_id": trace.org_id,
                    "method": scope["method"],
                    "route": route,
                    "status": answer.status,
                    "duration_ms": duration_ms,
                    IN_MESSAGE: ("method", "route", "status", "duration_ms"),
                },
            )
            current_session.reset(reset[2])
            current_trace.reset(reset[1])
            current_request.reset(reset[0])


@dataclass
class _Answer:
    """What a request was answered: the status (0: nothing was sent), and whether the
    response went out in full."""

    status: int = 0
    complete: bool = False
