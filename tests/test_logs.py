"""The server's log: one line per request (request id, organization, route template,
status, duration), text or JSON lines, the request id taken from or set on X-Request-ID
(500s included) and carried into events; and no credential ever reaches a line."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.config import ConfigError, Settings
from worktrail.dialects.worksection.auth import md5_signature
from worktrail.store import Store
from worktrail.testing.server import serve
from worktrail.web.logs import ACCESS_LOGGER, JsonFormatter, TextFormatter, log_config, scrub

from .conftest import Org
from .live import printed_token
from .receiver import receiver

TOKEN = "wt_" + "A1b2C3d4E5f6" * 3


# -- scrubbing ---------------------------------------------------------------------------


SIGNATURE = "K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="
ED25519 = "hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
SECRET = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f"Authorization: Bearer {TOKEN}", TOKEN[3:]),
        (f"'authorization': 'OAuth {TOKEN[3:]}'", TOKEN[3:]),
        ("authorization=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("Authorization: 0123456789abcdef", "0123456789abcdef"),
        ("x-api-key: 0123456789abcdef", "0123456789abcdef"),
        (f"token {TOKEN} seen", TOKEN[3:]),
        (f"secret whsec_{SECRET}", SECRET),
        (f"key whsk_{SECRET}", SECRET),
        (f"webhook-signature: v1,{SIGNATURE} v1,{SIGNATURE}", SIGNATURE),
        (f"webhook-signature: v1a,{ED25519}", ED25519),
        ("GET /api/admin/v2/?action=get_events&hash=0cc175b9c0f1b6a8", "0cc175b9c0f1b6a8"),
        ("/api/1.0/events?resource=1&sync=de305d5475b4431b", "de305d5475b4431b"),
    ],
)
def test_what_looks_like_a_credential_is_scrubbed(line: str, secret: str) -> None:
    scrubbed = scrub(line)
    assert secret not in scrubbed and "[redacted]" in scrubbed, scrubbed


def test_ordinary_words_are_left_alone() -> None:
    line = "GET /api/v1/events 200 3.1ms request_id=5c88 org_id=1 prev_hash=abc token_id=3"
    assert scrub(line) == line


def record(message: str, **extra: Any) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": ACCESS_LOGGER, "levelname": "INFO", "msg": message, **extra}
    )


def test_a_text_line_shows_the_message_then_the_fields_it_lacks() -> None:
    line = TextFormatter().format(
        record(
            "GET /api/v1/me 200 2.5ms",
            request_id="r-1",
            org_id=3,
            route="/api/v1/me",
            status=200,
            in_message=("route", "status"),
        )
    )
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO worktrail\.access "
        r"GET /api/v1/me 200 2\.5ms request_id=r-1 org_id=3",
        line,
    ), line


def test_a_json_line_has_every_field_and_the_traceback() -> None:
    try:
        raise RuntimeError(f"failed with {TOKEN}")
    except RuntimeError:
        rec = record("boom", request_id="r-2", exc_info=sys.exc_info())
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    data = orjson.loads(line)
    assert data["level"] == "info" and data["logger"] == ACCESS_LOGGER
    assert data["message"] == "boom" and data["request_id"] == "r-2"
    assert "RuntimeError" in data["exception"] and TOKEN not in line


def test_bad_log_settings_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="log_format must be text or json"):
        log_config("info", "xml")
    with pytest.raises(ConfigError, match="log_level must be one of"):
        log_config("loud", "text")


# -- the request id ----------------------------------------------------------------------


def test_the_request_id_is_the_clients_and_goes_into_the_event(org: Org) -> None:
    created = org.post(
        "/api/v1/workspaces", json={"name": "W"}, headers={"X-Request-ID": "trace-42"}
    )
    assert created.status_code == 201
    assert created.headers["x-request-id"] == "trace-42"
    events = org.get("/api/v1/events", params={"limit": 1}).json()["data"]
    assert events[0]["context"]["request_id"] == "trace-42"


def test_a_request_id_that_is_not_a_plain_token_is_replaced(org: Org) -> None:
    for given in ("has spaces", "x" * 101, "<script>", "a\tb"):
        response = org.post(
            "/api/v1/workspaces", json={"name": "W"}, headers={"X-Request-ID": given}
        )
        assert response.status_code == 201
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
        event = org.get("/api/v1/events", params={"limit": 1}).json()["data"][0]
        assert event["context"]["request_id"] == response.headers["x-request-id"]


class Lines(logging.Handler):
    """The lines a text log would have, formatted as they are written."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(TextFormatter().format(record))


