"""API tokens, roles, and who a request acts as.

A request acts as one user of one organization (a `Principal`). What that user may read is
decided by workspace membership: owners and admins read everything; members and guests read
what lies in the workspaces they are members of (worktrail.query applies it to every read).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from .errors import Forbidden, NotFound, Unauthorized
from .model import Actor, EntityRow, EntityType, Role
from .store import Store

TOKEN_PREFIX = "wt_"


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


def create_token(store: Store, org_id: int, user_id: int, name: str) -> tuple[int, str]:
    """Mint a token for a user; only its hash is stored. Returns (token id, token)."""
    user = store.get_entity(org_id, user_id)
    if user is None or user.type is not EntityType.USER:
        raise NotFound(f"user {user_id} does not exist in organization {org_id}")
    token = new_token()
    token_id = store.insert_token(org_id, user_id, name, hash_token(token), token[:10])
    return token_id, token


def authenticate(store: Store, token: str | None) -> Principal:
    """The principal a bearer token acts as, or Unauthorized. One statement."""
    if not token:
        raise Unauthorized("missing API token: send 'Authorization: Bearer <token>'")
    found = store.find_token_user(hash_token(token))
    # The lookup is by hash; comparing again in constant time keeps timing flat.
    if found is None or not hmac.compare_digest(found.token.prefix, token[:10]):
        raise Unauthorized("invalid API token")
    if found.token.revoked_at is not None:
        raise Unauthorized("this API token has been revoked")
    user = found.user
    if user is None or user.deleted or user.type is not EntityType.USER:
        raise Unauthorized("the user of this API token no longer exists")
    return principal_for_user(user, token_id=found.token.id, workspaces=found.workspaces)


def principal_for_user(
    user: EntityRow, token_id: int | None = None, workspaces: frozenset[int] = frozenset()
) -> Principal:
    state = user.state
    return Principal(
        org_id=user.org_id,
        user_id=user.id,
        role=Role(state.get("role") or Role.MEMBER.value),
        actor=Actor(user.id, str(state.get("name") or ""), str(state.get("email") or "")),
        token_id=token_id,
        workspaces=workspaces,
    )


def check_can_write(principal: Principal) -> None:
    if principal.role is Role.GUEST:
        raise Forbidden("guests can read but not change anything")


def check_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("this needs an organization admin or owner")
