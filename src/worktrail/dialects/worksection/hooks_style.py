"""How Worksection webhooks are delivered: a JSON array of events, each shaped exactly like
an item of `get_events.data[]` (render.py), POSTed with HTTP Basic auth when the webhook
was given `http_user`/`http_pass`.

Which events: the webhook's event names (`post_task`, `update_comment`, `close_task`...:
Worksection's action, an underscore, its object type) and, when it names projects, only
events about those projects and the tasks and comments in them. The subscription's native
filter narrows by object type, action and (one project) scope first; `wants` decides.

What counts as delivered: HTTP 200 within 5 seconds whose body is the JSON object
`{"status": "OK"}` (Worksection's rule; the case of "OK" is not held against anyone).
Anything else is a failure; failures are retried on the configured schedule, its last
wait repeating, and the 10th failure in a row pauses the webhook (Worksection disables it)
— nothing owed is dropped, so a webhook resumed later delivers what it missed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from ...delivery.client import Answer
from ...delivery.filters import check_filter
from ...delivery.styles import Request, Subscription, Verdict, describe, next_attempt
from ...model import Action, Cursor, EntityType, Event, Secrets, StoredEvent
from ...query import Reader
from .render import (
    ACTIONS,
    RenderContext,
    has_counterpart,
    referenced_users,
    render_event,
    time_zone,
)

KIND = "worksection"
# Worksection's event names (official material), and reopen_task (a third-party spec).
EVENT_NAMES = (
    "post_task",
    "post_comment",
    "post_project",
    "update_task",
    "update_comment",
    "update_project",
    "delete_task",
    "delete_comment",
    "close_task",
    "reopen_task",
)
FAILURES_TO_PAUSE = 10  # failed deliveries in a row that pause a webhook
ANSWER_WITHIN_MS = 5000  # an answer that took longer counts as failed
BATCH = 100  # events in one request at most
# Worksection action → the worktrail actions rendered as it (render.ACTIONS reversed)
NATIVE_ACTIONS = {
    ws: tuple(a.value for a, named in ACTIONS.items() if named == ws) for ws in ACTIONS.values()
}


def event_name(action: Action, subject_type: EntityType) -> str | None:
    """The webhook event name of a worktrail event (None: Worksection has no object for it)."""
    ws_action = ACTIONS.get(action)
    return None if ws_action is None else f"{ws_action}_{subject_type.value}"


def native_filter(events: Iterable[str], projects: Sequence[int]) -> dict[str, Any]:
    """The native filter that narrows a webhook's events before `wants` decides: the
    object types and actions its event names mention, and its project when it names one."""
    chosen = set(events)
    raw: dict[str, Any] = {
        "subject_type": sorted({name.split("_", 1)[1] for name in chosen}),
        "action": sorted({a for name in chosen for a in NATIVE_ACTIONS[name.split("_", 1)[0]]}),
    }
    if len(projects) == 1:
        raw["scope"] = f"project:{projects[0]}"
    return check_filter(raw)


def credentials(secret: str) -> tuple[str, str] | None:
    """The Basic-auth user and password kept as a webhook's secret, if it has any."""
    if not secret:
        return None
    try:
        stored = orjson.loads(secret)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(stored, dict):
        return None
    user, password = str(stored.get("user") or ""), str(stored.get("pass") or "")
    return (user, password) if user or password else None


def request_headers(secret: str) -> dict[str, str]:
    """The headers of every request to a webhook: JSON, and its Basic auth if it has one."""
    headers = {"Content-Type": "application/json"}
    found = credentials(secret)
    if found is not None:
        token = base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    return headers


def accepted(answer: Answer) -> bool:
    """Whether an answer is Worksection's "delivered": 200, in time, `{"status":"OK"}`."""
    if answer.status != 200 or answer.latency_ms > ANSWER_WITHIN_MS:
        return False
    try:
        body = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return False
    status = body.get("status") if isinstance(body, dict) else None
    return isinstance(status, str) and status.upper() == "OK"


def refusal(answer: Answer) -> str:
    """Why an answer does not count as delivered, in a few words."""
    if answer.status == 200 and answer.latency_ms > ANSWER_WITHIN_MS:
        return f"the endpoint answered after {answer.latency_ms} ms (at most 5 s)"
    if answer.status == 200:
        return 'the endpoint answered HTTP 200 without the JSON {"status":"OK"}'
    return describe(answer)


class WorksectionStyle:
    kind = KIND
    heartbeat_seconds: int | None = None

    def wants(self, sub: Subscription, event: StoredEvent) -> bool:
        try:
            action, subject_type = Action(event.action), EntityType(event.subject_type)
        except ValueError:
            return False
        if event_name(action, subject_type) not in set(sub.options.get("events") or ()):
            return False
        data = orjson.loads(event.data)
        if not has_counterpart(subject_type, action, data.get("changes") or ()):
            return False
        projects = {f"project:{p}" for p in sub.options.get("projects") or ()}
        return not projects or bool(projects.intersection(data.get("scopes") or ()))

    def heartbeat(self, sub: Subscription, secrets: Secrets, now: int) -> Request:
        raise NotImplementedError("Worksection webhooks get no heartbeats")

    def requests(
        self, reader: Reader, sub: Subscription, secrets: Secrets, events: Sequence[Event], now: int
    ) -> list[Request]:
        ordered = sorted(events, key=lambda e: e.seq)
        ctx = RenderContext(
            tz=time_zone(reader.organization().state.get("timezone")),
            users=reader.names(referenced_users(ordered)),
        )
        headers = request_headers(secrets.secret)
        out = []
        for start in range(0, len(ordered), BATCH):
            chunk = ordered[start : start + BATCH]
            body = orjson.dumps([render_event(e, ctx) for e in chunk])
            out.append(Request(tuple(e.seq for e in chunk), body, dict(headers)))
        return out

    def judge(
        self, answer: Answer, attempt: int, cursor: Cursor, now: int, schedule: Sequence[int]
    ) -> Verdict:
        if accepted(answer):
            return Verdict(True, None)
        # never given up: the schedule's last wait repeats until the webhook is paused
        due = next_attempt(min(attempt, len(schedule)), now, schedule)
        failures = cursor.consecutive_failures + 1
        if failures >= FAILURES_TO_PAUSE:
            reason = f"{failures} deliveries in a row failed; the last: {refusal(answer)}"
            return Verdict(False, due, "paused", reason)
        return Verdict(False, due)
