"""How Asana's webhooks are delivered: a delivery style (worktrail.delivery.styles).

- A request is `{"events": [...]}`: the Asana events (render.py) of the events owed, those
  the webhook's filters choose (hook_filters.py), oldest first. As Asana's webhooks send
  them, resources are only `{gid, resource_type[, resource_subtype]}` and values that are
  resources only `{gid, resource_type}`: a receiver fetches what it needs.
- `X-Hook-Signature`: the hex HMAC-SHA256 of the body, keyed with the X-Hook-Secret of the
  handshake.
- Heartbeats, `{"events": []}`, right after the webhook is made and every 8 hours.
- Any 2xx delivers. A failure is tried again on the retry schedule (its last wait
  repeating) until the webhook has failed for 24 hours, heartbeats included; then the
  webhook is deleted, as Asana deletes it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import orjson

from ...delivery.client import Answer
from ...delivery.styles import Request, Subscription, Verdict, describe, next_attempt
from ...model import Cursor, Event, Secrets, StoredEvent
from ...query import Reader, parse_event
from .. import kit
from .hook_filters import AsanaEvent, chosen
from .render import RENDERED_TYPES, render_event

KIND = "asana"
HEARTBEAT_SECONDS = 8 * 3600
FAILING_FOR = 24 * 3600 * 1_000_000  # microseconds of failures before a webhook is deleted
PER_REQUEST = 100  # events of worktrail's in one request at most
RENDERED = frozenset(t.value for t in RENDERED_TYPES)
NO_NAMES = kit.Names({})  # webhook events name nothing: no entity is looked up
RESOURCE_KEYS = ("gid", "resource_type", "resource_subtype")
VALUE_KEYS = ("gid", "resource_type")
VALUES = ("new_value", "added_value", "removed_value")


def signature(secret: str, body: bytes) -> str:
    """X-Hook-Signature: the hex HMAC-SHA256 of the body keyed with the hook's secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_events(event: Event) -> list[AsanaEvent]:
    """An event's Asana events as webhooks carry them."""
    return [_thin(e) for e in render_event(event, NO_NAMES)]


def _thin(event: AsanaEvent) -> AsanaEvent:
    out = dict(event)
    for key, keys in (("user", VALUE_KEYS), ("resource", RESOURCE_KEYS), ("parent", RESOURCE_KEYS)):
        if out.get(key) is not None:
            out[key] = _only(out[key], keys)
    change = out.get("change")
    if change is not None:
        out["change"] = {
            k: _only(v, VALUE_KEYS) if k in VALUES and isinstance(v, dict) and "gid" in v else v
            for k, v in change.items()
        }
    return out


def _only(resource: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: resource[k] for k in keys if k in resource}


def _request(seqs: tuple[int, ...], events: list[AsanaEvent], secret: str) -> Request:
    body = orjson.dumps({"events": events})
    headers = {"Content-Type": "application/json", "X-Hook-Signature": signature(secret, body)}
    return Request(seqs, body, headers)


class AsanaStyle:
    """Asana's webhooks: see the module docstring."""

    kind = KIND
    heartbeat_seconds: int | None = HEARTBEAT_SECONDS

    def wants(self, sub: Subscription, event: StoredEvent) -> bool:
        if event.subject_type not in RENDERED:
            return False
        return bool(chosen(webhook_events(parse_event(event)), sub.options))

    def heartbeat(self, sub: Subscription, secrets: Secrets, now: int) -> Request:
        return _request((), [], secrets.secret)

    def requests(
        self, reader: Reader, sub: Subscription, secrets: Secrets, events: Sequence[Event], now: int
    ) -> list[Request]:
        out = []
        for start in range(0, len(events), PER_REQUEST):
            batch = events[start : start + PER_REQUEST]
            sent = [e for event in batch for e in chosen(webhook_events(event), sub.options)]
            out.append(_request(tuple(e.seq for e in batch), sent, secrets.secret))
        return out

    def judge(
        self, answer: Answer, attempt: int, cursor: Cursor, now: int, schedule: Sequence[int]
    ) -> Verdict:
        if answer.ok:
            return Verdict(True, None)
        deadline = deletion_due(cursor, now)
        if now >= deadline:
            reason = f"deliveries failed for 24 hours; the last: {describe(answer)}"
            return Verdict(False, None, "deleted", reason)
        due = next_attempt(min(attempt, len(schedule)), now, schedule) or deadline
        return Verdict(False, min(due, deadline))


def deletion_due(cursor: Cursor, now: int) -> int:
    """When a webhook failing now is deleted unless a delivery gets through first."""
    return (cursor.failing_since or now) + FAILING_FOR
