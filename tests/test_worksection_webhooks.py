"""Worksection webhooks: the admin actions add_webhook, get_webhooks and delete_webhook,
signed with the admin API key like every admin call, and deliveries in Worksection's shape
(JSON arrays of get_events records, Basic auth) to a real receiver on loopback — chosen
events and projects only, failures retried, the 10th failure in a row pausing the webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus, urlencode

import orjson
import pytest
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.config import Settings
from worktrail.delivery.client import Answer
from worktrail.dialects.worksection.hooks_style import WorksectionStyle
from worktrail.model import Cursor
from worktrail.store import Store

from .conftest import Org, make_settings, new_org
from .receiver import Received, Receiver, receiver

OK = b'{"status":"OK"}'
URL_MESSAGE = "Url should respond 200 HTTP_CODE and JSON {status:OK}"


# -- helpers -------------------------------------------------------------------------------


def admin_key(org: Org) -> str:
    key: str = org.get("/api/v1/organization/admin-api-key").json()["admin_api_key"]
    return key


def call(org: Org, action: str, key: str | None = None, **params: Any) -> Any:
    """An admin action, signed as Worksection's Postman collection signs it (md5 over the
    query string followed by the key), POSTed with every parameter in the query string."""
    query = urlencode({"action": action, **params})
    signature = hashlib.md5((query + (key or admin_key(org))).encode()).hexdigest()
    response = org.client.post(f"/api/admin/v2/?{query}&hash={signature}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def error(body: Any, code: int, message: str | None = None, details: str | None = None) -> None:
    assert body["status"] == "error" and body["status_code"] == code, body
    if message is not None:
        assert body["message"] == message, body
    if details is not None:
        assert body["message_details"] == details, body


def add(org: Org, url: str, events: str, **extra: Any) -> int:
    body = call(org, "add_webhook", url=url, events=events, **extra)
    assert body["status"] == "ok" and isinstance(body["id"], int), body
    webhook_id: int = body["id"]
    return webhook_id


def listed(org: Org) -> list[dict[str, Any]]:
    body = call(org, "get_webhooks")
    assert body["status"] == "ok", body
    data: list[dict[str, Any]] = body["data"]
    return data


def native_webhooks(org: Org) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = org.get(
        "/api/v1/webhooks", params={"include_deleted": "true"}
    ).json()["data"]
    return data


def deliveries(hook: Receiver) -> list[Received]:
    """What the receiver got besides add_webhook's check (an empty array)."""
    with hook.lock:
        return [r for r in hook.requests if r.body != b"[]"]


def delivered(hook: Receiver, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Every event delivered, once at least `count` have come (and a moment for strays)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [e for r in deliveries(hook) for e in orjson.loads(r.body)]
        if len(got) >= count:
            time.sleep(0.5)
            return [e for r in deliveries(hook) for e in orjson.loads(r.body)]
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} events were delivered in {timeout} s")


def quiet_count(hook: Receiver, quiet: float = 0.5) -> int:
    """How many requests the receiver got, once none has come for `quiet` seconds."""
    count = len(hook.requests)
    while True:
        time.sleep(quiet)
        if len(hook.requests) == count:
            return len(deliveries(hook))
        count = len(hook.requests)


def _events_in(requests: list[Received]) -> list[dict[str, Any]]:
    return [e for r in requests for e in orjson.loads(r.body)]


def wait_for_status(org: Org, webhook_id: int, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [w for w in listed(org) if w["id"] == str(webhook_id)]
        if found and found[0]["status"] == status:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"webhook {webhook_id} never became {status}")


def canonical(records: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records)


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def loopback(settings: Settings, store: Store) -> Iterator[Org]:
    """An organization on an app that may send to loopback, without a delivery worker;
    endpoints have a second to answer (Worksection's five, shortened by the setting)."""
    configured = make_settings(
        settings.database_url, webhooks_allow_private=1, webhook_timeout_seconds=1
    )
    with TestClient(create_app(configured, store), raise_server_exceptions=False) as client:
        yield new_org(store, client, "Acme")


