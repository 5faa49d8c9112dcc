"""Asana's webhooks against real receivers on loopback: the official SDK makes, reads,
updates and deletes one on a live server; the handshake, deliveries signed with
X-Hook-Signature, filters, heartbeats, deletion after a day of failures (on a clock the
test moves), bad input in Asana's error shape, and who may do what."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asana  # type: ignore[import-untyped]
import orjson
import pytest
from asana.rest import ApiException  # type: ignore[import-untyped]
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.diff import now_micros
from worktrail.store import Store
from worktrail.testing.server import serve
from worktrail.worker import DeliveryWorker, delivery_styles
from worktrail.write import create_organization

from .conftest import Org, Tree, build_tree, make_settings, new_org
from .receiver import Received, Receiver, receiver
from .shapes import assert_error
from .test_asana_live import Native

HOUR = 3600 * 1_000_000
Reply = Callable[[Received], tuple[int, bytes, dict[str, str]]]


# -- receivers -----------------------------------------------------------------------------


def endpoint(status: int = 200, echo: str = "same", delay: float = 0.0) -> Reply:
    """A target that answers handshakes (echoing the secret: "same", "other" or "none")
    and deliveries with `status`."""

    def reply(request: Received) -> tuple[int, bytes, dict[str, str]]:
        secret = request.headers.get("x-hook-secret")
        if secret is None:
            return status, b"", {}
        time.sleep(delay)
        echoed = {"same": secret, "other": secret[::-1], "none": None}[echo]
        return 200, b"", {} if echoed is None else {"X-Hook-Secret": echoed}

    return reply


def handshake_secret(hook: Receiver) -> str:
    return hook.requests[0].headers["x-hook-secret"]


def deliveries(hook: Receiver) -> list[Received]:
    with hook.lock:
        return [r for r in hook.requests if "x-hook-secret" not in r.headers]


def wait_for_deliveries(hook: Receiver, count: int, timeout: float = 15.0) -> list[Received]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = deliveries(hook)
        if len(got) >= count:
            return got
        time.sleep(0.02)
    raise AssertionError(f"{len(deliveries(hook))} of {count} deliveries came in {timeout} s")


def signed_events(secret: str, request: Received) -> list[dict[str, Any]]:
    """The events of a delivery whose X-Hook-Signature checks out with `secret`."""
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-hook-signature"], expected)
    assert request.headers["content-type"] == "application/json"
    events: list[dict[str, Any]] = orjson.loads(request.body)["events"]
    return events


def sent_events(hook: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every event delivered so far, each delivery's signature checked."""
    return [e for r in deliveries(hook) for e in signed_events(secret, r)]


