"""What webhook delivery keeps besides a subscription's settings (the `webhook` entity),
as plain data: its secrets, where its dispatch stands, the messages a worker holds, and the
outcome of each delivery attempt (the delivery log)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Secrets:
    secret: str
    previous: str | None  # still signing beside the new one until `previous_until`
    previous_until: int | None


@dataclass(frozen=True)
class Cursor:
    org_id: int
    webhook_id: int
    position: int
    kind: str
    active: bool
    consecutive_failures: int
    last_success_at: int | None
    last_failure_at: int | None
    last_failure: str | None
    failing_since: int | None
    heartbeat_at: int | None


@dataclass(frozen=True)
class Claimed:
    """A message a worker now holds: deliver it, then record the outcome."""

    org_id: int
    webhook_id: int
    seq: int
    attempts: int  # made before this one
    lease: int  # which lease of the message this is


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery attempt."""

    org_id: int
    webhook_id: int
    seq: int | None  # None: a ping or heartbeat, not a message
    lease: int  # the lease the message was sent under (0 for a ping)
    attempt: int  # 1 for the first
    attempted_at: int
    status_code: int | None
    latency_ms: int
    error: str | None
    response_body: str | None
    delivered: bool
    next_attempt_at: int | None  # when it is due again; None with delivered False: failed


@dataclass(frozen=True)
class Attempt:
    id: int
    org_id: int
    webhook_id: int
    seq: int | None
    attempt: int
    attempted_at: int
    status_code: int | None
    latency_ms: int
    error: str | None
    response_body: str | None
    next_attempt_at: int | None
