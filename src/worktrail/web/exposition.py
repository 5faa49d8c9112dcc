"""Prometheus metrics served: where (the `metrics` setting), what a scrape holds, and the
files that let `serve --workers N` answer with one set.

`metrics` is `off`, `on` (GET /metrics on the server's own port, outside authentication
and the OpenAPI document) or `HOST:PORT`, a listener of its own (a private address the
API's clients cannot reach), run by the `serve` process itself.

A scrape holds the instruments of metrics.py, added up over the server's processes when
there are several (multiprocess mode: `PROMETHEUS_MULTIPROC_DIR`), and the probes: gauges
computed at scrape time, each from one cheap read of the database, so they are right
whichever process answers and cost nothing between scrapes.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from anyio import to_thread
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.responses import Response

from ..config import ConfigError
from ..diff import now_micros
from ..errors import WorktrailError
from ..store import Store

log = logging.getLogger("worktrail")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class MetricsPlacement:
    """Where the metrics are served, as the `metrics` setting says."""

    on_main_port: bool = False
    listen: tuple[str, int] | None = None  # a listener of its own


def metrics_placement(setting: str) -> MetricsPlacement:
    """The placement `off`, `on` or `HOST:PORT` names; ConfigError naming the setting."""
    value = setting.strip().lower()
    if value == "off":
        return MetricsPlacement()
    if value == "on":
        return MetricsPlacement(on_main_port=True)
    host, sep, port = setting.strip().rpartition(":")
    host = host.strip("[]")  # an IPv6 address in brackets
    if sep and host and port.isdigit() and 0 < int(port) < 65536:
        return MetricsPlacement(listen=(host, int(port)))
    raise ConfigError(
        f"metrics must be off, on or HOST:PORT (e.g. 127.0.0.1:9464), got {setting!r}"
    )


@dataclass(frozen=True)
class Probe:
    """A gauge read from the database when the metrics are scraped; None: nothing to say."""

    name: str
    help: str
    read: Callable[[], float | None]


class Probes:
    """The scrape-time gauges (a Collector). A probe that fails (the database is away) is
    left out of that scrape; the request metrics and readiness tell the rest.

    The hook for what the integrity feature will add: the age of the newest signed
    checkpoint, `worktrail_checkpoint_age_seconds`, is a Probe to append here once signed
    checkpoints exist (docs/operations.md has its alert rule ready)."""

    def __init__(self, probes: Iterable[Probe]) -> None:
        self.probes = list(probes)

    def collect(self) -> Iterator[Metric]:
        for probe in self.probes:
            try:
                value = probe.read()
            except WorktrailError:  # the store has logged why
                continue
            if value is not None:
                yield GaugeMetricFamily(probe.name, probe.help, value=value)


def store_probes(store: Store) -> Probes:
    """The probes of a server on `store`."""
    return Probes(
        [
            Probe(
                "worktrail_webhook_delivery_lag_seconds",
                "Age of the oldest webhook message that is due and not yet delivered, in "
                "seconds (0: none is waiting).",
                lambda: store.webhooks.delivery_lag(now_micros()),
            )
        ]
    )


class Scrape:
    """Everything a scrape holds (a Collector): this process's instruments, or every
    process's in multiprocess mode, and the probes."""

    def __init__(self, probes: Collector) -> None:
        self.probes = probes

    def collect(self) -> Iterator[Metric]:
        path = os.environ.get(MULTIPROC_ENV)
        if path:
            collector = MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]
            yield from collector.collect()  # type: ignore[no-untyped-call]
        else:
            yield from REGISTRY.collect()
        yield from self.probes.collect()


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    scrape: Scrape = request.app.state.scrape
    body = await to_thread.run_sync(generate_latest, scrape)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def start_listener(address: tuple[str, int], scrape: Scrape) -> Callable[[], None]:
    """Serve the scrape on a listener of its own (a thread); returns how to stop it."""
    from prometheus_client import start_http_server

    host, port = address
    server, thread = start_http_server(port, host, registry=scrape)
    log.info("metrics on http://%s:%s/metrics", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


@contextmanager
def multiprocess_dir(workers: int) -> Iterator[Path | None]:
    """The directory the processes of `serve --workers N` keep their metrics in, for the
    run: PROMETHEUS_MULTIPROC_DIR if it is set (the files of earlier runs removed), else
    a new temporary one, removed afterwards. One process needs none, unless the variable
    is set (prometheus_client then writes files from the start); only other processes'
    files are removed then."""
    given = os.environ.get(MULTIPROC_ENV)
    if workers <= 1 and not given:
        yield None
        return
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="worktrail-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    mine = f"_{os.getpid()}.db"
    for old in path.glob("*.db"):
        if workers > 1 or not old.name.endswith(mine):
            old.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        if not given:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(path, ignore_errors=True)


def process_stopped() -> None:
    """This server process is ending: in multiprocess mode, its gauges of what is open now
    (connections, live feeds) no longer count."""
    if os.environ.get(MULTIPROC_ENV):
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