@pytest.fixture
def live(settings: Settings, store: Store) -> Iterator[Org]:
    """An organization on an app whose worker delivers to loopback, retrying at once."""
    configured = make_settings(
        settings.database_url,
        webhook_worker=1,
        webhooks_allow_private=1,
        webhook_retry_schedule="0,0,0,0,0,0,0,0,0,0,0,0",
        webhook_timeout_seconds=3,
    )
    with TestClient(create_app(configured, store), raise_server_exceptions=False) as client:
        yield new_org(store, client, "Acme")


def project_in(org: Org, name: str = "Launch") -> int:
    workspace = org.create("workspaces", name=f"{name} team", members=[org.owner_id])
    project_id: int = org.create("projects", name=name, workspace=workspace["id"])["id"]
    return project_id


# -- add, list, delete -----------------------------------------------------------------------


def test_add_list_and_delete_a_webhook(loopback: Org) -> None:
    org = loopback
    project = project_in(org)
    with receiver(otherwise=(200, OK)) as hook:
        webhook_id = add(org, hook.url, "close_task,post_task", projects=str(project))
    [check] = hook.requests  # the URL was asked once: an empty delivery, unauthenticated
    assert check.body == b"[]" and check.headers["content-type"] == "application/json"
    assert "authorization" not in check.headers
    assert listed(org) == [
        {
            "id": str(webhook_id),
            "url": hook.url,
            "events": "post_task,close_task",
            "status": "active",
            "projects": str(project),
        }
    ]
    # It is a worktrail subscription of kind worksection, created by the owner.
    [native] = native_webhooks(org)
    assert native["kind"] == "worksection" and native["status"] == "active"
    assert native["options"] == {"events": ["post_task", "close_task"], "projects": [project]}
    history = org.get("/api/v1/events", params={"scope": f"webhook:{webhook_id}"}).json()
    assert [e["action"] for e in history["data"]] == ["created"]
    assert history["data"][0]["actor"]["id"] == org.owner_id

    assert call(org, "delete_webhook", id=str(webhook_id)) == {"status": "ok"}
    assert listed(org) == []
    assert native_webhooks(org)[0]["status"] == "deleted"
    error(call(org, "delete_webhook", id=str(webhook_id)), 10, "WebHook not found")


# -- every way the admin API is signed ----------------------------------------------------


def _md5_as_sent(org: Org, action: str, params: dict[str, str]) -> Any:
    query = urlencode({"action": action, **params})  # percent-encoded: ':' and '/' of a URL
    signature = hashlib.md5((query + admin_key(org)).encode()).hexdigest()
    return org.client.post(f"/api/admin/v2/?{query}&hash={signature}")


def _md5_decoded(org: Org, action: str, params: dict[str, str]) -> Any:
    query = urlencode({"action": action, **params})
    signature = hashlib.md5((unquote_plus(query) + admin_key(org)).encode()).hexdigest()
    return org.client.get(f"/api/admin/v2?{query}&hash={signature}")


