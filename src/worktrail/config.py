"""Typed settings: environment (WORKTRAIL_*), then a TOML file, then the default.

Every setting is declared once in SETTINGS as (name, type, default, help); the README's
configuration table is checked against this list by a test.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    secret: bool = False

    @property
    def env(self) -> str:
        return "WORKTRAIL_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        str,
        "sqlite:///worktrail.db",
        "Where events live: sqlite:///path.db (embedded default) or postgresql://user@host/db.",
    ),
    Setting(
        "database_replica_urls",
        str,
        "",
        "Streaming replicas of the PostgreSQL primary that serve requests' reads, "
        "comma-separated postgresql:// URLs (empty: every read on the primary).",
    ),
    Setting(
        "replica_max_lag_seconds",
        int,
        5,
        "A replica further behind the primary than this serves no reads until it catches up.",
    ),
    Setting(
        "database_pooler",
        str,
        "",
        "pgbouncer: the database URLs lead to PgBouncer in transaction mode (no prepared "
        "statements, no LISTEN through it). Empty: they lead to PostgreSQL itself.",
    ),
    Setting(
        "database_listen_url",
        str,
        "",
        "A direct connection to the primary for commit notices (LISTEN). Empty: "
        "database_url, or behind a pooler none (other processes' commits seen by polling).",
    ),
    Setting("host", str, "127.0.0.1", "Address `worktrail serve` listens on."),
    Setting("port", int, 8000, "Port `worktrail serve` listens on."),
    Setting(
        "secret",
        str,
        "",
        "Key that signs cursors and sync tokens. Empty: one is generated and kept in the database.",
        secret=True,
    ),
    Setting("page_limit_default", int, 100, "Events per page when a request names no limit."),
    Setting("page_limit_max", int, 1000, "Largest page a request may ask for."),
    Setting("ingest_batch_max", int, 1000, "Most records one POST /api/v1/changes may carry."),
    Setting(
        "max_body_bytes",
        int,
        1_048_576,
        "Largest request body of a native write (bytes); larger ones get 413.",
    ),
    Setting(
        "max_ingest_bytes",
        int,
        16_777_216,
        "Largest request body of POST /api/v1/changes (bytes); larger ones get 413.",
    ),
    Setting("pool_size", int, 10, "Database connections kept open for readers (PostgreSQL)."),
    Setting(
        "threads",
        int,
        0,
        "Threads a server process runs requests' blocking work in at once (0: by database).",
    ),
    Setting("log_level", str, "info", "Server log level: debug, info, warning, error."),
    Setting(
        "log_format",
        str,
        "text",
        "Server log lines: text, or json (one JSON object a line).",
    ),
    Setting(
        "metrics",
        str,
        "on",
        "Prometheus metrics: off, on (GET /metrics on the server's port), or HOST:PORT (a "
        "listener of their own).",
    ),
    Setting(
        "rate_limit_per_minute",
        int,
        1500,
        "Requests per minute per token on the vendor dialects (0: unlimited).",
    ),
    Setting(
        "auth_failures_per_minute",
        int,
        30,
        "Failed authentications per minute per client address before further failures get "
        "429 (0: no limit).",
    ),
    Setting(
        "cors_origins",
        str,
        "",
        "Origins browsers may call the APIs from, comma-separated (empty: CORS off).",
    ),
    Setting("sync_token_ttl_hours", int, 24, "Lifetime of Asana sync tokens, in hours."),
    Setting(
        "commit_watch_ms",
        int,
        5,
        "SQLite: milliseconds between checks for other processes' commits, which wake live "
        "feeds and webhook workers at once (0: they poll every few seconds).",
    ),
    Setting(
        "live_poll_seconds",
        int,
        5,
        "Seconds a live feed waits, when no commit wakes it, before it looks for new events.",
    ),
    Setting(
        "webhook_worker",
        int,
        1,
        "1: `worktrail serve` delivers webhooks itself; 0: only `worktrail worker` processes do.",
    ),
    Setting(
        "webhook_timeout_seconds",
        int,
        10,
        "Seconds a webhook endpoint has to answer a delivery before it counts as failed.",
    ),
    Setting(
        "webhook_retry_schedule",
        str,
        "5,300,1800,7200,18000,36000,36000",
        "Seconds between a failed delivery and the next try, comma-separated; then the "
        "endpoint is disabled.",
    ),
    Setting(
        "webhooks_allow_private",
        int,
        0,
        "1: webhooks may target loopback and private addresses (tests, local demos).",
    ),
    Setting(
        "webhook_concurrency",
        int,
        256,
        "Deliveries a worker process has in flight at once, over all endpoints.",
    ),
    Setting(
        "webhook_endpoint_concurrency",
        int,
        8,
        "Deliveries a worker process has in flight at once to one endpoint.",
    ),
    Setting(
        "public_url",
        str,
        "",
        "Base URL clients use to reach the service (absolute links). Empty: from the request.",
    ),
    Setting(
        "integrity_host",
        str,
        "",
        "Host named in checkpoint origins, worktrail/<host>/org/<id>. Empty: this machine's "
        "hostname.",
    ),
    Setting(
        "integrity_key_file",
        str,
        "",
        "File of the Ed25519 key that signs checkpoints (made on first start, mode 0600). "
        "Empty: beside an SQLite store's file; on PostgreSQL, no checkpoints until it is set.",
    ),
    Setting(
        "checkpoint_interval_seconds",
        int,
        60,
        "Seconds after which an organization with new events gets a new checkpoint (0: never "
        "for time alone).",
    ),
    Setting(
        "checkpoint_events",
        int,
        1000,
        "New events after which an organization gets a new checkpoint at once (0: never for "
        "the count alone).",
    ),
    Setting(
        "retention_interval_minutes",
        int,
        60,
        "Minutes between the background runs of each organization's retention policy in "
        "`serve` and `worktrail worker` (0: never; `worktrail retention run` by hand).",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///worktrail.db"
    database_replica_urls: str = ""
    replica_max_lag_seconds: int = 5
    database_pooler: str = ""
    database_listen_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    secret: str = ""
    page_limit_default: int = 100
    page_limit_max: int = 1000
    ingest_batch_max: int = 1000
    max_body_bytes: int = 1_048_576
    max_ingest_bytes: int = 16_777_216
    pool_size: int = 10
    threads: int = 0
    log_level: str = "info"
    log_format: str = "text"
    metrics: str = "on"
    rate_limit_per_minute: int = 1500
    auth_failures_per_minute: int = 30
    cors_origins: str = ""
    sync_token_ttl_hours: int = 24
    commit_watch_ms: int = 5
    live_poll_seconds: int = 5
    webhook_worker: int = 1
    webhook_timeout_seconds: int = 10
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    webhooks_allow_private: int = 0
    webhook_concurrency: int = 256
    webhook_endpoint_concurrency: int = 8
    public_url: str = ""
    integrity_host: str = ""
    integrity_key_file: str = ""
    checkpoint_interval_seconds: int = 60
    checkpoint_events: int = 1000
    retention_interval_minutes: int = 60

    def with_overrides(self, **values: Any) -> Settings:
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def masked(self) -> dict[str, Any]:
        """The settings with secrets masked, for logs and `worktrail config`."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "****" if _BY_NAME[f.name].secret and value else value
        return out