def shown(events: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [
        (e["action"], e["resource"]["resource_type"], (e.get("change") or {}).get("field"))
        for e in events
    ]


# -- an app and a worker on a clock the test moves -----------------------------------------


class Clock:
    """The wall clock, moved on by `offset` microseconds."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self) -> int:
        return now_micros() + self.offset


@pytest.fixture
def configured(settings: Settings) -> Settings:
    return make_settings(
        settings.database_url,
        webhooks_allow_private=1,
        webhook_retry_schedule="0,0,1,1",
        webhook_timeout_seconds=2,
    )


@pytest.fixture
def hooked(configured: Settings, store: Store) -> Iterator[Org]:
    """An organization on an app that lets webhooks target loopback (delivery is the
    `worker` fixture's)."""
    with TestClient(create_app(configured, store), raise_server_exceptions=False) as client:
        yield new_org(store, client, "Acme")


@pytest.fixture
def tree(hooked: Org) -> Tree:
    """workspace > project > task > subtask > comment in the `hooked` organization."""
    return build_tree(hooked)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def worker(configured: Settings, store: Store, clock: Clock) -> Iterator[DeliveryWorker]:
    """The delivery worker, on the test's clock, running in a thread of its own."""
    running = DeliveryWorker(store, configured, delivery_styles(), clock=clock)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(running.run(grace=2),))
    thread.start()
    try:
        yield running
    finally:
        loop.call_soon_threadsafe(running.stop)
        thread.join(timeout=30)
        loop.close()


def create(org: Org, resource: int, target: str, **data: Any) -> Any:
    body = {"data": {"resource": str(resource), "target": target, **data}}
    return org.post("/api/1.0/webhooks", json=body)


def made(org: Org, resource: int, target: str, **data: Any) -> dict[str, Any]:
    response = create(org, resource, target, **data)
    assert response.status_code == 201, response.text
    webhook: dict[str, Any] = response.json()["data"]
    return webhook


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("not in time")


# -- the official SDK on a live server -----------------------------------------------------


@contextmanager
def webhooks_api(base_url: str, token: str, page_limit: int = 100) -> Iterator[Any]:
    config = asana.Configuration()
    config.host = f"{base_url}/api/1.0"
    config.access_token = token
    config.page_limit = page_limit
    client = asana.ApiClient(config)
    try:
        yield asana.WebhooksApi(client)
    finally:
        client.rest_client.pool_manager.clear()


def test_the_official_sdk_manages_a_webhook(
    database_url: str, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = create_organization(store, "Acme", "Henry Gardner", "henry@acme.test")
    _, token = create_token(store, created.org_id, created.owner_id, "sdk")
    monkeypatch.setenv("WORKTRAIL_WEBHOOKS_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("WORKTRAIL_WEBHOOK_TIMEOUT_SECONDS", "2")
    with (
        receiver(reply=endpoint()) as hook,
        serve(database_url, tmp_path) as server,
        webhooks_api(server.base_url, token, page_limit=2) as api,
    ):
        native = Native(server.base_url, token)
        space = native.create("workspaces", name="Engineering")
        project = native.create("projects", name="Launch", workspace=space)
        filters = [{"resource_type": "task", "action": "added"}]
        body = {"data": {"resource": str(project), "target": hook.url, "filters": filters}}
        webhook = api.create_webhook(body, {})
        secret = handshake_secret(hook)
        assert webhook["resource"] == {
            "gid": str(project),
            "resource_type": "project",
            "name": "Launch",
        }
        assert webhook["target"] == hook.url and webhook["active"] is True
        assert webhook["filters"] == filters
        gid = webhook["gid"]

        # a heartbeat right away, then the task added to the project
        native.create("tasks", name="Draft plan", project=project)
        got = wait_for_deliveries(hook, 2)
        sent = [signed_events(secret, r) for r in got]
        assert [] in sent
        (added,) = [e for events in sent for e in events]
        assert added["action"] == "added" and added["resource"]["resource_type"] == "task"
        assert added["parent"] == {"gid": str(project), "resource_type": "project"}

        # the outcome is written just after the answer comes back
        wait_until(lambda: api.get_webhook(gid, {})["last_success_at"] is not None)
        others = [
            api.create_webhook({"data": {"resource": str(project), "target": hook.url}}, {})
            for _ in range(2)
        ]
        listed = list(api.get_webhooks(str(space), {"resource": str(project)}))
        assert [w["gid"] for w in listed] == [gid, *(w["gid"] for w in others)]

        changed = [{"resource_type": "story"}, {"action": "changed", "fields": ["name"]}]
        updated = api.update_webhook({"data": {"filters": changed}}, gid, {})
        assert updated["filters"] == changed and api.get_webhook(gid, {})["filters"] == changed

        assert api.delete_webhook(gid) == {}
        with pytest.raises(ApiException) as gone:
            api.get_webhook(gid, {})
        assert gone.value.status == 404
        assert [w["gid"] for w in api.get_webhooks(str(space), {})] == [w["gid"] for w in others]
        native.close()


# -- the handshake -------------------------------------------------------------------------


def test_the_handshake_sends_a_secret_that_the_answer_carries(hooked: Org, tree: Tree) -> None:
    with receiver(reply=endpoint()) as hook:
        response = create(hooked, tree.project, hook.url)
        (request,) = hook.requests
    assert response.status_code == 201, response.text
    secret = request.headers["x-hook-secret"]
    assert len(secret) >= 32 and response.json()["X-Hook-Secret"] == secret
    data = response.json()["data"]
    assert data["resource_type"] == "webhook" and data["target"] == hook.url
    assert data["filters"] == [] and data["delivery_retry_count"] == 0
    assert data["last_success_at"] is None and data["failure_deletion_timestamp"] is None


@pytest.mark.parametrize(
    ("reply", "mentions"),
    [
        (endpoint(echo="none"), "did not echo"),
        (endpoint(echo="other"), "different X-Hook-Secret"),
        (lambda _r: (500, b"no", {}), "HTTP 500"),
        (endpoint(delay=3), "no answer"),
    ],
    ids=["no-echo", "wrong-echo", "error", "too-slow"],
)
def test_a_failed_handshake_makes_no_webhook(
    hooked: Org, tree: Tree, reply: Reply, mentions: str
) -> None:
    with receiver(reply=reply) as hook:
        started = time.monotonic()
        response = create(hooked, tree.project, hook.url)
        assert len(hook.requests) == 1
    assert time.monotonic() - started < 4.5  # the handshake gives up after its timeout
    assert mentions in assert_error("asana", response, 400)
    listed = hooked.get("/api/1.0/webhooks", params={"workspace": str(tree.workspace)})
    assert listed.json()["data"] == []
    assert hooked.get("/api/v1/webhooks").json()["data"] == []


def test_a_target_that_does_not_answer_fails_the_handshake(hooked: Org, tree: Tree) -> None:
    with receiver() as hook:
        closed = hook.url
    message = assert_error("asana", create(hooked, tree.project, closed), 400)
    assert "handshake failed" in message


@pytest.mark.parametrize(
    "target", ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/"]
)
def test_targets_inside_the_network_are_403(org: Org, target: str) -> None:
    response = create(org, build_tree(org).project, target)
    assert "private network" in assert_error("asana", response, 403)


# -- deliveries ----------------------------------------------------------------------------


def test_deliveries_carry_asana_events_signed_with_the_secret(
    hooked: Org, tree: Tree, worker: DeliveryWorker
) -> None:
    with receiver(reply=endpoint()) as hook:
        webhook = made(hooked, tree.project, hook.url)
        secret = handshake_secret(hook)
        task = hooked.create("tasks", name="Ship it", project=tree.project)
        hooked.patch(f"/api/v1/tasks/{task['id']}", json={"name": "Ship it now"})
        hooked.create("comments", task=task["id"], text="Done?")
        wait_until(lambda: len(sent_events(hook, secret)) == 3)
        got = deliveries(hook)
    events = [e for r in got for e in signed_events(secret, r)]
    assert shown(events) == [
        ("added", "task", None),
        ("changed", "task", "name"),
        ("added", "story", None),
    ]
    added, renamed, story = events
    assert added["resource"] == {
        "gid": str(task["id"]),
        "resource_type": "task",
        "resource_subtype": "default_task",
    }
    assert added["user"] == {"gid": str(hooked.owner_id), "resource_type": "user"}
    assert added["parent"] == {"gid": str(tree.project), "resource_type": "project"}
    assert renamed["change"] == {"field": "name", "action": "changed", "new_value": "Ship it now"}
    assert story["parent"] == {
        "gid": str(task["id"]),
        "resource_type": "task",
        "resource_subtype": "default_task",
    }
    assert story["created_at"].endswith("Z")
    first = next(r for r in got if b"Ship" in r.body)
    tampered = Received(first.path, first.headers, first.body.replace(b"Ship", b"Sink"))
    with pytest.raises(AssertionError):
        signed_events(secret, tampered)
    state = hooked.get(f"/api/1.0/webhooks/{webhook['gid']}").json()["data"]
    assert state["last_success_at"] is not None and state["last_failure_at"] is None


def test_filters_choose_the_events(hooked: Org, tree: Tree, worker: DeliveryWorker) -> None:
    names = [{"resource_type": "task", "action": "changed", "fields": ["name"]}]
    with receiver(reply=endpoint()) as hook:
        webhook = made(hooked, tree.project, hook.url, filters=names)
        secret = handshake_secret(hook)
        hooked.patch(f"/api/v1/tasks/{tree.task}", json={"name": "Renamed", "notes": "n"})
        hooked.create("comments", task=tree.task, text="not sent")
        hooked.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "not sent"})
        hooked.patch(f"/api/v1/tasks/{tree.task}", json={"name": "Marker"})
        # once the marker is sent, everything before it has been chosen under these filters
        wait_until(lambda: "Marker" in str([r.body for r in deliveries(hook)]))
        stories = [{"resource_type": "story"}]
        put = hooked.client.put(
            f"/api/1.0/webhooks/{webhook['gid']}",
            json={"data": {"filters": stories}},
            headers=hooked.headers,
        )
        assert put.status_code == 200 and put.json()["data"]["filters"] == stories
        hooked.patch(f"/api/v1/tasks/{tree.task}", json={"name": "not sent"})
        hooked.create("comments", task=tree.task, text="sent")
        wait_until(lambda: len(sent_events(hook, secret)) == 3)
        time.sleep(0.5)  # nothing else follows
        events = sent_events(hook, secret)
    assert shown(events) == [
        ("changed", "task", "name"),
        ("changed", "task", "name"),
        ("added", "story", None),
    ]
    assert [e["change"]["new_value"] for e in events[:2]] == ["Renamed", "Marker"]


def test_a_workspace_webhook_gets_project_events(
    hooked: Org, tree: Tree, worker: DeliveryWorker
) -> None:
    with receiver(reply=endpoint()) as hook:
        made(hooked, tree.workspace, hook.url, filters=[{"resource_type": "project"}])
        secret = handshake_secret(hook)
        hooked.create("tasks", name="not sent", project=tree.project)
        project = hooked.create("projects", name="Docs", workspace=tree.workspace)
        wait_until(lambda: len(sent_events(hook, secret)) == 1)
        time.sleep(0.3)
        (event,) = sent_events(hook, secret)
    assert event["resource"]["gid"] == str(project["id"]) and event["action"] == "added"


def test_heartbeats_come_at_creation_and_every_eight_hours(
    hooked: Org, tree: Tree, worker: DeliveryWorker, clock: Clock
) -> None:
    with receiver(reply=endpoint()) as hook:
        made(hooked, tree.project, hook.url)
        secret = handshake_secret(hook)
        wait_for_deliveries(hook, 1)
        clock.offset = 7 * HOUR
        time.sleep(2.5)  # the worker looks for due heartbeats every 2 s
        assert len(deliveries(hook)) == 1
        clock.offset = 8 * HOUR + 5_000_000
        got = wait_for_deliveries(hook, 2)
    assert [signed_events(secret, r) for r in got] == [[], []]


def test_a_day_of_failures_deletes_the_webhook(
    hooked: Org, tree: Tree, worker: DeliveryWorker, clock: Clock
) -> None:
    with receiver(reply=endpoint(status=503)) as hook:
        webhook = made(hooked, tree.project, hook.url)
        gid = webhook["gid"]
        hooked.create("tasks", name="Stuck", project=tree.project)
        wait_for_deliveries(hook, 4)

        def failing_webhook() -> dict[str, Any]:
            return dict(hooked.get(f"/api/1.0/webhooks/{gid}").json()["data"])

        # the fourth attempt is recorded once its answer is back, after the receiver saw it
        wait_until(lambda: failing_webhook()["delivery_retry_count"] >= 3)
        failing = failing_webhook()
        assert failing["active"] is True
        assert failing["last_success_at"] is None and failing["last_failure_at"] is not None
        assert failing["last_failure_content"] == "HTTP 503"
        assert failing["failure_deletion_timestamp"] is not None
        clock.offset = 23 * HOUR
        wait_for_deliveries(hook, len(deliveries(hook)) + 2)
        assert hooked.get(f"/api/1.0/webhooks/{gid}").status_code == 200
        clock.offset = 24 * HOUR + 5_000_000
        wait_until(lambda: hooked.get(f"/api/1.0/webhooks/{gid}").status_code == 404)
        count = len(deliveries(hook))
        time.sleep(1.5)
        assert len(deliveries(hook)) == count  # nothing more is sent
    history = hooked.get("/api/v1/events", params={"scope": f"webhook:{gid}"}).json()["data"]
    assert history[0]["action"] == "deleted" and history[0]["context"]["source"] == "system"
    assert "24 hours" in history[0]["after"]["disabled_reason"]


def test_a_delivery_that_gets_through_resets_the_day(
    hooked: Org, tree: Tree, worker: DeliveryWorker, clock: Clock
) -> None:
    statuses = [503, 503, 503]  # then 200s, until the test adds more failures

    def reply(request: Received) -> tuple[int, bytes, dict[str, str]]:
        if "x-hook-secret" in request.headers:
            return endpoint()(request)
        return (statuses.pop(0) if statuses else 200), b"", {}

    with receiver(reply=reply) as hook:
        gid = made(hooked, tree.project, hook.url)["gid"]
        hooked.create("tasks", name="Late", project=tree.project)
        wait_until(lambda: state(hooked, gid)["last_success_at"] is not None)
        assert state(hooked, gid)["delivery_retry_count"] == 0
        # a day after the first failure, a new one starts a new day: nothing is deleted
        statuses.append(503)
        clock.offset = 25 * HOUR
        hooked.create("tasks", name="Later", project=tree.project)
        wait_until(lambda: not statuses and len(deliveries(hook)) >= 6)
        wait_until(lambda: state(hooked, gid)["delivery_retry_count"] == 0)
    assert state(hooked, gid)["failure_deletion_timestamp"] is None


def state(org: Org, gid: str) -> dict[str, Any]:
    response = org.get(f"/api/1.0/webhooks/{gid}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


# -- reading and paging --------------------------------------------------------------------


def test_webhooks_are_listed_per_workspace_a_page_at_a_time(hooked: Org, tree: Tree) -> None:
    other = hooked.create("workspaces", name="Ops")
    ops_project = hooked.create("projects", name="Runbooks", workspace=other["id"])
    with receiver(reply=endpoint()) as hook:
        ours = [made(hooked, r, hook.url)["gid"] for r in (tree.project, tree.task, tree.subtask)]
        theirs = made(hooked, ops_project["id"], hook.url)["gid"]
    params = {"workspace": str(tree.workspace), "limit": "2"}
    first = hooked.get("/api/1.0/webhooks", params=params).json()
    assert [w["gid"] for w in first["data"]] == ours[:2]
    offset = first["next_page"]["offset"]
    assert first["next_page"]["path"].startswith("/webhooks?")
    second = hooked.get("/api/1.0/webhooks", params={**params, "offset": offset}).json()
    assert [w["gid"] for w in second["data"]] == ours[2:] and second["next_page"] is None
    ops = hooked.get("/api/1.0/webhooks", params={"workspace": str(other["id"])}).json()
    assert [w["gid"] for w in ops["data"]] == [theirs]
    one = hooked.get(
        "/api/1.0/webhooks",
        params={"workspace": str(tree.workspace), "resource": str(tree.task)},
    ).json()
    assert [w["gid"] for w in one["data"]] == [ours[1]]
    picked = hooked.get(f"/api/1.0/webhooks/{ours[0]}", params={"opt_fields": "target"})
    assert picked.json()["data"] == {
        "gid": ours[0],
        "resource_type": "webhook",
        "target": hook.url,
    }


# -- bad input -----------------------------------------------------------------------------


BAD_WEBHOOKS: list[tuple[dict[str, Any], str]] = [
    ({}, "data: Missing input"),
    ({"data": []}, "data: Must be an object"),
    ({"data": {"target": "https://example.com/"}}, "resource: Missing input"),
    ({"data": {"resource": "{project}"}}, "target: Missing input"),
    ({"data": {"resource": "x1", "target": "https://example.com/"}}, "Not a valid gid"),
    ({"data": {"resource": 5, "target": "https://example.com/"}}, "Not a valid gid"),
    ({"data": {"resource": "{comment}", "target": "https://example.com/"}}, "webhooks watch"),
    ({"data": {"resource": "{project}", "target": "ftp://example.com/"}}, "target"),
    ({"data": {"resource": "{project}", "target": 7}}, "target: Not a URL"),
    ({"data": {"resource": "{project}", "target": "https://e.com/", "x": 1}}, "x: Unknown"),
    ({"data": {"resource": "{project}", "target": "https://e.com/"}, "y": 1}, "y: Unknown"),
    ({"data": {"resource": "{project}", "target": "https://e.com/", "filters": {}}}, "list"),
    (
        {"data": {"resource": "{project}", "target": "https://e.com/", "filters": [{}]}},
        "empty filter",
    ),
    (
        {
            "data": {
                "resource": "{project}",
                "target": "https://e.com/",
                "filters": [{"colour": "red"}],
            }
        },
        "filters[0].colour: Unknown",
    ),
    (
        {
            "data": {
                "resource": "{project}",
                "target": "https://e.com/",
                "filters": [{"action": "added", "fields": ["name"]}],
            }
        },
        '"action": "changed"',
    ),
    (
        {
            "data": {
                "resource": "{project}",
                "target": "https://e.com/",
                "filters": [{"resource_type": "galaxy"}],
            }
        },
        "not one of",
    ),
    (
        {"data": {"resource": "{workspace}", "target": "https://e.com/"}},
        "must have filters",
    ),
    (
        {
            "data": {
                "resource": "{workspace}",
                "target": "https://e.com/",
                "filters": [{"resource_type": "task"}],
            }
        },
        "not one of",
    ),
    (
        {
            "data": {
                "resource": "{workspace}",
                "target": "https://e.com/",
                "filters": [{"action": "changed", "fields": ["name"]}],
            }
        },
        "cannot filter on fields",
    ),
]


def test_bad_webhooks_are_asana_400s(hooked: Org, tree: Tree) -> None:
    gids = {"{project}": tree.project, "{comment}": tree.comment, "{workspace}": tree.workspace}
    for body, mentions in BAD_WEBHOOKS:
        text = orjson.dumps(body).decode()
        for placeholder, gid in gids.items():
            text = text.replace(placeholder, str(gid))
        response = hooked.post(
            "/api/1.0/webhooks", content=text, headers={"Content-Type": "application/json"}
        )
        assert mentions in assert_error("asana", response, 400), body
    assert hooked.get("/api/v1/webhooks").json()["data"] == []


BAD_REQUESTS: list[tuple[str, str, bytes | None, int, str]] = [
    ("POST", "/api/1.0/webhooks", b"{not json", 400, "data"),
    ("POST", "/api/1.0/webhooks", b"[1]", 400, "data"),
    ("GET", "/api/1.0/webhooks", None, 400, "workspace: Missing input"),
    ("GET", "/api/1.0/webhooks?workspace=abc", None, 400, "Not a valid gid"),
    ("GET", "/api/1.0/webhooks?workspace=99999999", None, 404, "Unknown object"),
    ("GET", "/api/1.0/webhooks?workspace={ws}&limit=0", None, 400, "limit"),
    ("GET", "/api/1.0/webhooks?workspace={ws}&limit=101", None, 400, "limit"),
    ("GET", "/api/1.0/webhooks?workspace={ws}&offset=x", None, 400, "offset"),
    ("GET", "/api/1.0/webhooks?workspace={project}", None, 400, "not a workspace"),
    ("GET", "/api/1.0/webhooks/abc", None, 400, "Not a valid gid"),
    ("GET", "/api/1.0/webhooks/99999999", None, 404, "Unknown object"),
    ("GET", "/api/1.0/webhooks/99999999999999999999999", None, 400, "Not a valid gid"),
    ("PUT", "/api/1.0/webhooks/99999999", b'{"data": {"filters": []}}', 404, "Unknown"),
    ("PUT", "/api/1.0/webhooks/{hook}", b'{"data": {}}', 400, "filters: Missing input"),
    ("PUT", "/api/1.0/webhooks/{hook}", b'{"data": {"filters": [1]}}', 400, "object"),
    ("PUT", "/api/1.0/webhooks/{hook}", b'{"data": {"target": "x"}}', 400, "Unknown"),
    ("DELETE", "/api/1.0/webhooks/99999999", None, 404, "Unknown object"),
    ("GET", "/api/1.0/webhooks/{native}", None, 404, "Unknown object"),
]


def test_bad_requests_are_answered_in_asana_shape(hooked: Org, tree: Tree) -> None:
    with receiver(reply=endpoint()) as hook:
        webhook = made(hooked, tree.project, hook.url)
    native = hooked.post("/api/v1/webhooks", json={"url": "http://93.184.215.14/x"})
    names = {
        "ws": tree.workspace,
        "project": tree.project,
        "hook": webhook["gid"],
        "native": native.json()["data"]["id"],
    }
    headers = {**hooked.headers, "Content-Type": "application/json"}
    for method, path, body, status, mentions in BAD_REQUESTS:
        response = hooked.client.request(
            method, path.format(**names), content=body, headers=headers
        )
        assert mentions in assert_error("asana", response, status), (method, path)
    assert state(hooked, webhook["gid"])["filters"] == []


# -- who may do what -----------------------------------------------------------------------


def test_only_owners_and_admins_manage_webhooks(hooked: Org, tree: Tree) -> None:
    with receiver(reply=endpoint()) as hook:
        webhook = made(hooked, tree.project, hook.url)
        _, member = hooked.user("Mia Member")
        headers = {"Authorization": f"Bearer {member}"}
        gid = webhook["gid"]
        client = hooked.client
        body = {"data": {"resource": str(tree.project), "target": hook.url}}
        attempts = [
            client.post("/api/1.0/webhooks", json=body, headers=headers),
            client.get(f"/api/1.0/webhooks?workspace={tree.workspace}", headers=headers),
            client.get(f"/api/1.0/webhooks/{gid}", headers=headers),
            client.put(f"/api/1.0/webhooks/{gid}", json={"data": {"filters": []}}, headers=headers),
            client.delete(f"/api/1.0/webhooks/{gid}", headers=headers),
        ]
        for response in attempts:
            assert_error("asana", response, 403)
        assert len(hook.requests) == 1  # no handshake for the member
        _, admin = hooked.user("Ada Admin", "admin")
        response = client.post(
            "/api/1.0/webhooks", json=body, headers={"Authorization": f"Bearer {admin}"}
        )
        assert response.status_code == 201, response.text
    assert hooked.get(f"/api/1.0/webhooks/{gid}").status_code == 200


def test_nothing_crosses_organizations(hooked: Org, tree: Tree) -> None:
    other = new_org(hooked.store, hooked.client, "Globex")
    theirs = build_tree(other)
    with receiver(reply=endpoint()) as hook:
        gid = made(hooked, tree.project, hook.url)["gid"]
        response = create(other, tree.project, hook.url)
        assert "Unknown object" in assert_error("asana", response, 404)
        assert len(hook.requests) == 1
    for response in (
        other.get(f"/api/1.0/webhooks/{gid}"),
        other.client.put(
            f"/api/1.0/webhooks/{gid}",
            json={"data": {"filters": []}},
            headers=other.headers,
        ),
        other.delete(f"/api/1.0/webhooks/{gid}"),
        other.get("/api/1.0/webhooks", params={"workspace": str(tree.workspace)}),
    ):
        assert_error("asana", response, 404)
    listed = other.get("/api/1.0/webhooks", params={"workspace": str(theirs.workspace)})
    assert listed.json()["data"] == []
    assert hooked.get(f"/api/1.0/webhooks/{gid}").status_code == 200
