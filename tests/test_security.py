"""Security basics over HTTP: failed authentications limited per client address (in every
API's own error shape), the headers every response carries, and CORS only when configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.store import Store, open_store
from worktrail.testing.server import serve
from worktrail.web.authlimit import AuthFailureLimiter, client_key
from worktrail.write import create_organization

from .conftest import Org, Tree
from .live import json_documents, run_block
from .readme import bash_blocks, section

ALLOWANCE = 3


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(org: Org) -> Clock:
    """The org's app with an allowance of ALLOWANCE failures a minute, on a test clock."""
    clock = Clock()
    org.services.auth_failures = AuthFailureLimiter(ALLOWANCE, clock=clock)
    return clock


BAD = {"Authorization": "Bearer wt_not-a-token"}


def native_bad(org: Org, tree: Tree) -> Any:
    return org.client.get("/api/v1/events", headers=BAD)


def asana_bad(org: Org, tree: Tree) -> Any:
    return org.client.get("/api/1.0/events", params={"resource": tree.project}, headers=BAD)


def huddle_bad(org: Org, tree: Tree) -> Any:
    return org.client.get(f"/tasks/workspace/{tree.workspace}/audits", headers=BAD)


def kantata_bad(org: Org, tree: Tree) -> Any:
    return org.client.get("/api/v1/subscribed_events", headers=BAD)


def tracker_bad(org: Org, tree: Tree) -> Any:
    headers = {"Authorization": "OAuth wt_not-a-token", "X-Org-ID": str(org.id)}
    return org.client.get("/v2/myself", headers=headers)


def tracker_foreign_org(org: Org, tree: Tree) -> Any:
    """A good token naming an organization that is not its own."""
    headers = {"Authorization": f"OAuth {org.token}", "X-Org-ID": str(org.id + 1000)}
    return org.client.get("/v2/myself", headers=headers)


def worksection_bad_hash(org: Org, tree: Tree) -> Any:
    query = "action=get_events&period=1d&hash=" + "0" * 32
    return org.client.get(f"/api/admin/v2/?{query}")


def worksection_bad_oauth(org: Org, tree: Tree) -> Any:
    return org.client.get("/api/oauth2?action=get_events&period=1d", headers=BAD)


# (a failed attempt, the status it gets within the allowance, what the 429 body looks like)
ATTEMPTS = {
    "native": (native_bad, 401, lambda b: b["status"] == 429 and b["title"]),
    "asana": (asana_bad, 401, lambda b: b["errors"][0]["message"]),
    "huddle": (huddle_bad, 401, lambda b: b["errorCode"] == "TooManyRequests"),
    "kantata": (kantata_bad, 401, lambda b: b["errors"][0]["type"] == "system"),
    "tracker": (tracker_bad, 401, lambda b: b["statusCode"] == 429 and b["errorMessages"]),
    "tracker-org": (tracker_foreign_org, 403, lambda b: b["statusCode"] == 429),
    "worksection": (worksection_bad_hash, 200, lambda b: b["status_code"] == 429),
    "worksection-oauth": (worksection_bad_oauth, 401, lambda b: b["status_code"] == 429),
}


@pytest.mark.parametrize("api", list(ATTEMPTS))
def test_failed_authentications_past_the_allowance_get_429_in_each_apis_shape(
    org: Org, tree: Tree, clock: Clock, api: str
) -> None:
    attempt, status, shaped = ATTEMPTS[api]
    for _ in range(ALLOWANCE):
        assert attempt(org, tree).status_code == status
    refused = attempt(org, tree)
    assert refused.status_code == 429, refused.text
    assert shaped(refused.json()), refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    if api == "native":
        assert refused.headers["content-type"] == "application/problem+json"
    # a valid token from the same address is never refused by this limiter
    assert org.get("/api/v1/me").status_code == 200
    # once the window has passed, the address starts afresh
    clock.now += 61
    assert attempt(org, tree).status_code == status


def test_every_kind_of_failure_counts_and_any_failing_attempt_is_refused(
    org: Org, tree: Tree, clock: Clock
) -> None:
    revoked = org.post("/api/v1/tokens", json={"name": "gone"}).json()["data"]
    assert org.delete(f"/api/v1/tokens/{revoked['id']}").status_code == 200
    attempts: list[dict[str, str]] = [
        {},  # no token
        {"Authorization": "Basic abc"},  # not a bearer token
        {"Authorization": f"Bearer {revoked['token']}"},
    ]
    for headers in attempts:
        assert org.client.get("/api/v1/me", headers=headers).status_code == 401
    for headers in [*attempts, BAD]:
        response = org.client.get("/api/v1/me", headers=headers)
        assert response.status_code == 429, response.text
    # what a good token may do it still does, writes included
    created = org.post("/api/v1/workspaces", json={"name": "Still open"})
    assert created.status_code == 201, created.text


def test_failures_are_counted_per_client_address(org: Org, tree: Tree, clock: Clock) -> None:
    other = TestClient(org.client.app, client=("198.51.100.7", 4000))
    for _ in range(ALLOWANCE + 1):
        native_bad(org, tree)
    assert native_bad(org, tree).status_code == 429
    assert other.get("/api/v1/me", headers=BAD).status_code == 401  # another address


def test_zero_disables_the_limit(org: Org, tree: Tree) -> None:
    org.services.auth_failures = AuthFailureLimiter(0)
    for _ in range(40):
        assert native_bad(org, tree).status_code == 401


