"""Prometheus metrics: scraped with prometheus_client's own parser after real traffic
against a real `worktrail serve`, on one process and on `serve --workers 2`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from worktrail import metrics
from worktrail.app import create_app
from worktrail.config import ConfigError
from worktrail.store import Store
from worktrail.testing.server import LiveServer, free_port, serve
from worktrail.web.exposition import MetricsPlacement, metrics_placement
from worktrail.worker import delivery_styles
from worktrail.worker.dispatch import dispatch_once

from .conftest import Org, make_settings
from .live import printed_token
from .receiver import Received, receiver

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
ORG_NAME = "Initech Metrics"
OWNER_EMAIL = "owner@initech.test"


def parse(text: str) -> Samples:
    """Every sample of a scrape by (name, labels); a sample given twice fails the test."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"{key} appears twice"
            samples[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def requests_of(samples: Samples, route: str, method: str = "GET", status: str = "200") -> float:
    return value(
        samples, "worktrail_http_requests_total", route=route, method=method, status=status
    )


# -- where metrics are served ------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "placement"),
    [
        ("off", MetricsPlacement()),
        ("ON", MetricsPlacement(on_main_port=True)),
        ("127.0.0.1:9464", MetricsPlacement(listen=("127.0.0.1", 9464))),
        ("[::1]:9464", MetricsPlacement(listen=("::1", 9464))),
    ],
)
def test_the_setting_names_where_metrics_are_served(
    setting: str, placement: MetricsPlacement
) -> None:
    assert metrics_placement(setting) == placement


@pytest.mark.parametrize("setting", ["yes", "9464", "host:", ":9464", "host:70000", "h:p"])
def test_a_bad_setting_is_refused_by_name(setting: str) -> None:
    with pytest.raises(ConfigError, match="metrics must be off, on or HOST:PORT"):
        metrics_placement(setting)


@pytest.mark.parametrize("setting", ["off", "127.0.0.1:9464"])
def test_the_main_port_serves_them_only_when_on(
    sqlite_template: Path, tmp_path: Path, store: Store, setting: str
) -> None:
    settings = make_settings(store.url, metrics=setting)
    with TestClient(create_app(settings, store)) as client:
        assert client.get("/metrics").status_code == 404
    with TestClient(create_app(make_settings(store.url, metrics="on"), store)) as client:
        response = client.get("/metrics")
        assert response.status_code == 200
        assert "worktrail_http_requests_total" in response.text


