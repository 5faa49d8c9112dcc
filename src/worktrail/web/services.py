"""The service objects a request works with, made once per application."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from .. import metrics
from ..auth import Principal, authenticate, authenticate_hash
from ..config import Settings
from ..context import current_request, note_org
from ..diff import now_micros
from ..errors import TooManyRequests, Unauthorized, WorktrailError
from ..query import CursorCodec, Reader
from ..store import Store
from ..write import Notary, Writer
from .authlimit import AuthFailureLimiter
from .ratelimit import RateLimiter


@dataclass
class Services:
    """What the routes of every API share. Routes read through `reader()` (the read door)
    and write through `writer`; the store itself is this layer's, for authentication."""

    settings: Settings
    store: Store
    writer: Writer
    secret: str  # signs cursors and sync tokens (Settings.secret, else kept in the database)
    cursors: CursorCodec
    rate_limiter: RateLimiter
    auth_failures: AuthFailureLimiter
    notary: Notary  # signs checkpoints
    # now, in microseconds since the epoch: where time windows end (tests set it)
    clock: Callable[[], int] = field(default=now_micros)

    @classmethod
    def create(cls, settings: Settings, store: Store) -> Services:
        secret = store.server_secret()
        return cls(
            settings=settings,
            store=store,
            writer=Writer(store),
            secret=secret,
            cursors=CursorCodec(secret),
            rate_limiter=RateLimiter(settings.rate_limit_per_minute),
            auth_failures=AuthFailureLimiter(settings.auth_failures_per_minute),
            notary=Notary(store, settings),
        )

    def authenticate(self, token: str | None) -> Principal:
        """The principal an API token acts as (one statement), or Unauthorized; once the
        client has failed too often, TooManyRequests instead (see authlimit.py)."""
        try:
            principal = authenticate(self.store, token, self.clock())
        except Unauthorized as exc:
            raise self.refuse_authentication(exc) from None
        note_org(principal.org_id)
        return principal

    def authenticate_session(self, token_hash: str) -> Principal:
        """The principal of a web UI session, which keeps its token's hash: as
        `authenticate`, so a revoked or expired token ends the session at once."""
        principal = authenticate_hash(self.store, token_hash, now=self.clock())
        note_org(principal.org_id)
        return principal

    def refuse_authentication(self, error: WorktrailError) -> WorktrailError:
        """Count a failed authentication of this request's client: the error to raise is
        `error`, or TooManyRequests once the client is past its allowance. Each API's
        own authentication failures (bad signatures, a foreign organization) come here."""
        wait = self.auth_failures.failed(current_request.get().client_ip)
        if wait is None:
            return error
        metrics.RATE_LIMITED.labels("auth_failures").inc()
        return TooManyRequests(
            "too many failed authentications from this address; retry later",
            retry_after=wait,
        )

    def reader(self, principal: Principal) -> Reader:
        """The read door as this principal."""
        return Reader.of(self.store, principal)

    def whole_reader(self, org_id: int) -> Reader:
        """The read door onto an organization's whole history (its owners' view), for a
        request that acts in the organization as a whole (a vendor admin API)."""
        note_org(org_id)
        return Reader.whole(self.store, org_id)

    def admin_keys(self) -> list[tuple[int, str]]:
        """(organization id, admin API key) of every organization: vendor admin APIs sign
        requests with the key and name no organization."""
        return [(org.id, org.admin_api_key) for org in self.store.list_orgs()]


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