def _coerce(setting: Setting, raw: Any, source: str) -> Any:
    if setting.type is int:
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{setting.name} from {source} must be an integer, got {raw!r}")
    return str(raw)


def load_settings(
    environ: dict[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Read settings from the environment, then the TOML file named by WORKTRAIL_CONFIG."""
    env = dict(os.environ if environ is None else environ)
    path = config_file or env.get("WORKTRAIL_CONFIG")
    file_values: dict[str, Any] = {}
    if path:
        try:
            file_values = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} (WORKTRAIL_CONFIG) does not exist")
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}")
        unknown = sorted(set(file_values) - set(_BY_NAME))
        if unknown:
            raise ConfigError(f"unknown settings in {path}: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = _coerce(setting, env[setting.env], setting.env)
        elif setting.name in file_values:
            values[setting.name] = _coerce(setting, file_values[setting.name], str(path))
    return Settings(**values)


def setting_sources(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Where load_settings takes each setting from: `environment (WORKTRAIL_…)`, `file
    (path)` or `default` (a file that cannot be read counts as none)."""
    env = dict(os.environ if environ is None else environ)
    path = env.get("WORKTRAIL_CONFIG")
    in_file: set[str] = set()
    if path:
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            in_file = set(tomllib.loads(Path(path).read_text()))
    return {
        s.name: f"environment ({s.env})"
        if s.env in env
        else f"file ({path})"
        if s.name in in_file
        else "default"
        for s in SETTINGS
    }
