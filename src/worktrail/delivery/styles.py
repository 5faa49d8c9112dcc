"""How deliveries look, per kind of subscription: worktrail's own (Standard Webhooks, the
native event JSON) here, each vendor's in its dialect (dialects/<vendor>/webhooks.py).

A style turns the events owed to a subscription into HTTP requests, says whether an answer
counts as delivered, and what follows a failure: when to try again, and whether the
subscription is disabled, paused or deleted.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..model import Cursor, EntityRow, Event, Secrets, StoredEvent, event_id
from ..query import Reader
from ..web.render import event_json
from . import signing
from .client import Answer

# Seconds from a failed attempt to the next one (Svix's schedule); then the endpoint is
# disabled. `Settings.webhook_retry_schedule` replaces it (tests shorten it).
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.1  # each wait is stretched or shrunk by up to this share, so retries spread
ROTATION_OVERLAP = 24 * 3600 * 1_000_000  # microseconds the old secret keeps signing


@dataclass(frozen=True)
class Subscription:
    """A webhook as delivery sees it: its entity's settings."""

    id: int
    org_id: int
    kind: str
    url: str
    status: str
    filter: dict[str, Any]
    options: dict[str, Any]
    signing: str

    @classmethod
    def of(cls, entity: EntityRow) -> Subscription:
        state = entity.state
        return cls(
            id=entity.id,
            org_id=entity.org_id,
            kind=str(state["kind"]),
            url=str(state["url"]),
            status="disabled" if entity.deleted else str(state["status"]),
            filter=dict(state.get("filter") or {}),
            options=dict(state.get("options") or {}),
            signing=str(state.get("signing") or "hmac"),
        )


@dataclass(frozen=True)
class Request:
    """One HTTP request of a delivery: the events (by seq) it carries, and the request."""

    seqs: tuple[int, ...]
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Verdict:
    """What an attempt's answer means for its messages and for the subscription."""

    delivered: bool
    next_attempt_at: int | None  # due again then; None and not delivered: given up
    endpoint: str | None = None  # "disabled", "paused" or "deleted": what becomes of it
    reason: str | None = None  # why, recorded on the subscription


class DeliveryStyle(Protocol):
    kind: str
    # seconds between heartbeats (requests carrying no event), None: the style sends none
    heartbeat_seconds: int | None

    def wants(self, sub: Subscription, event: StoredEvent) -> bool:
        """Whether an event the subscription's filter chose is owed to it (styles whose
        vendor filters say more than the native filter can)."""
        ...

    def heartbeat(self, sub: Subscription, secrets: Secrets, now: int) -> Request:
        """A heartbeat request (only called when `heartbeat_seconds` is set)."""
        ...

    def requests(
        self, reader: Reader, sub: Subscription, secrets: Secrets, events: Sequence[Event], now: int
    ) -> list[Request]:
        """The requests that deliver `events` (`reader`: the organization's whole history,
        for styles that show the names of what events refer to)."""
        ...

    def judge(
        self, answer: Answer, attempt: int, cursor: Cursor, now: int, schedule: Sequence[int]
    ) -> Verdict:
        """What the answer to the `attempt`-th try means."""
        ...


def message_id(org_id: int, webhook_id: int, seq: int) -> str:
    """A message's id: the same on every retry and replay of one event to one subscription."""
    return f"msg_{webhook_id}_{event_id(org_id, seq)}"


def signing_keys(secrets: Secrets, now: int) -> list[str]:
    """The keys that sign now: the secret, and the one it replaced while that still may."""
    keys = [secrets.secret]
    if secrets.previous and secrets.previous_until and secrets.previous_until > now:
        keys.append(secrets.previous)
    return keys


def next_attempt(attempt: int, now: int, schedule: Sequence[int]) -> int | None:
    """When the try after the `attempt`-th failed one is due (None: the schedule is over)."""
    if attempt > len(schedule):
        return None
    wait = schedule[attempt - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    return now + int(wait * 1_000_000)


class NativeStyle:
    """Standard Webhooks: one event a request, its native JSON exactly as
    `GET /api/v1/events/{id}` renders it; any 2xx delivers; 410 disables at once; a
    schedule run out disables too."""

    kind = "native"
    heartbeat_seconds: int | None = None

    def wants(self, sub: Subscription, event: StoredEvent) -> bool:
        return True

    def heartbeat(self, sub: Subscription, secrets: Secrets, now: int) -> Request:
        raise NotImplementedError("native subscriptions get no heartbeats")

    def requests(
        self, reader: Reader, sub: Subscription, secrets: Secrets, events: Sequence[Event], now: int
    ) -> list[Request]:
        keys = signing_keys(secrets, now)
        stamp = now // 1_000_000
        out = []
        for event in events:
            body = orjson.dumps(event_json(event))
            headers = signing.headers(keys, message_id(sub.org_id, sub.id, event.seq), stamp, body)
            headers["Content-Type"] = "application/json"
            out.append(Request((event.seq,), body, headers))
        return out

    def judge(
        self, answer: Answer, attempt: int, cursor: Cursor, now: int, schedule: Sequence[int]
    ) -> Verdict:
        if answer.ok:
            return Verdict(True, None)
        if answer.status == 410:
            return Verdict(False, None, "disabled", "the endpoint answered 410 Gone")
        due = next_attempt(attempt, now, schedule)
        if due is None:
            reason = f"{attempt} attempts failed; the last: {describe(answer)}"
            return Verdict(False, None, "disabled", reason)
        return Verdict(False, due)


def describe(answer: Answer) -> str:
    return answer.error or f"HTTP {answer.status}"
