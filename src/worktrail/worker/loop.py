"""The worker's loop: dispatch, lease due messages, send them, write the outcomes — woken
at once by commits: of its own process directly, of others through the database where it
can tell (PostgreSQL's LISTEN/NOTIFY, Store.watch_commits), by polling otherwise.

Sending never waits for a whole batch: each request is a task of its own, outcomes are
written in batches by a writer task, and new messages are leased while earlier ones are in
flight, so one slow endpoint holds up nothing but its own next deliveries. On stop, no
more is leased, what is in flight gets `grace` seconds to finish, and the outcomes are
written; a message still unanswered keeps its lease until it runs out, then another worker
delivers it again (with the same webhook-id)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from ..config import ConfigError, Settings
from ..delivery.client import DeliveryClient
from ..delivery.styles import DeliveryStyle
from ..diff import now_micros
from ..errors import WorktrailError
from ..store import Store
from .deliver import Job, Sender, Settled, heartbeats, prepare, settle
from .dispatch import dispatch_once
from .pause import pause

log = logging.getLogger("worktrail.webhooks")

POLL_SECONDS = 0.5  # how soon another process's commits are seen
LEASE_MARGIN_SECONDS = 5  # a lease outlives the deliveries it covers by this much
# Messages held per subscription, as multiples of its concurrency: those in flight and as
# many again waiting their turn, so the next ones go out the moment an answer comes back
# instead of after a round trip to the database. A lease covers the wait and the flight.
DEPTH = 2
WRITE_EVERY = 0.05  # seconds between batches of outcomes written
HEARTBEAT_CHECK_SECONDS = 2.0  # how often due heartbeats are looked for
ERROR_PAUSE_SECONDS = 1.0  # after a round that failed, before the next


def retry_schedule(settings: Settings) -> tuple[int, ...]:
    """`Settings.webhook_retry_schedule` as seconds, or ConfigError naming the setting."""
    try:
        schedule = tuple(int(part) for part in settings.webhook_retry_schedule.split(","))
    except ValueError:
        schedule = ()
    if not schedule or any(s < 0 for s in schedule):
        raise ConfigError(
            "webhook_retry_schedule must be comma-separated whole seconds, e.g. 5,300,1800; "
            f"got {settings.webhook_retry_schedule!r}"
        )
    return schedule


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        styles: Mapping[str, DeliveryStyle],
        clock: Callable[[], int] = now_micros,
    ) -> None:
        self.store = store
        self.styles = dict(styles)
        self.clock = clock
        self.timeout = float(settings.webhook_timeout_seconds)
        self.limit = max(1, settings.webhook_concurrency)
        self.per_endpoint = max(1, settings.webhook_endpoint_concurrency)
        self.client = DeliveryClient(
            timeout=self.timeout,
            allow_private=bool(settings.webhooks_allow_private),
            limit=self.limit,
            per_host=self.per_endpoint,
        )
        self.sender = Sender(self.client, retry_schedule(settings), self.per_endpoint, clock)
        self.heartbeat_every = {
            kind: style.heartbeat_seconds
            for kind, style in self.styles.items()
            if style.heartbeat_seconds is not None
        }
        self._next_heartbeat_check = 0
        # dispatch when something was committed (or POLL_SECONDS have passed), not each
        # time a delivery comes back: that only makes room for more to be leased
        self._committed = True
        self._next_dispatch = 0
        # Two gates keep a commit that owes no delivery from costing the worker anything:
        # - whether any subscription is active, looked at every POLL_SECONDS: without one
        #   the worker neither dispatches nor leases;
        # - leasing only when something may be due: messages this worker just made,
        #   answers back (room, and failures to retry), the last lease having found some,
        #   or POLL_SECONDS passed (messages made by other workers, retries come due). A
        #   lease is a write transaction: on SQLite, leasing on every commit held up the
        #   writes (16 clients' PATCHes on a million events: 127-145/s with it, 158-181/s
        #   without).
        # A change of this process's subscriptions (made, resumed, revived, rewound: see
        # WebhookStore.changes) opens both gates at once, until the next look.
        self._subscribed = True
        self._next_look = 0
        self._lease_soon = True
        self._next_lease = 0
        self._changes = store.webhooks.changes
        self._wake = asyncio.Event()
        self._stopping = False
        self._in_flight: dict[asyncio.Task[Settled], Job] = {}
        self._done: list[Settled] = []

    def wake(self, _org_id: int = 0) -> None:
        """Called on commit (from any thread): there may be something to dispatch."""
        self._committed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    _loop: asyncio.AbstractEventLoop | None = None

    async def run(self, grace: float = 10.0) -> None:
        """Deliver until `stop()`; then let what is in flight finish (up to `grace` s)."""
        self._loop = asyncio.get_running_loop()
        self.store.add_commit_listener(self.wake)
        unwatch = self.store.watch_commits(self.wake)  # other processes' commits
        writer = asyncio.create_task(self._write_outcomes())
        try:
            while not self._stopping:
                busy = await self._survive(self._round())
                if not busy:
                    await pause(self._wake, POLL_SECONDS)
                    self._wake.clear()
        finally:
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=grace)
            await self._release_unfinished()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await self._flush()
            await self.client.close()
            if unwatch is not None:
                await asyncio.to_thread(unwatch)

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def _survive(self, work: Awaitable[bool]) -> bool:
        """A round's answer; when it fails (the database is away), False after a pause:
        the worker goes on, and delivers again once the database is back."""
        try:
            return await work
        except WorktrailError:  # the store has logged the driver's words
            log.warning("webhook delivery paused: the database is unavailable")
        except Exception:
            log.exception("a webhook delivery round failed")
        await asyncio.sleep(ERROR_PAUSE_SECONDS)
        return False

    async def _round(self) -> bool:
        """Dispatch, then lease what the in-flight limit leaves room for; whether there
        was anything to do."""
        now = self.clock()
        if self._changes != self.store.webhooks.changes:
            # opened before the change commits: looking now could miss it
            self._changes = self.store.webhooks.changes
            self._subscribed = self._lease_soon = True
            self._next_look = now + int(POLL_SECONDS * 1_000_000)
        elif now >= self._next_look:
            self._next_look = now + int(POLL_SECONDS * 1_000_000)
            self._subscribed = await asyncio.to_thread(self.store.webhooks.any_active)
        if not (self._subscribed or self._in_flight):
            return False
        made = 0
        if self._committed or now >= self._next_dispatch:
            self._committed = False
            self._next_dispatch = now + int(POLL_SECONDS * 1_000_000)
            made = await asyncio.to_thread(dispatch_once, self.store, now, self.styles)
            if made:
                self._committed = True  # a subscription far behind takes several passes
        if now >= self._next_heartbeat_check and self.heartbeat_every:
            self._next_heartbeat_check = now + int(HEARTBEAT_CHECK_SECONDS * 1_000_000)
            due = await asyncio.to_thread(
                self.store.webhooks.heartbeats_due, self.heartbeat_every, now
            )
            beats = await asyncio.to_thread(heartbeats, self.store, due, self.styles, now)
            for job in beats:
                self._start(job)
        room = DEPTH * self.limit - len(self._in_flight)
        if room <= 0:
            await asyncio.sleep(WRITE_EVERY)
            return True
        now = self.clock()  # the lease counts from the claim, not from the round's start
        if not (made or self._lease_soon or now >= self._next_lease):
            return False
        self._lease_soon = False
        self._next_lease = now + int(POLL_SECONDS * 1_000_000)
        lease = now + int((DEPTH * self.timeout + LEASE_MARGIN_SECONDS) * 1_000_000)
        claimed = await asyncio.to_thread(
            self.store.webhooks.claim, now, lease, room, DEPTH * self.per_endpoint, self._busy()
        )
        if not claimed:
            return made > 0
        self._lease_soon = True  # there may be more where these came from
        jobs, lost = await asyncio.to_thread(prepare, self.store, claimed, self.styles, now, lease)
        if lost:
            await asyncio.to_thread(self.store.webhooks.record, lost)
        for job in jobs:
            self._start(job)
        return True

    def _busy(self) -> dict[tuple[int, int], int]:
        """Messages held per subscription, (org_id, webhook_id), as the claim is to count
        them: one that still holds more than a flight's worth (`per_endpoint`) counts as
        full, so that messages are leased a flight at a time rather than one by one as
        answers come back (a claim costs a few statements, whatever it leases)."""
        busy: dict[tuple[int, int], int] = {}
        for job in self._in_flight.values():
            key = (job.sub.org_id, job.sub.id)
            busy[key] = busy.get(key, 0) + len(job.request.seqs)
        full = DEPTH * self.per_endpoint
        return {key: full if n > self.per_endpoint else n for key, n in busy.items()}

    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self.sender.send(job))
        self._in_flight[task] = job
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Settled]) -> None:
        self._in_flight.pop(task, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:  # a bug: the message's lease runs out and it is sent again
            log.error("a delivery failed unexpectedly", exc_info=error)
            return
        self._done.append(task.result())
        self._lease_soon = True
        self._wake.set()

    async def _release_unfinished(self) -> None:
        """Give back what is still in flight after the grace period, so that another
        worker delivers it at once rather than when its lease runs out."""
        held = [c for job in self._in_flight.values() for c in job.held.values()]
        for task in list(self._in_flight):
            task.cancel()
        if held:
            try:
                await asyncio.to_thread(self.store.webhooks.release, held)
            except Exception:  # the database is away: the leases run out instead
                log.exception("could not release %d deliveries in flight", len(held))

    async def _write_outcomes(self) -> None:
        while True:
            await asyncio.sleep(WRITE_EVERY)
            await self._flush()

    async def _flush(self) -> None:
        done, self._done = self._done, []
        if done:
            try:
                await asyncio.to_thread(settle, self.store, done)
            except Exception:  # the database is away: leases run out, deliveries repeat
                log.exception("could not write %d delivery outcomes", len(done))
