"""The server's log: configured once at startup, as text lines (the default) or JSON lines.

`configure_logging` gives the `worktrail` loggers a handler of their own on stderr, so
their lines are written whatever uvicorn does with its own loggers. Every line carries the
request id of the request it was written for, when there is one. The access log
(`worktrail.access`, written by RequestContextMiddleware) is one line per request with the
request id, organization, method, route template, status and duration; uvicorn's own
access log is turned off, since it prints raw paths and query strings, which may carry
cursors, sync tokens or signatures.

As a last line of defence, every line is scrubbed of what looks like a credential: API
tokens (`wt_…`), webhook secrets (`whsec_…`), Standard Webhooks signatures and the value
of an Authorization header. The code never logs them; the scrubbing catches a mistake.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, TextIO

import orjson

from ..config import ConfigError
from ..context import current_request

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
ACCESS_LOGGER = "worktrail.access"

_SECRETS = (
    (re.compile(r"\bwt_[A-Za-z0-9_-]{8,}"), "wt_[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), "whsec_[redacted]"),
    (re.compile(r"\b(v1a?),[A-Za-z0-9+/=]{16,}"), r"\1,[redacted]"),
    (re.compile(r"(?i)\b(bearer|oauth|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 [redacted]"),
    (
        re.compile(
            r"(?i)\b(authorization|x-api-key)([\"']?\s*[:=]\s*[\"']?)"
            r"(?!(?:bearer|oauth|basic) )[^\s,;\"']+"
        ),
        r"\1\2[redacted]",
    ),
)

# attributes every LogRecord has: the rest were passed as `extra` and belong in the line
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def scrub(text: str) -> str:
    """`text` with anything that looks like a credential replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of a record: its `extra`, and the current request id."""
    out = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
    if "request_id" not in out:
        request_id = current_request.get().request_id
        if request_id:
            out["request_id"] = request_id
    return out


def _when(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """`2026-12-07T07:15:43.120Z INFO worktrail.access GET /api/v1/events 200 request_id=…`"""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_when(record), record.levelname, record.name, record.getMessage()]
        parts += [f"{k}={v}" for k, v in _fields(record).items() if v is not None]
        line = " ".join(str(p) for p in parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return scrub(line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the fields, the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _when(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return scrub(orjson.dumps(out, default=str).decode())


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of a `log_format` setting; ConfigError naming the setting otherwise."""
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"log_format must be text or json, got {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def level_of(log_level: str) -> int:
    """The logging level of a `log_level` setting (uvicorn's `trace` is below debug)."""
    name = log_level.lower()
    if name not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    return 5 if name == "trace" else logging.getLevelName(name.upper())  # type: ignore[no-any-return]


def configure_logging(log_level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Give the `worktrail` loggers one handler (stderr), the level and the format of the
    settings. Called once per process at startup; calling it again replaces the handler."""
    logger = logging.getLogger("worktrail")
    for handler in list(logger.handlers):
        if getattr(handler, "worktrail", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.worktrail = True  # type: ignore[attr-defined]
    handler.setFormatter(formatter(log_format))
    logger.addHandler(handler)
    logger.setLevel(level_of(log_level))
    logger.propagate = False


def uvicorn_log_config(log_format: str) -> dict[str, Any]:
    """uvicorn's logging configuration: its own lines (startup, shutdown, errors) in the
    same format as worktrail's, its access log off (worktrail writes its own)."""
    kind = "json" if log_format == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"()": TextFormatter},
            "json": {"()": JsonFormatter},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": kind,
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