def test_the_default_allowance_is_the_setting(org: Org, tree: Tree) -> None:
    limiter = org.services.auth_failures
    assert limiter.per_minute == Settings().auth_failures_per_minute == 30
    statuses = [native_bad(org, tree).status_code for _ in range(31)]
    assert statuses == [401] * 30 + [429]


def test_the_table_of_addresses_is_bounded() -> None:
    clock = Clock()
    limiter = AuthFailureLimiter(1, max_clients=3, clock=clock)
    assert limiter.failed("192.0.2.1") is None
    assert limiter.failed("192.0.2.1") == 60
    clock.now += 20
    assert limiter.failed("192.0.2.1") == 40  # the window does not grow with failures
    for n in range(2, 12):
        limiter.failed(f"192.0.2.{n}")
    assert len(limiter) == 3
    # 192.0.2.1 was evicted: it starts again with a full allowance
    assert limiter.failed("192.0.2.1") is None


def test_addresses_are_counted_as_one_client_would_hold_them() -> None:
    assert client_key("2001:db8:1:2:3:4:5:6") == client_key("2001:db8:1:2:ffff::1")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.9") == client_key("192.0.2.9") == "192.0.2.9"
    assert client_key("testclient") == "testclient"
    assert client_key(None) == ""


# -- headers ----------------------------------------------------------------------------

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
CSP = "default-src 'none'; frame-ancestors 'none'"


def test_every_response_carries_the_security_headers(org: Org, tree: Tree) -> None:
    responses = [
        org.get("/api/v1/events", params={"limit": 1}),  # JSON
        org.get("/api/v1/events", params={"limit": 1, "format": "csv"}),
        org.post("/api/v1/tasks", json={"name": "x", "project": tree.project}),  # 201
        org.client.get("/api/v1/events"),  # 401 problem
        org.get("/api/v1/nothing-here"),  # 404
        org.get("/api/1.0/events"),  # a dialect's 400
        org.client.get("/healthz"),
        org.client.get("/openapi.json"),
    ]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name, response.headers)
        assert response.headers["content-security-policy"] == CSP, response.url
        assert response.headers["x-request-id"]  # still there


def test_unexpected_errors_carry_them_too(settings: Settings, store: Store) -> None:
    app = create_app(settings, store)

    def fail() -> None:
        raise RuntimeError("a bug")

    for path in ("/api/v1/fail", "/api/1.0/fail"):
        app.add_api_route(path, fail)
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/api/v1/fail", "/api/1.0/fail"):
            response = client.get(path)
            assert response.status_code == 500
            assert "a bug" not in response.text
            for name, value in SECURITY_HEADERS.items():
                assert response.headers.get(name) == value, (path, name)


def test_html_pages_keep_their_scripts(org: Org) -> None:
    docs = org.client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "content-security-policy" not in docs.headers
    assert docs.headers["x-frame-options"] == "DENY"
    assert docs.headers["x-content-type-options"] == "nosniff"


def test_a_routes_own_cache_control_is_kept(org: Org, tree: Tree) -> None:
    with org.client.stream("GET", "/api/v1/events/stream", headers=org.headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-content-type-options"] == "nosniff"


# -- CORS -------------------------------------------------------------------------------

ORIGIN = "https://app.example.test"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization",
}


@pytest.fixture
def cors_client(settings: Settings, store: Store) -> Iterator[TestClient]:
    configured = settings.with_overrides(cors_origins=f"{ORIGIN}, https://b.test")
    with TestClient(create_app(configured, store), raise_server_exceptions=False) as client:
        yield client


def test_cors_is_off_unless_configured(org: Org) -> None:
    preflight = org.client.options("/api/v1/events", headers=PREFLIGHT)
    # an OPTIONS like any other (204 with Allow), granting no origin anything
    assert preflight.status_code == 204 and "GET" in preflight.headers["allow"]
    assert not any(name.startswith("access-control-") for name in preflight.headers)
    response = org.get("/api/v1/me", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_configured_origins_may_call_with_a_token(org: Org, cors_client: TestClient) -> None:
    preflight = cors_client.options("/api/v1/events", headers=PREFLIGHT)
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert preflight.headers["x-content-type-options"] == "nosniff"
    response = cors_client.get("/api/v1/me", headers={**org.headers, "Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in response.headers
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    stranger = cors_client.options(
        "/api/v1/events", headers={**PREFLIGHT, "Origin": "https://evil.test"}
    )
    assert stranger.status_code == 400
    assert "access-control-allow-origin" not in stranger.headers


# -- the README -------------------------------------------------------------------------


@pytest.mark.slow
def test_the_readmes_token_examples_run_against_a_live_server(tmp_path: Path) -> None:
    [block] = bash_blocks(section("## Security"))
    url = f"sqlite:///{tmp_path / 'security.db'}"
    store = open_store(Settings(database_url=url))
    store.migrate()
    created = create_organization(store, "Acme", "Ann Owner", "ann@acme.test")
    _, token = create_token(store, created.org_id, created.owner_id, "owner")
    with serve(url, tmp_path) as server:
        printed = json_documents(run_block(block, server, token))
    me, listing, renamed, revoked = printed
    assert me["user"]["id"] == created.owner_id
    assert {t["name"] for t in listing["data"]} == {"owner", "ci"}
    assert renamed["data"]["name"] == "ci (nightly)"
    assert revoked["data"]["status"] == "revoked"
    [ci] = [t for t in store.list_tokens(created.org_id) if t.name == "ci (nightly)"]
    assert ci.revoked_at is not None and ci.last_used_at is not None
    store.close()
