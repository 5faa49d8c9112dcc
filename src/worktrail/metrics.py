"""What the server counts, for Prometheus: the instruments, made once per process.

Each instrument is updated where the thing happens (a request ends, a write commits, a
delivery is answered) at the cost of a lock and an addition: nothing on the request path
asks the database. What only the database knows (how late webhook deliveries are) is
computed when /metrics is scraped, by a probe (web/exposition.py).

Labels never carry organization names, ids or user data: a route's template (never its
path), a method, a status, an outcome. Their values come from small fixed sets, so the
number of series stays bounded whatever clients send.

Under `worktrail serve --workers N` every process writes its values to files in
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, chosen when the library
is first imported, which is why `serve` sets the directory before starting the workers)
and a scrape, answered by any of them, adds them up: one set for the whole server. The
gauges of things that are open now (connections, live feeds) count live processes only.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# no `_created` series beside every counter and histogram: Prometheus has no use for them
disable_created_metrics()  # type: ignore[no-untyped-call]

# HTTP methods a label may name; anything else is counted as OTHER
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
UNMATCHED = "unmatched"  # the route label of a request no route took (404s, probes of scanners)

REQUESTS = Counter(
    "worktrail_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ("route", "method", "status"),
)
REQUEST_SECONDS = Histogram(
    "worktrail_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template and "
    "method (a live feed's lasts as long as the client stays).",
    ("route", "method"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
POOL_IN_USE = Gauge(
    "worktrail_db_connections_in_use",
    "Database connections checked out of the pool now, by role (read, write; one pool "
    "serves both on PostgreSQL).",
    ("role",),
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "worktrail_db_connections_waiting",
    "Threads waiting for a database connection from the pool now, by role.",
    ("role",),
    multiprocess_mode="livesum",
)
DB_READS = Counter(
    "worktrail_db_reads",
    "Read transactions, by the server that served them: `primary`, or a read replica's "
    "host:port (database_replica_urls).",
    ("server",),
)
REPLICA_UP = Gauge(
    "worktrail_replica_up",
    "1 while a read replica serves reads; 0 while it is down, lagging or not a standby.",
    ("replica",),
    multiprocess_mode="livemin",
)
REPLICA_LAG = Gauge(
    "worktrail_replica_lag_seconds",
    "How far behind the primary a read replica was when last measured (about once a "
    "second while it serves reads).",
    ("replica",),
    multiprocess_mode="livemax",
)
EVENTS_APPENDED = Counter(
    "worktrail_events_appended",
    "Events committed to the store, by every way in (API writes, ingest, the commands).",
)
INGEST_BATCH = Histogram(
    "worktrail_ingest_batch_records",
    "Records per accepted POST /api/v1/changes batch.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
LIVE_FEED_CLIENTS = Gauge(
    "worktrail_live_feed_clients",
    "Clients connected to a live feed now (GET /api/v1/events/stream, the web UI's).",
    multiprocess_mode="livesum",
)
LIVE_FEED_BEHIND = Counter(
    "worktrail_live_feed_behind",
    "Times a live-feed client held more unsent bytes than its backlog allows: its feed "
    "left the shared fan-out to catch up by itself at the client's pace.",
)
RATE_LIMITED = Counter(
    "worktrail_rate_limited",
    "Requests refused with 429, by limit: `requests` (a token's requests per minute on the "
    "vendor dialects), `auth_failures` (failed authentications of one address).",
    ("limit",),
)
WEBHOOK_DELIVERIES = Counter(
    "worktrail_webhook_deliveries",
    "Webhook delivery attempts (pings and heartbeats too), by outcome: delivered, retrying "
    "(failed, to be tried again), failed (given up on).",
    ("outcome",),
)


# every value of a fixed label set exists from the start (at 0), so a rate or an alert over
# it has a series to work with before the first rejection or delivery
for _limit in ("requests", "auth_failures"):
    RATE_LIMITED.labels(_limit)
for _outcome in ("delivered", "retrying", "failed"):
    WEBHOOK_DELIVERIES.labels(_outcome)


def method_label(method: str) -> str:
    """A request's method as a label: one of METHODS, else OTHER."""
    return method if method in METHODS else "OTHER"


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count an answered request and the time it took."""
    method = method_label(method)
    REQUESTS.labels(route, method, str(status)).inc()
    REQUEST_SECONDS.labels(route, method).observe(seconds)
