"""API tokens, roles, and who a request acts as.

A request acts as one user of one organization (a `Principal`). What that user may read is
decided by workspace membership: owners and admins read everything; members and guests read
what lies in the workspaces they are members of (worktrail.query applies it to every read).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from .context import current_session
from .diff import now_micros
from .errors import Forbidden, NotFound, StoreError, Unauthorized
from .model import Actor, EntityRow, EntityType, Role
from .store import Store

TOKEN_PREFIX = "wt_"
# A token's last use is recorded to the minute: authentication, which only reads, writes
# it only when the recorded time is older than this (microseconds).
TOUCH_INTERVAL = 60 * 1_000_000

log = logging.getLogger("worktrail")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: one user of one organization, and the workspaces that user
    is a member of (as they were when the request was authenticated)."""

    org_id: int
    user_id: int
    role: Role
    actor: Actor
    token_id: int | None = None
    workspaces: frozenset[int] = frozenset()
    # how far retention had pruned the organization when the request was authenticated
    # ((prefix's last seq, any run's last seq), None where unknown): Reader.check_position
    pruned: tuple[int | None, int | None] | None = None

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)

    @property
    def visible_workspaces(self) -> frozenset[int] | None:
        """The workspaces whose history this principal may read; None: all of them."""
        return None if self.is_admin else self.workspaces


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(
    store: Store, org_id: int, user_id: int, name: str, expires_at: int | None = None
) -> tuple[int, str]:
    """Mint a token for a user; only its hash is stored. Returns (token id, token)."""
    user = store.get_entity(org_id, user_id)
    if user is None or user.type is not EntityType.USER or user.deleted:
        raise NotFound(f"user {user_id} does not exist in organization {org_id}")
    token = new_token()
    token_id = store.insert_token(
        org_id, user_id, name, hash_token(token), token[:10], expires_at=expires_at
    )
    return token_id, token


def authenticate(store: Store, token: str | None, now: int | None = None) -> Principal:
    """The principal a bearer token acts as, or Unauthorized. One statement, and a second
    (a write) when the token's last use on record is more than TOUCH_INTERVAL old."""
    if not token:
        raise Unauthorized("missing API token: send 'Authorization: Bearer <token>'")
    return authenticate_hash(store, hash_token(token), token[:10], now)


def authenticate_hash(
    store: Store, token_hash: str, prefix: str | None = None, now: int | None = None
) -> Principal:
    """`authenticate` by the token's hash (what a signed session of the web UI keeps
    instead of the token), with its prefix checked again when it is known."""
    found = store.find_token_user(token_hash)
    # The lookup is by hash; comparing again in constant time keeps timing flat.
    if found is None or (
        prefix is not None and not hmac.compare_digest(found.token.prefix, prefix)
    ):
        raise Unauthorized("invalid API token")
    row = found.token
    if row.revoked_at is not None:
        raise Unauthorized("this API token has been revoked")
    now = now_micros() if now is None else now
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("this API token has expired")
    user = found.user
    if user is None or user.deleted or user.type is not EntityType.USER:
        raise Unauthorized("the user of this API token no longer exists")
    if row.last_used_at is None or row.last_used_at <= now - TOUCH_INTERVAL:
        _touch(store, row.id, now)
    session = current_session.get()
    if session is not None:  # read-your-writes on read replicas (store/replicas.py)
        session.token_id, session.org_id = row.id, row.org_id
        session.read_floor = found.read_floor
    return principal_for_user(
        user, token_id=row.id, workspaces=found.workspaces, pruned=found.pruned
    )


def _touch(store: Store, token_id: int, now: int) -> None:
    """Record a use of the token. Bookkeeping: a database that cannot take the write now
    must not fail the request the token was good for."""
    try:
        store.touch_token(token_id, now, stale_before=now - TOUCH_INTERVAL)
    except StoreError as exc:
        log.warning("could not record the use of API token %s: %s", token_id, exc.detail)


def principal_for_user(
    user: EntityRow,
    token_id: int | None = None,
    workspaces: frozenset[int] = frozenset(),
    pruned: tuple[int | None, int | None] | None = None,
) -> Principal:
    state = user.state
    return Principal(
        org_id=user.org_id,
        user_id=user.id,
        role=Role(state.get("role") or Role.MEMBER.value),
        actor=Actor(user.id, str(state.get("name") or ""), str(state.get("email") or "")),
        token_id=token_id,
        workspaces=workspaces,
        pruned=pruned,
    )


def check_can_write(principal: Principal) -> None:
    if principal.role is Role.GUEST:
        raise Forbidden("guests can read but not change anything")


def check_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("this needs an organization admin or owner")


def check_owner(principal: Principal) -> None:
    if principal.role is not Role.OWNER:
        raise Forbidden("this needs an organization owner")
