"""Managing API tokens: who may create, change and revoke which ones.

Owners and admins manage their organization's tokens; members and guests manage none
(403, whatever the token). An admin manages every user's tokens but an owner's: minting
an owner's token would let an admin act as the owner, and changing or revoking one would
let an admin lock the owner out. Owners manage all of them. No command reaches another
organization's tokens: they answer 404 as absent ones do.

The CLI is the operator's and manages tokens without these rules (cli.py).
"""

from __future__ import annotations

from ..auth import Principal, check_admin, create_token
from ..errors import Forbidden, InvalidInput, NotFound
from ..model import EntityType, Role
from ..store import Store, TokenChanges, TokenRow


def create(
    store: Store, principal: Principal, user_id: int | None, name: str, expires_at: int | None
) -> tuple[TokenRow, str]:
    """A new token for `user_id` (default: the principal's own user) and its secret."""
    check_admin(principal)
    user_id = principal.user_id if user_id is None else user_id
    user = store.get_entity(principal.org_id, user_id)
    if user is None or user.type is not EntityType.USER or user.deleted:
        raise InvalidInput(f"user {user_id} does not exist", field="user")
    _check_may_manage(principal, user.state.get("role"))
    token_id, secret = create_token(store, principal.org_id, user_id, name, expires_at)
    return _load(store, principal, token_id), secret


def update(store: Store, principal: Principal, token_id: int, changes: TokenChanges) -> TokenRow:
    """Rename a token or change its expiry."""
    _managed(store, principal, token_id)
    if not store.update_token(principal.org_id, token_id, changes):
        raise _absent(token_id)
    return _load(store, principal, token_id)


def revoke(store: Store, principal: Principal, token_id: int) -> TokenRow:
    """Revoke a token. Revoking a revoked token changes nothing (it keeps the time it was
    first revoked) and is no error, so a retried revocation answers the same."""
    token = _managed(store, principal, token_id)
    if token.revoked_at is None:
        store.revoke_token(principal.org_id, token_id)
    return _load(store, principal, token_id)


def _managed(store: Store, principal: Principal, token_id: int) -> TokenRow:
    """The token, if the principal may manage it: 403 before 404, so that members learn
    nothing about which tokens exist."""
    check_admin(principal)
    token = _load(store, principal, token_id)
    user = store.get_entity(principal.org_id, token.user_id)
    _check_may_manage(principal, user.state.get("role") if user else None)
    return token


def _check_may_manage(principal: Principal, role: object) -> None:
    if role == Role.OWNER.value and principal.role is not Role.OWNER:
        raise Forbidden("only an owner can manage an owner's API tokens")


def _load(store: Store, principal: Principal, token_id: int) -> TokenRow:
    token = store.get_token(principal.org_id, token_id)
    if token is None:
        raise _absent(token_id)
    return token


def _absent(token_id: int) -> NotFound:
    return NotFound(f"API token {token_id} does not exist")
