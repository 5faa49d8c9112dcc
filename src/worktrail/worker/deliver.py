"""Delivery: leased messages become HTTP requests in their subscription's style, go out
with at most so many in flight per endpoint, and every attempt's outcome is written back,
with what it means for the subscription (disabled after a 410 or a schedule run out, or
whatever its vendor's policy says)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..delivery.client import KEPT_BODY, Answer, DeliveryClient
from ..delivery.styles import DeliveryStyle, Request, Subscription, Verdict, describe
from ..diff import now_micros
from ..model import Claimed, Cursor, EventQuery, Outcome
from ..query import Reader
from ..store import Store
from ..write import webhooks as writes


@dataclass(frozen=True)
class Job:
    """One request to send, and what to record of it."""

    sub: Subscription
    style: DeliveryStyle
    request: Request
    held: Mapping[int, Claimed]  # by seq
    cursor: Cursor
    # microseconds: the lease of `held` runs out then (None: nothing leased, a heartbeat)
    deadline: int | None = None


@dataclass(frozen=True)
class Settled:
    """A job's outcomes, and the subscription's fate if its verdict names one."""

    outcomes: list[Outcome]
    sub: Subscription
    verdict: Verdict


def prepare(
    store: Store,
    claimed: Sequence[Claimed],
    styles: Mapping[str, DeliveryStyle],
    now: int,
    deadline: int | None = None,
) -> tuple[list[Job], list[Outcome]]:
    """The requests for leased messages (their lease running out at `deadline`), grouped
    per subscription, and outcomes for those that cannot be sent (their event is gone)."""
    by_org: dict[int, list[Claimed]] = defaultdict(list)
    for item in claimed:
        by_org[item.org_id].append(item)
    jobs: list[Job] = []
    lost: list[Outcome] = []
    for org_id, items in by_org.items():
        found, gone = _jobs_of(store, org_id, items, styles, now, deadline)
        jobs.extend(found)
        lost.extend(gone)
    return jobs, lost


def _jobs_of(
    store: Store,
    org_id: int,
    items: list[Claimed],
    styles: Mapping[str, DeliveryStyle],
    now: int,
    deadline: int | None,
) -> tuple[list[Job], list[Outcome]]:
    reader = Reader.whole(store, org_id)
    ids = sorted({i.webhook_id for i in items})
    entities = reader.names(ids)
    secrets = store.webhooks.secrets(org_id, ids)
    cursors = store.webhooks.cursors(org_id, ids)
    seqs = tuple(sorted({i.seq for i in items}))
    query = EventQuery(org_id, seqs=seqs, ascending=True, limit=len(seqs))
    events = {e.seq: e for e in reader.page(query).events}
    jobs, lost = [], []
    for webhook_id in ids:
        entity, mine = entities.get(webhook_id), [i for i in items if i.webhook_id == webhook_id]
        if entity is None or webhook_id not in secrets or webhook_id not in cursors:
            continue
        sub = Subscription.of(entity)
        owed = [events[i.seq] for i in mine if i.seq in events]
        lost += [_gone(i, now) for i in mine if i.seq not in events]
        style = styles[sub.kind]
        held = {i.seq: i for i in mine}
        for request in style.requests(reader, sub, secrets[webhook_id], owed, now):
            jobs.append(Job(sub, style, request, held, cursors[webhook_id], deadline))
    return jobs, lost


def _gone(item: Claimed, now: int) -> Outcome:
    return Outcome(
        item.org_id, item.webhook_id, item.seq, item.lease, item.attempts + 1, now, None, 0,
        "the event no longer exists", None, False, None,
    )  # fmt: skip


class Sender:
    """Sends jobs with at most `per_endpoint` in flight to one subscription.

    A request starts only if it can be answered (or time out) before its messages' lease
    runs out: past that, another worker may have leased them again, and two workers would
    send one attempt at once. A job too late is dropped unsent (`Settled` with no
    outcomes); its messages are leased again when the lease has run out."""

    def __init__(
        self,
        client: DeliveryClient,
        schedule: Sequence[int],
        per_endpoint: int,
        clock: Callable[[], int] = now_micros,
    ) -> None:
        self.client = client
        self.schedule = tuple(schedule)
        self.per_endpoint = per_endpoint
        self.clock = clock
        self.timeout_micros = int(client.timeout * 1_000_000)
        self._gates: dict[int, asyncio.Semaphore] = {}

    async def send(self, job: Job) -> Settled:
        gate = self._gates.setdefault(job.sub.id, asyncio.Semaphore(self.per_endpoint))
        async with gate:
            started = self.clock()
            if job.deadline is not None and started + self.timeout_micros > job.deadline:
                return Settled([], job.sub, Verdict(False, None))
            answer = await self.client.post(job.sub.url, job.request.body, job.request.headers)
        attempt = 1 + max((job.held[seq].attempts for seq in job.request.seqs), default=0)
        verdict = job.style.judge(answer, attempt, job.cursor, self.clock(), self.schedule)
        seqs = job.request.seqs or (None,)  # a heartbeat is logged as an attempt too
        outcomes = [_outcome(job, seq, attempt, started, answer, verdict) for seq in seqs]
        return Settled(outcomes, job.sub, verdict)


def _outcome(
    job: Job, seq: int | None, attempt: int, started: int, answer: Answer, verdict: Verdict
) -> Outcome:
    body = answer.body[: KEPT_BODY * 4].decode("utf-8", "replace")[:KEPT_BODY] or None
    error = None if verdict.delivered else describe(answer)
    return Outcome(
        org_id=job.sub.org_id,
        webhook_id=job.sub.id,
        seq=seq,
        lease=0 if seq is None else job.held[seq].lease,
        attempt=attempt,
        attempted_at=started,
        status_code=answer.status,
        latency_ms=answer.latency_ms,
        error=error,
        response_body=body,
        delivered=verdict.delivered,
        next_attempt_at=verdict.next_attempt_at,
    )


def heartbeats(
    store: Store, due: Sequence[Cursor], styles: Mapping[str, DeliveryStyle], now: int
) -> list[Job]:
    """The heartbeat requests of subscriptions whose heartbeat is due (taken by this
    worker: `WebhookStore.heartbeats_due`)."""
    jobs = []
    for cursor in due:
        style = styles.get(cursor.kind)
        reader = Reader.whole(store, cursor.org_id)
        entity = reader.names([cursor.webhook_id]).get(cursor.webhook_id)
        secrets = store.webhooks.secrets(cursor.org_id, [cursor.webhook_id])
        if style is None or entity is None or entity.deleted or cursor.webhook_id not in secrets:
            continue
        sub = Subscription.of(entity)
        request = style.heartbeat(sub, secrets[cursor.webhook_id], now)
        jobs.append(Job(sub, style, request, {}, cursor))
    return jobs


def settle(store: Store, settled: Sequence[Settled]) -> None:
    """Write the outcomes, then what they mean for their subscriptions."""
    store.webhooks.record([o for s in settled for o in s.outcomes])
    fates = {(s.sub.org_id, s.sub.id): s for s in settled if s.verdict.endpoint}
    for (org_id, webhook_id), s in fates.items():
        reason = s.verdict.reason or "deliveries failed"
        if s.verdict.endpoint == "deleted":
            writes.remove(store, org_id, webhook_id, reason)
        else:
            writes.set_status(store, org_id, webhook_id, str(s.verdict.endpoint), reason)
