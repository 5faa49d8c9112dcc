"""Native webhooks against a real receiver on loopback: every delivery verified with the
`standardwebhooks` library (or Ed25519 for v1a), retries with the same webhook-id until
the receiver recovers, pause and resume without a gap, 410 disabling, rotation, replay,
filters, the delivery log, and who may do what."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from worktrail.app import create_app
from worktrail.config import Settings
from worktrail.store import Store

from .conftest import Org, build_tree, make_settings, new_org
from .receiver import Received, receiver
from .shapes import assert_error


@pytest.fixture
def live(settings: Settings, store: Store) -> Iterator[Org]:
    """An organization on an app whose worker delivers, to loopback, retrying within a
    second or so."""
    configured = make_settings(
        settings.database_url,
        webhook_worker=1,
        webhooks_allow_private=1,
        webhook_retry_schedule="0,0,1,1",
        webhook_timeout_seconds=3,
    )
    with TestClient(create_app(configured, store), raise_server_exceptions=False) as client:
        yield new_org(store, client, "Acme")


def subscribe(org: Org, url: str, **extra: Any) -> dict[str, Any]:
    response = org.post("/api/v1/webhooks", json={"url": url, **extra})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def verified(secret: str, request: Received) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return payload


def test_each_event_is_posted_as_the_api_renders_it_and_verifies(live: Org) -> None:
    with receiver() as hook:
        created = subscribe(live, hook.url, description="audit sink")
        assert created["secret"].startswith("whsec_") and created["status"] == "active"
        workspace = live.create("workspaces", name="Eng")
        project = live.create("projects", name="Launch", workspace=workspace["id"])
        got = hook.wait_for(2)
    events = live.get("/api/v1/events", params={"order": "oldest", "limit": 100}).json()["data"]
    mine = [e for e in events if e["subject"]["type"] in ("workspace", "project")]
    for request, event in zip(got, mine, strict=True):
        assert verified(created["secret"], request) == event
        assert request.headers["webhook-id"] == f"msg_{created['id']}_{event['id']}"
        assert request.headers["content-type"] == "application/json"
    assert project["id"] == mine[1]["subject"]["id"]


def test_a_receiver_that_is_down_gets_everything_once_it_recovers(live: Org) -> None:
    with receiver(answers=[(503, b"down")] * 4 + [(500, b"oops")] * 2) as hook:
        created = subscribe(live, hook.url)
        live.create("workspaces", name="Eng")
        live.create("workspaces", name="Ops")
        got = hook.wait_for(8, timeout=30)
        ids = [r.headers["webhook-id"] for r in got]
    assert len(set(ids)) == 2  # two events, each tried until it went through
    delivered = {r.headers["webhook-id"] for r in got[-2:]}
    assert delivered == set(ids)
    for request in got:
        verified(created["secret"], request)
    log = live.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()["data"]
    failed = sorted(a["status_code"] for a in log if a["status_code"] != 200)
    assert failed == [500, 500, 503, 503, 503, 503]
    assert {a["webhook_id"] for a in log} == set(ids)
    assert any(a["status_code"] == 200 for a in log)
    state = live.get(f"/api/v1/webhooks/{created['id']}").json()["data"]
    assert state["status"] == "active" and state["delivery"]["consecutive_failures"] == 0


def test_410_disables_the_subscription_and_that_is_history(live: Org) -> None:
    with receiver(otherwise=(410, b"gone")) as hook:
        created = subscribe(live, hook.url)
        live.create("workspaces", name="Eng")
        hook.wait_for(1)
    webhook = _wait_status(live, created["id"], "disabled")
    assert "410" in webhook["disabled_reason"]
    history = live.get("/api/v1/events", params={"scope": f"webhook:{created['id']}"}).json()
    changes = history["data"][0]
    assert changes["actor"] is None and changes["context"]["source"] == "system"
    assert {"field": "status", "old": "active", "new": "disabled"} in changes["changes"]


def _wait_status(org: Org, webhook_id: int, status: str) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        data: dict[str, Any] = org.get(f"/api/v1/webhooks/{webhook_id}").json()["data"]
        if data["status"] == status:
            return data
        time.sleep(0.05)
    raise AssertionError(f"webhook {webhook_id} never became {status}")


def test_pause_and_resume_skip_nothing(live: Org) -> None:
    with receiver() as hook:
        created = subscribe(live, hook.url)
        paused = live.patch(f"/api/v1/webhooks/{created['id']}", json={"status": "paused"})
        assert paused.status_code == 200 and paused.json()["data"]["status"] == "paused"
        for name in ("A", "B", "C"):
            live.create("workspaces", name=name)
        import time

        time.sleep(1.0)
        assert hook.requests == []
        live.patch(f"/api/v1/webhooks/{created['id']}", json={"status": "active"})
        got = hook.wait_for(5)
    delivered = sorted((verified(created["secret"], r) for r in got), key=lambda e: e["seq"])
    # the subscription's own changes are events in the feed like any other
    assert [e["subject"]["type"] for e in delivered] == ["webhook"] + ["workspace"] * 3 + [
        "webhook"
    ]
    assert [e["after"]["name"] for e in delivered[1:4]] == ["A", "B", "C"]


def test_a_rotated_secret_signs_beside_the_old_one(live: Org) -> None:
    with receiver() as hook:
        created = subscribe(live, hook.url)
        rotated = live.post(f"/api/v1/webhooks/{created['id']}/rotate-secret").json()["data"]
        assert rotated["secret"] != created["secret"]
        live.create("workspaces", name="Eng")
        (request,) = hook.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verified(created["secret"], request) == verified(rotated["secret"], request)


def test_ed25519_signatures_verify_with_the_public_key(live: Org) -> None:
    with receiver() as hook:
        created = subscribe(live, hook.url, signing="ed25519")
        assert "secret" not in created and created["public_key"].startswith("whpk_")
        live.create("workspaces", name="Eng")
        (request,) = hook.wait_for(1)
    version, signature = request.headers["webhook-signature"].split(",", 1)
    assert version == "v1a"
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(created["public_key"][5:]))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}."
    key.verify(base64.b64decode(signature), signed.encode() + request.body)


def test_filters_choose_the_events(live: Org) -> None:
    tree = build_tree(live)
    with receiver() as hook:
        subscribe(live, hook.url, filter={"scope": f"project:{tree.project}", "action": "closed"})
        live.post(f"/api/v1/tasks/{tree.task}/close")
        live.create("workspaces", name="Elsewhere")
        live.patch(f"/api/v1/tasks/{tree.subtask}", json={"notes": "not a close"})
        (request,) = hook.wait_for(1)
        import time

        time.sleep(0.7)
        assert len(hook.requests) == 1
    event = orjson.loads(request.body)
    assert event["action"] == "closed" and event["subject"]["id"] == tree.task


def test_replay_delivers_again_with_the_same_ids(live: Org) -> None:
    with receiver() as hook:
        created = subscribe(live, hook.url)
        live.create("workspaces", name="A")
        live.create("workspaces", name="B")
        first = hook.wait_for(2)
        history = live.get("/api/v1/events", params={"limit": 100, "order": "oldest"}).json()
        replay = live.post(
            f"/api/v1/webhooks/{created['id']}/replay",
            json={"since": history["data"][0]["recorded_at"]},
        )
        assert replay.status_code == 202, replay.text
        again = hook.wait_for(2 + len(history["data"]))[2:]
    ids = {r.headers["webhook-id"] for r in again}
    assert ids == {f"msg_{created['id']}_{e['id']}" for e in history["data"]}
    assert ids >= {r.headers["webhook-id"] for r in first}


def test_a_ping_says_what_the_endpoint_answered(live: Org) -> None:
    with receiver(otherwise=(204, b"")) as hook:
        created = subscribe(live, hook.url)
        result = live.post(f"/api/v1/webhooks/{created['id']}/test").json()
        (request,) = hook.wait_for(1)
    assert result == {
        "delivered": True,
        "status_code": 204,
        "latency_ms": result["latency_ms"],
        "error": None,
    }
    assert verified(created["secret"], request)["type"] == "ping"
    log = live.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()["data"]
    assert log[0]["status_code"] == 204 and log[0]["event_id"] is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://localhost/hook",
        "http://192.168.1.1/",
    ],
)
def test_targets_inside_the_network_are_refused(org: Org, url: str) -> None:
    response = org.post("/api/v1/webhooks", json={"url": url})
    assert "private network" in assert_error("native", response, 422)
    assert org.get("/api/v1/webhooks").json()["data"] == []


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"url": "ftp://example.com/x"}, "http"),
        ({"url": "https://user:pw@example.com/"}, "credentials"),
        ({"url": "https://example.com/", "filter": {"scope": "nothing:1"}}, "scope"),
        ({"url": "https://example.com/", "filter": {"colour": "red"}}, "filter key"),
        ({"url": "https://example.com/", "filter": {"scope": "project:999"}}, "names nothing"),
        ({"url": "https://example.com/", "signing": "rsa"}, "signing"),
        ({"description": "no url"}, "url"),
    ],
)
def test_bad_subscriptions_are_422(org: Org, body: dict[str, Any], mentions: str) -> None:
    assert mentions in assert_error("native", org.post("/api/v1/webhooks", json=body), 422)


def test_only_owners_and_admins_manage_webhooks(org: Org, other_org: Org) -> None:
    _, member = org.user("Mia Member")
    _, guest = org.user("Gus Guest", "guest")
    for token in (member, guest):
        headers = {"Authorization": f"Bearer {token}"}
        response = org.client.post(
            "/api/v1/webhooks", json={"url": "https://example.com/"}, headers=headers
        )
        assert_error("native", response, 403)
        assert_error("native", org.client.get("/api/v1/webhooks", headers=headers), 403)
    _, admin = org.user("Ada Admin", "admin")
    response = org.client.post(
        "/api/v1/webhooks",
        json={"url": "http://93.184.215.14/hook"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert response.status_code == 201, response.text
    webhook_id = response.json()["data"]["id"]
    assert_error("native", other_org.get(f"/api/v1/webhooks/{webhook_id}"), 404)
    assert other_org.get("/api/v1/webhooks").json()["data"] == []
