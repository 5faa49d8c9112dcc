"""API tokens, roles and what a principal may read and write."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from .errors import Forbidden, NotFound, Unauthorized
from .model import Actor, EntityType, Role
from .store import EntityRow, Store

TOKEN_PREFIX = "wt_"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: one user of one organization."""

    org_id: int
    user_id: int
    role: Role
    actor: Actor
    token_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


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
    """The principal a bearer token acts as, or Unauthorized."""
    if not token:
        raise Unauthorized("missing API token: send 'Authorization: Bearer <token>'")
    found = store.find_token_user(hash_token(token))
    # The lookup is by hash; comparing again in constant time keeps timing flat.
    if found is None or not hmac.compare_digest(found[0].prefix, token[:10]):
        raise Unauthorized("invalid API token")
    row, user = found
    if row.revoked_at is not None:
        raise Unauthorized("this API token has been revoked")
    if user is None or user.deleted or user.type is not EntityType.USER:
        raise Unauthorized("the user of this API token no longer exists")
    return principal_for_user(user, token_id=row.id)


def principal_for_user(user: EntityRow, token_id: int | None = None) -> Principal:
    state = user.state
    return Principal(
        org_id=user.org_id,
        user_id=user.id,
        role=Role(state.get("role") or Role.MEMBER.value),
        actor=Actor(user.id, str(state.get("name") or ""), str(state.get("email") or "")),
        token_id=token_id,
    )


def visible_workspaces(store: Store, principal: Principal) -> frozenset[int] | None:
    """Workspaces the principal may read: None means all (admins and owners)."""
    if principal.is_admin:
        return None
    visible: set[int] = set()
    after: int | None = None
    while True:
        page = store.list_entities(
            principal.org_id,
            EntityType.WORKSPACE,
            after_id=after,
            limit=500,
            include_deleted=True,
        )
        visible.update(w.id for w in page if principal.user_id in (w.state.get("members") or []))
        if len(page) < 500:
            return frozenset(visible)
        after = page[-1].id


def workspace_of(store: Store, entity: EntityRow) -> int | None:
    """The workspace an entity currently lies in (None for org-level entities)."""
    current: EntityRow | None = entity
    for _ in range(64):
        if current is None:
            return None
        if current.type is EntityType.WORKSPACE:
            return current.id
        if current.type in (EntityType.ORGANIZATION, EntityType.USER):
            return None
        if current.container_id is None:
            return None
        current = store.get_entity(entity.org_id, current.container_id)
    return None


def check_can_read(store: Store, principal: Principal, entity: EntityRow) -> None:
    """Raise NotFound (not Forbidden: ids of others' workspaces are not disclosed)."""
    if entity.org_id != principal.org_id:
        raise NotFound(f"{entity.type.value} {entity.id} does not exist")
    if principal.is_admin or entity.type in (EntityType.ORGANIZATION, EntityType.USER):
        return
    visible = visible_workspaces(store, principal) or frozenset()
    if workspace_of(store, entity) not in visible:
        raise NotFound(f"{entity.type.value} {entity.id} does not exist")


def check_can_write(principal: Principal) -> None:
    if principal.role is Role.GUEST:
        raise Forbidden("guests can read but not change anything")


def check_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("this needs an organization admin or owner")