def test_routes_are_counted_by_template_never_by_path(org: Org) -> None:
    def count(route: str, method: str, status: str) -> float:
        labels = {"route": route, "method": method, "status": status}
        return REGISTRY.get_sample_value("worktrail_http_requests_total", labels) or 0.0

    workspace = org.create("workspaces", name="W")
    template = "/api/v1/workspaces/{entity_id}"
    before = (
        count(template, "GET", "200"),
        count(template, "HEAD", "200"),
        count(metrics.UNMATCHED, "GET", "404"),
        count(metrics.UNMATCHED, "OTHER", "405") + count(metrics.UNMATCHED, "OTHER", "404"),
    )
    assert org.get(f"/api/v1/workspaces/{workspace['id']}").status_code == 200
    assert (
        org.client.head(f"/api/v1/workspaces/{workspace['id']}", headers=org.headers).status_code
        == 200
    )
    for n in range(3):  # a scanner's paths are one series, not one each
        assert org.get(f"/wp-admin/{n}.php").status_code == 404
    assert org.client.request("BREW", "/coffee").status_code in (404, 405)
    after = (
        count(template, "GET", "200"),
        count(template, "HEAD", "200"),
        count(metrics.UNMATCHED, "GET", "404"),
        count(metrics.UNMATCHED, "OTHER", "405") + count(metrics.UNMATCHED, "OTHER", "404"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 3, 1]
    text = org.get("/metrics").text
    assert f"/api/v1/workspaces/{workspace['id']}" not in text and "wp-admin" not in text


# -- delivery lag, computed at scrape time ---------------------------------------------


def test_delivery_lag_is_the_age_of_the_oldest_due_message(org: Org, store: Store) -> None:
    created = org.post("/api/v1/webhooks", json={"url": "https://hooks.example.com/x"})
    assert created.status_code == 201, created.text
    assert store.webhooks.delivery_lag(0) == 0.0  # nothing owed yet
    org.create("workspaces", name="W")
    now = 1_000_000_000_000_000
    assert dispatch_once(store, now, delivery_styles()) >= 1
    assert store.webhooks.delivery_lag(now - 1) == 0.0  # not yet due
    assert store.webhooks.delivery_lag(now + 7_500_000) == 7.5
    paused = org.patch(
        f"/api/v1/webhooks/{created.json()['data']['id']}", json={"status": "paused"}
    )
    assert paused.status_code == 200, paused.text
    assert store.webhooks.delivery_lag(now + 7_500_000) == 0.0  # nobody is delivering it


# -- a real server ---------------------------------------------------------------------


def new_store(tmp_path: Path) -> tuple[str, str]:
    """An SQLite store with an organization: its URL and the owner's token."""
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    out = subprocess.run(
        [
            *(sys.executable, "-m", "worktrail.cli", "org", "create", "--name", ORG_NAME),
            *("--owner-name", "Olga Owner", "--owner-email", OWNER_EMAIL, "--database-url", url),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return url, printed_token(out.stdout + out.stderr)


def head(client: httpx.Client) -> int:
    events = client.get("/api/v1/events", params={"limit": 1}).json()["data"]
    return int(events[0]["seq"]) if events else 0


class Feed:
    """A live-feed client connected in a thread until `close`."""

    def __init__(self, server: LiveServer, token: str) -> None:
        self.connected = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(server, token), daemon=True)
        self.thread.start()
        assert self.connected.wait(10)

    def _run(self, server: LiveServer, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.stream(
            "GET", server.base_url + "/api/v1/events/stream", headers=headers, timeout=30
        ) as stream:
            for _ in stream.iter_lines():
                self.connected.set()
                if self.done.is_set():
                    return

    def close(self) -> None:
        self.done.set()
        self.thread.join(30)


def wait_until(check: str, url: str, predicate: object, timeout: float = 15) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if callable(predicate) and predicate(samples):
            return samples
        assert time.monotonic() < deadline, f"{check}: not seen in {timeout} s"
        time.sleep(0.2)


def test_counters_move_with_real_traffic_on_one_process(tmp_path: Path) -> None:
    url, token = new_store(tmp_path)
    env = {"WORKTRAIL_AUTH_FAILURES_PER_MINUTE": "2", "WORKTRAIL_WEBHOOKS_ALLOW_PRIVATE": "1"}

    def slowly(_request: Received) -> tuple[int, bytes, dict[str, str]]:
        time.sleep(2)  # the message waits, due, while this endpoint takes its time
        return 200, b"ok", {}

    with (
        receiver(reply=slowly) as hook,
        serve(url, tmp_path, env=env) as server,
        httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client,
    ):
        metrics_url = server.base_url + "/metrics"
        seq_before = head(client)
        before = scrape(metrics_url)

        ws = client.post("/api/v1/workspaces", json={"name": "W"}).json()["data"]
        for _ in range(3):
            assert client.get("/api/v1/events", params={"limit": 5}).status_code == 200
        records = [
            {"type": "project", "id": f"p{i}", "state": {"name": f"P{i}", "workspace": ws["id"]}}
            for i in range(3)
        ]
        ingested = client.post("/api/v1/changes", json={"records": records})
        assert ingested.status_code == 200, ingested.text
        for _ in range(3):  # the third failure in a minute is refused with 429
            client.get("/api/v1/me", headers={"Authorization": "Bearer wt_not-a-real-token-at-all"})
        feed = Feed(server, token)
        live = wait_until(
            "a live-feed client",
            metrics_url,
            lambda s: value(s, "worktrail_live_feed_clients") == 1,
        )
        assert client.post("/api/v1/webhooks", json={"url": hook.url}).status_code == 201
        client.patch(f"/api/v1/workspaces/{ws['id']}", json={"name": "W2"}).raise_for_status()
        lagging = wait_until(
            "a due webhook message",
            metrics_url,
            lambda s: value(s, "worktrail_webhook_delivery_lag_seconds") > 0.5,
        )
        delivered = wait_until(
            "a webhook delivery",
            metrics_url,
            lambda s: value(s, "worktrail_webhook_deliveries_total", outcome="delivered") >= 1,
        )
        feed.close()
        after = wait_until(
            "the live-feed client gone",
            metrics_url,
            lambda s: value(s, "worktrail_live_feed_clients") == 0,
        )
        appended = head(client) - seq_before
        text = httpx.get(metrics_url).text

    assert requests_of(after, "/api/v1/events") - requests_of(before, "/api/v1/events") == 3
    histogram = "worktrail_http_request_duration_seconds_count"
    assert (
        value(after, histogram, route="/api/v1/events", method="GET")
        - value(before, histogram, route="/api/v1/events", method="GET")
        == 3
    )
    assert requests_of(after, "/api/v1/workspaces", "POST", "201") == 1
    assert requests_of(after, "/api/v1/me", "GET", "401") == 2
    assert requests_of(after, "/api/v1/me", "GET", "429") == 1
    assert value(after, "worktrail_rate_limited_total", limit="auth_failures") == 1
    assert value(after, "worktrail_ingest_batch_records_count") == 1
    assert value(after, "worktrail_ingest_batch_records_sum") == 3
    assert appended >= 6  # workspace, 3 projects, the subscription, the rename
    assert (
        value(after, "worktrail_events_appended_total")
        - value(before, "worktrail_events_appended_total")
        == appended
    )
    assert value(live, "worktrail_live_feed_clients") == 1
    assert value(lagging, "worktrail_webhook_delivery_lag_seconds") > 0.5
    assert value(delivered, "worktrail_webhook_deliveries_total", outcome="delivered") >= 1
    for role in ("read", "write"):
        assert ("worktrail_db_connections_in_use", frozenset({("role", role)})) in after
        assert ("worktrail_db_connections_waiting", frozenset({("role", role)})) in after
    for private in (ORG_NAME, OWNER_EMAIL, token, "W2", "Olga"):
        assert private not in text


# -- serve --workers 2 -----------------------------------------------------------------


def hammer(base_url: str, token: str, count: int) -> None:
    """`count` requests to /api/v1/me from 8 clients at once, each on new connections, so
    that both worker processes take some."""

    def client(n: int) -> None:
        for _ in range(n):
            response = httpx.get(
                base_url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200

    threads = [threading.Thread(target=client, args=(count // 8,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture
def stale_dir(tmp_path: Path) -> Iterator[Path]:
    """A PROMETHEUS_MULTIPROC_DIR holding a run's worth of counts from an earlier process."""
    path = tmp_path / "multiproc"
    path.mkdir()
    code = (
        "from worktrail import metrics\n"
        "for _ in range(1000): metrics.observe_request('/api/v1/me', 'GET', 200, 0.1)\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path)},
        check=True,
    )
    assert list(path.glob("counter_*.db"))
    yield path


def test_workers_report_one_set_on_a_listener_of_their_own(tmp_path: Path, stale_dir: Path) -> None:
    url, token = new_store(tmp_path)
    port = free_port()
    env = {"WORKTRAIL_METRICS": f"127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": str(stale_dir)}
    with serve(url, tmp_path, "--workers", "2", env=env) as server:
        assert httpx.get(server.base_url + "/metrics").status_code == 404  # not on the API's port
        hammer(server.base_url, token, 40)
        # the serve process answers on the listener; it serves no request itself, so
        # what it reports is what the workers wrote, added up (the earlier run's counts
        # were removed when this one started)
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert requests_of(samples, "/api/v1/me") == 40
    counted = value(
        samples, "worktrail_http_request_duration_seconds_count", route="/api/v1/me", method="GET"
    )
    assert counted == 40
    assert value(samples, "worktrail_live_feed_clients") == 0


def run_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("worktrail-metrics-*"))


def test_workers_report_one_set_on_the_main_port(tmp_path: Path) -> None:
    url, token = new_store(tmp_path)
    earlier = run_dirs()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # the run makes a directory of its own
    with serve(url, tmp_path, "--workers", "2") as server:
        made = run_dirs() - earlier
        assert made, "no directory for the run's metrics"
        hammer(server.base_url, token, 40)
        # whichever worker answers a scrape reports both workers' counts
        totals = {requests_of(scrape(server.base_url + "/metrics"), "/api/v1/me") for _ in range(8)}
    assert totals == {40}
    assert not any(path.exists() for path in made)  # removed when the run ended


def test_a_delivery_worker_serves_its_own_metrics(tmp_path: Path) -> None:
    url, token = new_store(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "WORKTRAIL_DATABASE_URL": url,
        "WORKTRAIL_WEBHOOKS_ALLOW_PRIVATE": "1",
        "WORKTRAIL_METRICS": f"127.0.0.1:{port}",
    }
    with (
        receiver() as hook,
        serve(
            url,
            tmp_path,
            env={"WORKTRAIL_WEBHOOK_WORKER": "0", "WORKTRAIL_WEBHOOKS_ALLOW_PRIVATE": "1"},
        ) as server,
        (tmp_path / "worker.log").open("w") as log,
    ):
        worker = subprocess.Popen(
            [sys.executable, "-m", "worktrail.cli", "worker"], env=env, stdout=log, stderr=log
        )
        try:
            headers = {"Authorization": f"Bearer {token}"}
            created = httpx.post(
                server.base_url + "/api/v1/webhooks", json={"url": hook.url}, headers=headers
            )
            assert created.status_code == 201, created.text
            httpx.post(
                server.base_url + "/api/v1/workspaces", json={"name": "W"}, headers=headers
            ).raise_for_status()
            hook.wait_for(1, timeout=60)
            samples = wait_until(
                "the worker's delivery",
                f"http://127.0.0.1:{port}/metrics",
                lambda s: value(s, "worktrail_webhook_deliveries_total", outcome="delivered") >= 1,
                timeout=60,
            )
        finally:
            worker.terminate()
            worker.wait(30)
    assert ("worktrail_webhook_delivery_lag_seconds", frozenset()) in samples