def _form_body(org: Org, action: str, params: dict[str, str]) -> Any:
    body = urlencode({"action": action, **params})
    signature = hashlib.md5((body + admin_key(org)).encode()).hexdigest()
    return org.client.post(
        f"/api/admin/v2/?hash={signature}",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def _v21_hash(org: Org, action: str, params: dict[str, str]) -> Any:
    stamp = str(int(time.time()))
    signature = hmac.new(
        admin_key(org).encode(), f"{action}:{stamp}".encode(), hashlib.sha256
    ).hexdigest()
    query = urlencode({"action": action, **params, "time": stamp, "hash": signature})
    return org.client.post(f"/api/admin/v2.1?{query}")


def _sdk_header(org: Org, action: str, params: dict[str, str]) -> Any:
    """As the official Python SDK: action in the query, the rest a JSON body, an Admin
    header with the HMAC over action and time."""
    stamp = str(int(time.time()))
    signature = hmac.new(
        admin_key(org).encode(), f"{action}:{stamp}".encode(), hashlib.sha256
    ).hexdigest()
    return org.client.post(
        f"/api/admin/v2?action={action}",
        json=params,
        headers={"Authorization": f"Admin {stamp}_{signature}"},
    )


Signer = Callable[[Org, str, dict[str, str]], Any]
SIGNERS: dict[str, Signer] = {
    "md5 as sent": _md5_as_sent,
    "md5 percent-decoded": _md5_decoded,
    "md5 over a form body": _form_body,
    "v2.1 hash and time": _v21_hash,
    "SDK Admin header": _sdk_header,
}


def test_every_signing_variant_adds_lists_and_deletes(loopback: Org) -> None:
    for name, signer in SIGNERS.items():

        def signed(action: str, sign: Signer = signer, **params: str) -> Any:
            response = sign(loopback, action, params)
            assert response.status_code == 200, response.text
            return response.json()

        with receiver(otherwise=(200, OK)) as hook:
            added = signed("add_webhook", url=hook.url, events="post_task,close_task")
            assert added["status"] == "ok", (name, added)
            assert len(hook.requests) == 1, name
        shown = {"id": str(added["id"]), "url": hook.url, "events": "post_task,close_task"}
        assert signed("get_webhooks")["data"] == [{**shown, "status": "active"}], name
        assert signed("delete_webhook", id=str(added["id"])) == {"status": "ok"}, name
        assert signed("get_webhooks") == {"status": "ok", "data": []}, name
        error(signed("delete_webhook", id=str(added["id"])), 10, "WebHook not found")


def test_several_projects_credentials_and_a_json_body(loopback: Org) -> None:
    org = loopback
    first, second = project_in(org, "One"), project_in(org, "Two")
    key = admin_key(org)
    with receiver(otherwise=(200, b'{"status": "OK", "note": "fine"}')) as hook:
        body = {
            "url": hook.url,
            "events": ["update_task", "reopen_task"],
            "projects": f"{first},{second}",
            "http_user": "hook",
            "http_pass": "s3cret",
        }
        signed = "action=add_webhook&" + "&".join(
            f"{k}={v if isinstance(v, str) else orjson.dumps(v).decode()}" for k, v in body.items()
        )
        signature = hashlib.md5((signed + key).encode()).hexdigest()
        response = org.client.post(
            f"/api/admin/v2/?action=add_webhook&hash={signature}", json=body
        ).json()
    assert response["status"] == "ok", response
    token = base64.b64encode(b"hook:s3cret").decode()
    assert hook.requests[0].headers["authorization"] == f"Basic {token}"
    [shown] = listed(org)
    assert shown["events"] == "update_task,reopen_task"
    assert shown["projects"] == f"{first},{second}"
    # the user is shown with the subscription, the password nowhere
    [native] = native_webhooks(org)
    assert native["options"]["http_user"] == "hook"
    assert "s3cret" not in orjson.dumps(native).decode()
    history = org.get("/api/v1/events", params={"scope": f"webhook:{response['id']}"})
    assert "s3cret" not in history.text


def test_a_url_that_does_not_answer_ok_is_refused_and_nothing_is_written(
    loopback: Org,
) -> None:
    before = loopback.get("/api/v1/events", params={"limit": 1}).json()["data"]
    wrong = [(500, OK), (200, b"ok"), (200, b'{"status":"error"}'), (200, b"[]"), (301, OK)]
    with receiver(answers=list(wrong)) as hook:
        for _ in wrong:
            body = call(loopback, "add_webhook", url=hook.url, events="post_task")
            error(body, 11, URL_MESSAGE, hook.url)
        assert len(hook.requests) == len(wrong)
    assert listed(loopback) == [] and native_webhooks(loopback) == []
    assert loopback.get("/api/v1/events", params={"limit": 1}).json()["data"] == before


def test_a_url_that_answers_too_slowly_is_refused(loopback: Org) -> None:
    def slow(request: Received) -> tuple[int, bytes, dict[str, str]]:
        time.sleep(6)  # the fixture's endpoints have a second, add_webhook at most 5
        return 200, OK, {}

    with receiver(reply=slow) as hook:
        started = time.monotonic()
        body = call(loopback, "add_webhook", url=hook.url, events="post_task")
        took = time.monotonic() - started
    error(body, 11, URL_MESSAGE, hook.url)
    assert took < 4 and len(hook.requests) == 1  # given up after a second
    assert native_webhooks(loopback) == []


def test_a_url_nobody_listens_on_is_refused(loopback: Org) -> None:
    with receiver() as hook:
        url = hook.url  # closed once the block ends
    error(call(loopback, "add_webhook", url=url, events="post_task"), 11, URL_MESSAGE, url)
    assert native_webhooks(loopback) == []


def test_private_targets_are_refused_unless_allowed(org: Org) -> None:
    with receiver(otherwise=(200, OK)) as hook:
        for url in (hook.url, "http://localhost:9/hook", "http://169.254.169.254/latest"):
            error(call(org, "add_webhook", url=url, events="post_task"), 11, URL_MESSAGE, url)
    assert hook.requests == []
    assert native_webhooks(org) == []


def test_missing_and_wrong_fields(loopback: Org, store: Store) -> None:
    org = loopback
    mine = project_in(org)
    other_org = new_org(store, org.client, "Globex")
    workspace = other_org.create("workspaces", name="Theirs")
    theirs = other_org.create("projects", name="Theirs", workspace=workspace["id"])["id"]
    with receiver(otherwise=(200, OK)) as hook:
        url = hook.url
        error(call(org, "add_webhook", events="post_task"), 10, "Field is required", "url")
        error(call(org, "add_webhook", url="", events="post_task"), 10, details="url")
        error(call(org, "add_webhook", url=url), 10, "Field is required", "events")
        for events in ("", " , ", "post_task,explode_task", "POST_TASK", "delete_project"):
            error(call(org, "add_webhook", url=url, events=events), 10, details="events")
        for projects in ("abc", "0", "-1", str(theirs), f"{mine},{theirs}", str(10**30)):
            body = call(org, "add_webhook", url=url, events="post_task", projects=projects)
            error(body, 4, "Project is invalid")
        for bad in ("ftp://example.com/hook", "not a url", "http://user:pw@example.com/"):
            error(call(org, "add_webhook", url=bad, events="post_task"), 11, URL_MESSAGE, bad)
        error(call(org, "add_webhook", url=url, events="post_task", http_user="a:b"), 10)
        error(call(org, "delete_webhook"), 10, "Field is required", "id")
        for raw in ("x", "0", "99999999", "1" * 40):
            error(call(org, "delete_webhook", id=raw), 10, "WebHook not found")
    assert hook.requests == []  # no URL is checked before the fields are right
    assert native_webhooks(org) == []


def test_bad_signatures_are_code_2(loopback: Org) -> None:
    with receiver(otherwise=(200, OK)) as hook:
        query = urlencode({"action": "add_webhook", "url": hook.url, "events": "post_task"})
        for url in (
            f"/api/admin/v2/?{query}",
            f"/api/admin/v2/?{query}&hash={'0' * 32}",
            f"/api/admin/v2/?{query}&hash={hashlib.md5((query + 'x' * 32).encode()).hexdigest()}",
        ):
            error(loopback.client.post(url).json(), 2, "Action hash is missed or invalid")
        error(call(loopback, "get_webhooks", key="f" * 32), 2)
        error(call(loopback, "delete_webhook", key="f" * 32, id="1"), 2)
    assert hook.requests == [] and native_webhooks(loopback) == []


def test_nothing_crosses_organizations(loopback: Org, store: Store) -> None:
    acme = loopback
    globex = new_org(store, acme.client, "Globex")
    with receiver(otherwise=(200, OK)) as hook:
        acme_id = add(acme, hook.url, "post_task")
        globex_id = add(globex, hook.url, "post_comment")
    assert [w["id"] for w in listed(acme)] == [str(acme_id)]
    assert [w["id"] for w in listed(globex)] == [str(globex_id)]
    error(call(globex, "delete_webhook", id=str(acme_id)), 10, "WebHook not found")
    assert [w["id"] for w in listed(acme)] == [str(acme_id)]


def test_only_worksection_webhooks_are_listed_and_deleted(loopback: Org) -> None:
    with receiver(otherwise=(200, OK)) as hook:
        native = loopback.post("/api/v1/webhooks", json={"url": hook.url}).json()["data"]
        mine = add(loopback, hook.url, "post_task")
    assert [w["id"] for w in listed(loopback)] == [str(mine)]
    error(call(loopback, "delete_webhook", id=str(native["id"])), 10, "WebHook not found")
    # paused by the native API, it is listed as paused
    loopback.patch(f"/api/v1/webhooks/{mine}", json={"status": "paused"})
    assert listed(loopback)[0]["status"] == "paused"


def test_the_oauth_api_has_no_webhook_actions(loopback: Org) -> None:
    body = loopback.get("/api/oauth2", params={"action": "get_webhooks"}).json()
    error(body, 1)


def test_odd_input_gets_worksection_errors(loopback: Org) -> None:
    org = loopback
    key = admin_key(org)

    def raw(query: str) -> Any:
        signature = hashlib.md5((query + key).encode("utf-8", "surrogateescape")).hexdigest()
        response = org.client.post(f"/api/admin/v2/?{query}&hash={signature}")
        assert response.status_code == 200, response.text
        return response.json()

    def sdk(action: str, **kw: Any) -> Any:
        stamp = str(int(time.time()))
        message = f"{action}:{stamp}".encode()
        signature = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
        headers = {"Authorization": f"Admin {stamp}_{signature}", **kw.pop("headers", {})}
        response = org.client.post(f"/api/admin/v2?action={action}", headers=headers, **kw)
        assert response.status_code == 200, response.text
        return response.json()

    with receiver(otherwise=(200, OK)) as hook:
        # bytes that are not UTF-8, a URL with a line break, an enormous URL
        error(raw("action=add_webhook&url=%FF%FE&events=post_task"), 11, URL_MESSAGE)
        broken = urlencode({"url": hook.url + "\r\nX-Evil: 1", "events": "post_task"})
        error(raw(f"action=add_webhook&{broken}"), 11, URL_MESSAGE)
        spaced = urlencode({"url": hook.url + " x", "events": "post_task"})
        error(raw(f"action=add_webhook&{spaced}"), 11, URL_MESSAGE)
        huge = urlencode({"url": "http://127.0.0.1/" + "a" * 7000, "events": "post_task"})
        error(raw(f"action=add_webhook&{huge}"), 11, URL_MESSAGE)
        error(raw("action=add_webhook&url=x&events=%FF"), 10, details="events")
        odd: tuple[Any, ...] = ({"post_task": 1}, 7, None, ["post_task", ["close_task"]])
        for events in odd:
            body: dict[str, Any] = {"url": hook.url, "events": events}
            error(sdk("add_webhook", json=body), 10, details="events")
        odd = ({"1": 1}, [1.5], "1,,x", "[1, -2]")
        for projects in odd:
            body = {"url": hook.url, "events": "post_task", "projects": projects}
            error(sdk("add_webhook", json=body), 4, "Project is invalid")
        long_user = {"url": hook.url, "events": "post_task", "http_user": "u" * 257}
        error(sdk("add_webhook", json=long_user), 10, details="http_user")
        error(sdk("delete_webhook", json={"id": [1]}), 10, "WebHook not found")
        error(sdk("delete_webhook", json={"id": -1}), 10, "WebHook not found")
        error(raw("action=get_webhook"), 1)  # no such action
        # a JSON body that is not an object, or not JSON
        for content in (b"[1]", b"{", b"\xff"):
            json_type = {"Content-Type": "application/json"}
            error(sdk("add_webhook", content=content, headers=json_type), 10)
    assert hook.requests == [] and native_webhooks(org) == []


def test_the_native_api_neither_pings_nor_rotates_a_worksection_webhook(loopback: Org) -> None:
    org = loopback
    with receiver(otherwise=(200, OK)) as hook:
        webhook_id = add(org, hook.url, "post_task", http_user="hook", http_pass="s3cret")
        for action in ("test", "rotate-secret"):
            response = org.post(f"/api/v1/webhooks/{webhook_id}/{action}")
            assert response.status_code == 409, response.text
            assert "worksection webhook" in response.json()["detail"], response.text
        assert len(hook.requests) == 1  # add_webhook's check only
        # pausing and resuming it there works, and get_webhooks shows it
        paused = org.patch(f"/api/v1/webhooks/{webhook_id}", json={"status": "paused"})
        assert paused.status_code == 200 and listed(org)[0]["status"] == "paused"
        org.patch(f"/api/v1/webhooks/{webhook_id}", json={"status": "active"})
        assert listed(org)[0]["status"] == "active"


# -- what counts as delivered --------------------------------------------------------------


def _cursor(failures: int) -> Cursor:
    return Cursor(1, 2, 0, "worksection", True, failures, None, None, None, None, None)


def test_judging_answers() -> None:
    style = WorksectionStyle()
    schedule = (0, 5)
    ok = style.judge(Answer(200, b'{"status":"ok"}', 10, None), 1, _cursor(0), 0, schedule)
    assert ok.delivered
    for answer in (
        Answer(200, b"OK", 10, None),
        Answer(200, b'{"status":"OK"}', 5001, None),  # too slow
        Answer(201, OK, 10, None),
        Answer(None, b"", 10, "cannot connect"),
    ):
        verdict = style.judge(answer, 1, _cursor(0), 0, schedule)
        assert not verdict.delivered and verdict.endpoint is None, answer
    # the schedule's last wait repeats: nothing is given up
    late = style.judge(Answer(500, b"", 1, None), 7, _cursor(3), 0, schedule)
    assert late.next_attempt_at is not None and late.next_attempt_at >= 4_500_000
    tenth = style.judge(Answer(200, b"nope", 1, None), 10, _cursor(9), 0, schedule)
    assert tenth.endpoint == "paused" and tenth.next_attempt_at is not None
    assert tenth.reason is not None and "10 deliveries in a row" in tenth.reason


# -- deliveries ----------------------------------------------------------------------------


def test_deliveries_carry_the_chosen_events_of_the_chosen_projects(live: Org) -> None:
    org = live
    project, also = project_in(org, "Launch"), project_in(org, "Also")
    other = project_in(org, "Elsewhere")
    with receiver(otherwise=(200, OK)) as hook:
        add(
            org,
            hook.url,
            "post_task,update_task,close_task,post_comment",
            projects=f"{project},{also}",
            http_user="hook",
            http_pass="s3cret",
        )
        task = org.create("tasks", name="Plan", project=project, assignee=org.owner_id)
        sub = org.create("tasks", name="Outline", parent=task["id"])
        org.create("tasks", name="Not here", project=other)
        beside = org.create("tasks", name="Beside", project=also)
        org.patch(f"/api/v1/tasks/{task['id']}", json={"name": "Plan v2", "priority": "high"})
        org.patch(f"/api/v1/tasks/{task['id']}", json={"status": "in_progress"})  # not shown
        org.post(f"/api/v1/tasks/{sub['id']}/close")
        comment = org.create("comments", task=sub["id"], text="Done!")
        org.patch(f"/api/v1/comments/{comment['id']}", json={"text": "Done."})  # not chosen
        org.patch(f"/api/v1/projects/{project}", json={"name": "Launch 2"})  # not chosen
        got = delivered(hook, 6)
        requests = deliveries(hook)
    token = base64.b64encode(b"hook:s3cret").decode()
    for request in requests:
        assert request.headers["authorization"] == f"Basic {token}"
        assert request.headers["content-type"] == "application/json"
        assert isinstance(orjson.loads(request.body), list)
    # exactly what get_events shows of the same events
    history = [
        e
        for p in (project, also)
        for e in call(org, "get_events", period="1d", id_project=str(p))["data"]
    ]
    chosen = {("post", "task"), ("update", "task"), ("close", "task"), ("post", "comment")}
    expected = [e for e in history if (e["action"], e["object"]["type"]) in chosen]
    assert canonical(got) == canonical(expected)
    assert sorted((e["action"], e["object"]["id"]) for e in got) == sorted(
        [
            ("post", str(task["id"])),
            ("post", str(sub["id"])),
            ("post", str(beside["id"])),
            ("update", str(task["id"])),
            ("close", str(sub["id"])),
            ("post", str(comment["id"])),
        ]
    )
    update = next(e for e in got if e["action"] == "update")
    assert update["new"] == {"title": "Plan v2", "priority": "7"}
    assert update["old"] == {"title": "Plan", "priority": ""}


def test_project_comment_delete_and_reopen_events(live: Org) -> None:
    org = live
    project = project_in(org)
    task = org.create("tasks", name="Plan", project=project)
    with receiver(otherwise=(200, OK)) as hook:
        events = "post_project,update_project,update_comment,delete_comment,reopen_task"
        add(org, hook.url, events)
        comment = org.create("comments", task=task["id"], text="First")
        org.patch(f"/api/v1/comments/{comment['id']}", json={"text": "First!"})
        org.delete(f"/api/v1/comments/{comment['id']}")
        org.post(f"/api/v1/tasks/{task['id']}/close")
        org.post(f"/api/v1/tasks/{task['id']}/reopen")
        workspace = org.create("workspaces", name="More")
        created = org.create("projects", name="Second", workspace=workspace["id"])
        org.patch(f"/api/v1/projects/{created['id']}", json={"description": "Why"})
        got = delivered(hook, 5)
        assert all("authorization" not in r.headers for r in deliveries(hook))
    assert sorted((e["action"], e["object"]["type"], e["object"]["id"]) for e in got) == sorted(
        [
            ("update", "comment", str(comment["id"])),
            ("delete", "comment", str(comment["id"])),
            ("reopen", "task", str(task["id"])),
            ("post", "project", str(created["id"])),
            ("update", "project", str(created["id"])),
        ]
    )


def test_a_failed_delivery_is_retried_until_it_is_accepted(live: Org) -> None:
    org = live
    project = project_in(org)
    with receiver(
        answers=[(200, OK), (500, OK), (200, b'{"status":"later"}'), (200, b"OK")],
        otherwise=(200, OK),
    ) as hook:
        webhook_id = add(org, hook.url, "post_task")
        task = org.create("tasks", name="Plan", project=project)
        hook.wait_for(5)  # the check, three failed tries, the one accepted
        time.sleep(0.5)  # time for a stray fifth try, which must not come
        tries = deliveries(hook)
    assert len(tries) == 4 and len({r.body for r in tries}) == 1  # the same delivery, again
    [record] = orjson.loads(tries[0].body)
    assert record["object"]["id"] == str(task["id"])
    log = org.get(f"/api/v1/webhooks/{webhook_id}/deliveries").json()["data"]
    assert [(a["attempt"], a["status_code"]) for a in log] == [
        (4, 200),
        (3, 200),
        (2, 200),
        (1, 500),
    ]
    assert log[1]["response_body"] == "OK" and log[0]["next_attempt_at"] is None
    assert log[3]["next_attempt_at"] is not None
    native = org.get(f"/api/v1/webhooks/{webhook_id}").json()["data"]
    assert native["status"] == "active" and native["delivery"]["pending"] == 0


def test_deliveries_stay_in_their_organization(live: Org, store: Store) -> None:
    acme = live
    globex = new_org(store, acme.client, "Globex")
    chosen, other = project_in(acme, "Chosen"), project_in(acme, "Other")
    theirs = project_in(globex, "Theirs")
    with receiver(otherwise=(200, OK)) as acme_hook, receiver(otherwise=(200, OK)) as globex_hook:
        add(acme, acme_hook.url, "post_task,post_comment", projects=str(chosen))
        add(globex, globex_hook.url, "post_task,post_comment")
        task = acme.create("tasks", name="In", project=chosen)
        sub = acme.create("tasks", name="Sub", parent=task["id"])
        comment = acme.create("comments", task=sub["id"], text="Deep")
        acme.create("tasks", name="Out", project=other)
        their_task = globex.create("tasks", name="Theirs", project=theirs)
        got_acme = delivered(acme_hook, 3)
        got_globex = delivered(globex_hook, 1)
    assert sorted((e["object"]["type"], e["object"]["id"]) for e in got_acme) == sorted(
        [("task", str(task["id"])), ("task", str(sub["id"])), ("comment", str(comment["id"]))]
    )
    assert [(e["object"]["type"], e["object"]["id"]) for e in got_globex] == [
        ("task", str(their_task["id"]))
    ]


def test_ten_failures_in_a_row_pause_the_webhook(live: Org) -> None:
    org = live
    project = project_in(org)
    healthy = threading.Event()

    def reply(request: Received) -> tuple[int, bytes, dict[str, str]]:
        if request.body == b"[]" or healthy.is_set():
            return 200, OK, {}
        return 200, b'{"status":"FAIL"}', {}

    with receiver(reply=reply) as hook:
        webhook_id = add(org, hook.url, "post_task")
        task = org.create("tasks", name="Plan", project=project)
        wait_for_status(org, webhook_id, "paused")
        # Ten tries; an eleventh may have been taken (and still be on its way) while the
        # pause was being written. Then no more.
        failed = quiet_count(hook)
        assert 10 <= failed <= 11
        native = org.get(f"/api/v1/webhooks/{webhook_id}").json()["data"]
        assert native["status"] == "paused"
        assert "10 deliveries in a row failed" in native["disabled_reason"]
        assert '{"status":"OK"}' in native["disabled_reason"]
        assert native["delivery"]["pending"] == 1
        # the pause is history: the system changed the webhook's status
        history = org.get("/api/v1/events", params={"scope": f"webhook:{webhook_id}"}).json()
        paused = history["data"][0]
        assert paused["actor"] is None and paused["context"]["source"] == "system"
        assert {"field": "status", "old": "active", "new": "paused"} in paused["changes"]
        # what happens while it is paused is owed too
        later = org.create("tasks", name="While paused", project=project)
        time.sleep(0.3)
        assert len(deliveries(hook)) == failed
        # resumed once the endpoint works again, it delivers what it missed
        healthy.set()
        org.patch(f"/api/v1/webhooks/{webhook_id}", json={"status": "active"})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(_events_in(deliveries(hook)[failed:])) < 2:
            time.sleep(0.05)
        resumed = _events_in(deliveries(hook)[failed:])
    assert sorted((e["action"], e["object"]["id"]) for e in resumed) == sorted(
        [("post", str(task["id"])), ("post", str(later["id"]))]
    )
    assert wait_for_status(org, webhook_id, "active")["status"] == "active"
