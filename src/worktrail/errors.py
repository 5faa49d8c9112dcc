"""worktrail's own exceptions. Driver errors are translated into these inside store/;
each API turns them into its own error shape in one handler."""

from __future__ import annotations

from typing import Any


class WorktrailError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(WorktrailError):
    status = 422
    title = "Invalid input"


class BadRequest(WorktrailError):
    status = 400
    title = "Bad request"


class NotFound(WorktrailError):
    status = 404
    title = "Not found"


class Unauthorized(WorktrailError):
    status = 401
    title = "Unauthorized"


class Forbidden(WorktrailError):
    status = 403
    title = "Forbidden"


class Conflict(WorktrailError):
    status = 409
    title = "Conflict"


class TooManyRequests(WorktrailError):
    """Refused for now; `retry_after` seconds later the same request may pass (every API
    sends it as `Retry-After`)."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class StoreError(WorktrailError):
    """The database failed in a way the client cannot fix (translated driver error)."""

    status = 503
    title = "Storage unavailable"
