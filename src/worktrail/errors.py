"""worktrail's own exceptions. Driver errors are translated into these inside store/;
each API turns them into its own error shape in one handler."""

from __future__ import annotations

from typing import Any

# Seconds a client is asked to wait (Retry-After) when the database is away. A request that
# comes back finds the service as soon as the database is: each connection is tested as it
# is taken from the pool (pool_pre_ping), so nothing needs resetting first.
RETRY_AFTER_SECONDS = 2


class WorktrailError(Exception):
    """An error with an HTTP status, a detail for the client, extra members for the error
    body and headers for the response (Allow, Retry-After...)."""

    status = 400
    title = "Bad request"
    headers: dict[str, str]

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers = dict(headers or {})


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
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **extra)
        self.retry_after = retry_after


class StoreError(WorktrailError):
    """The database failed in a way the client cannot fix (translated driver error): it is
    away or refused the work. Nothing was written; the same request may be retried, after
    `retry_after` seconds (the Retry-After header)."""

    status = 503
    title = "Storage unavailable"
    retry_after: int | None = RETRY_AFTER_SECONDS

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        wait = {"Retry-After": str(self.retry_after)} if self.retry_after else {}
        super().__init__(detail, headers={**wait, **(headers or {})}, **extra)


class StorageFull(StoreError):
    """The database's disk is full: nothing was written, and writes fail until an operator
    frees space (reads go on). No Retry-After: waiting alone does not help."""

    status = 507
    title = "Insufficient storage"
    retry_after = None


class PayloadTooLarge(WorktrailError):
    """A request body over its size limit, or JSON over a structural limit (nesting,
    string, array or object size)."""

    status = 413
    title = "Payload too large"


class UnsupportedMediaType(WorktrailError):
    status = 415
    title = "Unsupported media type"


class UriTooLong(WorktrailError):
    status = 414
    title = "URI too long"


class Pruned(WorktrailError):
    """A position (cursor, sync token, page anchor, time window) that reaches events the
    retention policy removed: continuing would skip them silently. Each API answers in its
    own shape (the native one 410); the client starts again from the history that is kept."""

    status = 410
    title = "Pruned by retention"
