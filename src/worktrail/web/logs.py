"""The server's log: configured once at startup, as text lines (the default) or JSON lines.

`log_config` gives the `worktrail` loggers a handler of their own on stderr (under `serve`
through uvicorn, which applies it in every worker process), and uvicorn's lines the same
format. Every line carries the request id of the request it was written for, when there
is one. The access log
(`worktrail.access`, written by RequestContextMiddleware) is one line per request with the
request id, organization, method, route template, status and duration; uvicorn's own
access log is turned off, since it prints raw paths and query strings, which may carry
cursors, sync tokens or signatures.

As a last line of defence, every line is scrubbed of what looks like a credential: API
tokens (`wt_…`), webhook secrets and signing keys (`whsec_…`, `whsk_…`), Standard Webhooks
signatures, credential-carrying query parameters and the value of an Authorization
header. The code never logs them; the scrubbing catches a mistake.
"""

from __future__ import annotations

import logging
import logging.config
import re
import time
from typing import Any

import orjson

from ..config import ConfigError
from ..context import current_request

LOG_FORMATS = ("text", "json")
# uvicorn's `trace` is below debug
LOG_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}
ACCESS_LOGGER = "worktrail.access"
# a record's fields that its text line's message already shows (names, in `extra`)
IN_MESSAGE = "in_message"

_SECRETS = (
    (re.compile(r"\bwt_[A-Za-z0-9_-]{8,}"), "wt_[redacted]"),
    (re.compile(r"\b(whsec|whsk)_[A-Za-z0-9+/=_-]+"), r"\1_[redacted]"),
    # query parameters that carry credentials (Worksection's `hash`, sync tokens...)
    (
        re.compile(r"(?i)\b(hash|signature|secret|token|sync|password|apikey|api_key)=[^&\s\"']+"),
        r"\1=[redacted]",
    ),
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
# (and uvicorn's colored copy of its message)
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def scrub(text: str) -> str:
    """`text` with anything that looks like a credential replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _fields(record: logging.LogRecord, shown: tuple[str, ...] = ()) -> dict[str, Any]:
    """The structured fields of a record: its `extra` but those `shown` already, and the
    current request id."""
    hidden = _STANDARD | {IN_MESSAGE, *shown}
    out = {k: v for k, v in record.__dict__.items() if k not in hidden}
    if "request_id" not in out:
        request_id = current_request.get().request_id
        if request_id:
            out["request_id"] = request_id
    return out


def _when(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """`2026-12-07T07:15:43.120Z INFO worktrail.access GET /api/v1/events 200 3.1ms request_id=…`"""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_when(record), record.levelname, record.name, record.getMessage()]
        shown = getattr(record, IN_MESSAGE, ())
        parts += [f"{k}={v}" for k, v in _fields(record, shown).items() if v is not None]
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
    """The logging level of a `log_level` setting."""
    level = LOG_LEVELS.get(log_level.lower())
    if level is None:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    return level


def log_config(log_level: str, log_format: str) -> dict[str, Any]:
    """The logging configuration of a server process (`logging.config.dictConfig`, and
    uvicorn's `log_config`, which each of its worker processes applies too): worktrail's
    loggers and uvicorn's own lines (startup, shutdown, errors) in one format on stderr;
    uvicorn's access log off (worktrail writes its own, `worktrail.access`)."""
    formatter(log_format)  # ConfigError for a bad one, before anything is configured
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"text": {"()": TextFormatter}, "json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "worktrail": {
                "handlers": ["stderr"],
                "level": level_of(log_level),
                "propagate": False,
            },
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure_logging(log_level: str, log_format: str) -> None:
    """Configure this process's logging as a server's (log_config), for processes that do
    not run uvicorn (`worktrail worker`)."""
    logging.config.dictConfig(log_config(log_level, log_format))