def test_a_500_carries_the_request_id_and_is_logged_once_as_such(
    settings: Settings, store: Store
) -> None:
    app = create_app(settings, store)

    def fail() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/fail", fail)
    logger, lines = logging.getLogger("worktrail"), Lines()
    logger.addHandler(lines)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        # the error is answered and logged: it reaches neither the server nor the client
        with TestClient(app) as client:
            response = client.get("/api/v1/fail", headers={"X-Request-ID": "req-500"})
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-500"
    errors = [line for line in lines.lines if " ERROR " in line.split("\n")[0]]
    assert len(errors) == 1
    assert "unexpected error on GET /api/v1/fail" in errors[0]
    assert "request_id=req-500" in errors[0] and "RuntimeError: a bug" in errors[0]
    access = [line for line in lines.lines if " worktrail.access " in line]
    assert len(access) == 1
    assert re.search(r"GET /api/v1/fail 500 [\d.]+ms request_id=req-500$", access[0])


# -- a real server's log -----------------------------------------------------------------


def test_no_credential_reaches_the_log_of_a_real_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'logs.db'}"
    created = subprocess.run(
        [
            *(sys.executable, "-m", "worktrail.cli", "org", "create", "--name", "L"),
            *("--owner-name", "O", "--owner-email", "o@l.test", "--database-url", url),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    token = printed_token(created.stdout + created.stderr)
    admin_key = subprocess.run(
        [sys.executable, "-m", "worktrail.cli", "org", "api-key", "--database-url", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env = {
        "WORKTRAIL_LOG_LEVEL": "debug",
        "WORKTRAIL_LOG_FORMAT": "json",
        "WORKTRAIL_WEBHOOKS_ALLOW_PRIVATE": "1",
        "WORKTRAIL_AUTH_FAILURES_PER_MINUTE": "0",
    }
    bearer = {"Authorization": f"Bearer {token}"}
    secrets: list[str] = [token, token[3:], admin_key]
    with (
        receiver() as hook,
        serve(url, tmp_path, env=env) as server,
        httpx.Client(base_url=server.base_url, headers=bearer, timeout=30) as client,
    ):
        me = client.get("/api/v1/me", headers={"X-Request-ID": "req-me"})
        assert me.status_code == 200
        org_id = me.json()["org_id"]
        # credentials in every place a client may put them, good and bad
        client.get("/api/v1/events", params={"token": token, "limit": 1})
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}x"})
        client.get("/api/v1/me", headers={"Authorization": f"Basic {token}"})
        client.get("/v2/entities/project/1", headers={"Authorization": f"OAuth {token}"})
        client.get("/api/v1/me", headers={"X-Request-ID": token})  # a plain token, as ids go
        query = "action=get_events&period=1d"
        signature = md5_signature(query, admin_key)
        secrets.append(signature)
        ws = httpx.get(f"{server.base_url}/api/admin/v2/?{query}&hash={signature}")
        assert ws.status_code == 200, ws.text
        # a webhook: its secret, a rotated one, signed deliveries
        subscribed = client.post("/api/v1/webhooks", json={"url": hook.url})
        assert subscribed.status_code == 201, subscribed.text
        webhook = subscribed.json()["data"]
        rotated = client.post(f"/api/v1/webhooks/{webhook['id']}/rotate-secret").json()["data"]
        secrets += [webhook["secret"], rotated["secret"]]
        client.post("/api/v1/workspaces", json={"name": token}).raise_for_status()
        client.post(f"/api/v1/webhooks/{webhook['id']}/test").raise_for_status()
        for request in hook.wait_for(2):
            for signed in request.headers["webhook-signature"].split():
                secrets.append(signed.split(",", 1)[1])
        log = server.output()

    lines = [line for line in log.splitlines() if line.strip()]
    parsed = [orjson.loads(line) for line in lines]  # every line is one JSON object
    access = [p for p in parsed if p["logger"] == ACCESS_LOGGER]
    assert len(access) >= 12
    mine = next(p for p in access if p["request_id"] == "req-me")
    assert mine["route"] == "/api/v1/me" and mine["status"] == 200 and mine["method"] == "GET"
    assert mine["org_id"] == org_id
    assert isinstance(mine["duration_ms"], float)
    admin = next(p for p in access if p["route"] == "/api/admin/v2/")
    assert admin["status"] == 200 and admin["org_id"] == mine["org_id"]  # signed by its key
    refused = [p for p in access if p["route"] == "/api/v1/me" and p["status"] == 401]
    assert len(refused) == 2 and all(p["org_id"] is None for p in refused)
    assert any(p["request_id"] == "wt_[redacted]" for p in access)
    for secret in secrets:
        assert secret not in log, f"a credential reached the log: {secret[:6]}…"
