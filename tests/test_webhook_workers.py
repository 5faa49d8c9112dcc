"""`worktrail worker` processes against real receivers: a worker killed with SIGKILL in
the middle of deliveries loses nothing (another delivers what it held, with the same
webhook-ids), a stopped worker finishes what is in flight, two workers sharing one
PostgreSQL database never send one message at the same time, and the `worktrail webhooks`
commands."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook
from typer.testing import CliRunner

from worktrail.app import create_app
from worktrail.cli import app as cli
from worktrail.config import Settings
from worktrail.store import Store

from .conftest import Org, make_settings, new_org
from .receiver import Received, Receiver, receiver

runner = CliRunner()


@pytest.fixture
def org(settings: Settings, store: Store) -> Iterator[Org]:
    """An organization on an app that delivers nothing itself (the workers here do) and
    lets subscriptions point at loopback."""
    configured = make_settings(settings.database_url, webhooks_allow_private=1)
    with TestClient(create_app(configured, store), raise_server_exceptions=False) as client:
        yield new_org(store, client, "Acme")


@contextmanager
def worker_process(
    settings: Settings, tmp_path: Path, name: str
) -> Iterator[subprocess.Popen[str]]:
    """A `worktrail worker` on the test's database, delivering to loopback."""
    env = {
        **os.environ,
        "WORKTRAIL_DATABASE_URL": settings.database_url,
        "WORKTRAIL_WEBHOOKS_ALLOW_PRIVATE": "1",
        "WORKTRAIL_WEBHOOK_TIMEOUT_SECONDS": "2",
        "WORKTRAIL_WEBHOOK_RETRY_SCHEDULE": "0,0,1,1",
        "WORKTRAIL_LOG_LEVEL": "warning",
    }
    log = (tmp_path / f"{name}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "worktrail.cli", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log.close()


def subscribe(org: Org, url: str) -> dict[str, Any]:
    response = org.post("/api/v1/webhooks", json={"url": url})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def owed_ids(org: Org, webhook_id: int) -> set[str]:
    events = org.get("/api/v1/events", params={"limit": 1000, "subject_type": "workspace"})
    return {f"msg_{webhook_id}_{e['id']}" for e in events.json()["data"]}


def pending(org: Org, webhook_id: int) -> int:
    state = org.get(f"/api/v1/webhooks/{webhook_id}").json()["data"]
    return int(state["delivery"]["pending"])


def wait_until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("not in time")


def slow(seconds: float) -> Any:
    def reply(_request: Received) -> tuple[int, bytes, dict[str, str]]:
        time.sleep(seconds)
        return 200, b"ok", {}

    return reply


def test_a_worker_killed_mid_delivery_loses_nothing(
    org: Org, settings: Settings, tmp_path: Path
) -> None:
    with receiver(reply=slow(0.5)) as hook:
        created = subscribe(org, hook.url)
        for n in range(30):
            org.create("workspaces", name=f"W{n}")
        expected = owed_ids(org, created["id"])
        with worker_process(settings, tmp_path, "first") as first:
            hook.wait_for(3)  # deliveries are in flight now (each takes half a second)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        before = {r.headers["webhook-id"] for r in hook.requests}
        with worker_process(settings, tmp_path, "second"):
            wait_until(lambda: {r.headers["webhook-id"] for r in hook.requests} >= expected)
            wait_until(lambda: pending(org, created["id"]) == 0)
        for request in hook.requests:
            Webhook(created["secret"]).verify(request.body, request.headers)
    got = {r.headers["webhook-id"] for r in hook.requests}
    assert got == expected and before < expected


def test_a_stopped_worker_finishes_what_is_in_flight(
    org: Org, settings: Settings, tmp_path: Path
) -> None:
    with receiver(reply=slow(0.5)) as hook:
        created = subscribe(org, hook.url)
        for n in range(5):
            org.create("workspaces", name=f"W{n}")
        with worker_process(settings, tmp_path, "worker") as process:
            hook.wait_for(1)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        sent = Counter(r.headers["webhook-id"] for r in hook.requests)
    log = org.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()["data"]
    # every request that went out has its outcome written: nothing will go out twice
    assert Counter(a["webhook_id"] for a in log) == sent
    assert all(a["status_code"] == 200 for a in log)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_workers_never_send_one_message_at_once(
    org: Org, settings: Settings, tmp_path: Path
) -> None:
    lock = threading.Lock()
    busy: Counter[str] = Counter()
    overlaps: list[str] = []

    def reply(request: Received) -> tuple[int, bytes, dict[str, str]]:
        key = request.headers["webhook-id"]
        with lock:
            busy[key] += 1
            if busy[key] > 1:
                overlaps.append(key)
        time.sleep(0.02)
        with lock:
            busy[key] -= 1
        return 200, b"ok", {}

    with receiver(reply=reply) as hook:
        created = subscribe(org, hook.url)
        with (
            worker_process(settings, tmp_path, "a"),
            worker_process(settings, tmp_path, "b"),
        ):
            for n in range(200):
                org.create("workspaces", name=f"W{n}")
            expected = owed_ids(org, created["id"])
            wait_until(lambda: {r.headers["webhook-id"] for r in hook.requests} >= expected, 60)
    sent = Counter(r.headers["webhook-id"] for r in hook.requests)
    assert overlaps == []
    assert set(sent) == expected and max(sent.values()) == 1


def test_the_webhooks_commands(org: Org, settings: Settings) -> None:
    base = ["--database-url", settings.database_url, "--org", str(org.id)]
    env = {"WORKTRAIL_WEBHOOKS_ALLOW_PRIVATE": "1"}
    with receiver() as hook:
        added = runner.invoke(
            cli, ["webhooks", "add", hook.url, "--filter", "subject_type=workspace", *base], env=env
        )
        assert added.exit_code == 0, added.output
        secret = added.stdout.strip().splitlines()[-1]
        assert secret.startswith("whsec_")
        webhook = org.get("/api/v1/webhooks").json()["data"][0]
        assert webhook["filter"] == {"subject_type": ["workspace"]}
        listed = runner.invoke(cli, ["webhooks", "list", *base])
        assert listed.exit_code == 0 and f"{webhook['id']}" in listed.stdout
        assert "native" in listed.stdout and "active" in listed.stdout

        refused = runner.invoke(cli, ["webhooks", "add", "http://10.0.0.1/x", *base])
        assert refused.exit_code == 2 and "private network" in refused.output

        replayed = runner.invoke(
            cli,
            ["webhooks", "replay", str(webhook["id"]), "--since", "2000-01-01T00:00:00Z", *base],
        )
        assert replayed.exit_code == 0, replayed.output
        missing = runner.invoke(cli, ["webhooks", "deliveries", "999999", *base])
        assert missing.exit_code == 2 and "webhook 999999 does not exist" in missing.output
        shown = runner.invoke(cli, ["webhooks", "deliveries", str(webhook["id"]), *base])
        assert shown.exit_code == 0


def test_a_request_that_could_outlast_its_lease_is_not_sent(org: Org, store: Store) -> None:
    """Past its lease, a message may be another worker's: a request that could not be
    answered before the lease runs out is dropped unsent, and the message is left to be
    leased again."""
    from worktrail.delivery.client import DeliveryClient
    from worktrail.diff import now_micros
    from worktrail.worker import delivery_styles
    from worktrail.worker.deliver import Sender, prepare
    from worktrail.worker.dispatch import dispatch_once

    styles = delivery_styles()
    with receiver() as hook:
        created = subscribe(org, hook.url)
        org.create("workspaces", name="Late")
        now = now_micros()
        assert dispatch_once(store, now, styles) > 0
        lease = now + 5_000_000  # five seconds
        claimed = store.webhooks.claim(now, lease, 10, 10)
        assert {c.webhook_id for c in claimed} == {created["id"]}

        async def send_all(deadline: int, timeout: float) -> list[int]:
            client = DeliveryClient(timeout=timeout, allow_private=True)
            sender = Sender(client, (5,), 4)
            jobs, _ = prepare(store, claimed, styles, now, deadline)
            try:
                settled = [await sender.send(job) for job in jobs]
            finally:
                await client.close()
            return [len(s.outcomes) for s in settled]

        # a 10 s timeout cannot end within a 5 s lease: nothing goes out, nothing is settled
        assert set(asyncio.run(send_all(lease, 10.0))) == {0}
        assert hook.requests == []
        assert pending(org, created["id"]) == len(claimed)
        # a 2 s timeout can: the requests go out and their outcomes are settled
        assert set(asyncio.run(send_all(lease, 2.0))) == {1}
        assert len(hook.requests) == len(claimed)


def test_without_subscriptions_commits_cost_the_worker_no_statement(
    org: Org, store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker wakes on every commit; while no subscription is active it only looks, every
    POLL_SECONDS, whether one is: no dispatch read and no lease's write transaction per
    commit (on SQLite the lease took the one writer from the writes). A subscription made
    in its process opens the gate at once: the change right after it is delivered, long
    before the next look (POLL_SECONDS made a minute here)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from worktrail.worker import build_worker, loop

    monkeypatch.setattr(loop, "POLL_SECONDS", 60.0)

    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "webhook" in statement:
            statements.append(statement)

    async def commit_while_working(hook: Receiver) -> tuple[float, list[Received]]:
        worker = build_worker(store, make_settings(settings.database_url, webhooks_allow_private=1))
        running = asyncio.create_task(worker.run())
        await asyncio.sleep(0.3)  # its first round, and its first look
        event.listen(Engine, "before_cursor_execute", seen)
        try:
            started = time.monotonic()
            for n in range(40):
                await asyncio.to_thread(org.create, "workspaces", name=f"W{n}")
            elapsed = time.monotonic() - started
        finally:
            event.remove(Engine, "before_cursor_execute", seen)
        try:
            await asyncio.to_thread(subscribe, org, hook.url)
            await asyncio.to_thread(org.create, "workspaces", name="Delivered")
            got = await asyncio.to_thread(hook.wait_for, 1)
        finally:
            worker.stop()
            await asyncio.wait_for(running, 30)
        return elapsed, got

    with receiver() as hook:
        elapsed, got = asyncio.run(commit_while_working(hook))
    assert elapsed < 60 and len(statements) <= 1, statements  # the first look
    assert all("webhook_cursors.active" in s for s in statements), statements
    assert b'"Delivered"' in got[0].body
