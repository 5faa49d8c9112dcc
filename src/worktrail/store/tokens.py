"""API tokens in the store: minting, the lookup that authenticates every request, listing,
renaming, revoking and the record of their use. A part of `Store` (base.py), which
inherits it: kept apart so that each module stays one concept."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Select, bindparam, insert, or_, select, update

from ..context import current_session
from ..diff import now_micros
from ..model import MAX_ID
from . import schema as t
from .rows import (
    TOKEN_COLUMNS,
    EntityResult,
    TokenChanges,
    TokenRow,
    TokenUser,
    entity_from_row,
    id_list,
)

if TYPE_CHECKING:
    from .replicas import ReplicaSet

_w = t.token_writes.c
_LAST_WRITE = select(_w.last_write_at).where(
    _w.org_id == bindparam("org_id"), _w.token_id == bindparam("token_id")
)


class TokenMethods:
    """The token methods of `Store`."""

    replicas: ReplicaSet | None
    _token_user: Select[Any]
    _token_user_floor: Select[Any]

    if TYPE_CHECKING:

        def read(self, at: tuple[int, int] | None = None) -> AbstractContextManager[Connection]: ...
        def read_primary(self) -> AbstractContextManager[Connection]: ...
        def _write_conn(self, note: bool = True) -> AbstractContextManager[Connection]: ...
        def _upsert(self, table: Any) -> Any: ...

    def insert_token(
        self,
        org_id: int,
        user_id: int,
        name: str,
        token_hash: str,
        prefix: str,
        expires_at: int | None = None,
    ) -> int:
        with self._write_conn() as conn:
            return int(
                conn.execute(
                    insert(t.tokens)
                    .values(
                        org_id=org_id,
                        user_id=user_id,
                        name=name,
                        token_hash=token_hash,
                        prefix=prefix,
                        created_at=now_micros(),
                        expires_at=expires_at,
                    )
                    .returning(t.tokens.c.id)
                ).scalar_one()
            )

    def find_token_user(self, token_hash: str) -> TokenUser | None:
        """The token with this hash, the user it acts as and that user's workspaces, in one
        statement: every authenticated request starts with this. With read replicas it
        reads the primary, and gives the request's read floor (replicas.py): the token's
        last write is a second point read, in its organization (token_writes)."""
        if self.replicas is None:
            with self.read() as conn:
                row = conn.execute(self._token_user, {"token_hash": token_hash}).first()
            return None if row is None else _token_user_of(tuple(row))
        with self.read_primary() as conn:
            row = conn.execute(self._token_user_floor, {"token_hash": token_hash}).first()
            if row is None:
                return None
            *values, position = tuple(row)
            found = _token_user_of(tuple(values))
            last_write_at = conn.scalar(
                _LAST_WRITE, {"org_id": found.token.org_id, "token_id": found.token.id}
            )
        recent = now_micros() - int(self.replicas.floor_seconds * 1_000_000)
        if last_write_at is None or last_write_at < recent:
            return found
        return replace(found, read_floor=int(position))

    def list_tokens(
        self, org_id: int, *, after_id: int | None = None, limit: int | None = None
    ) -> list[TokenRow]:
        """The organization's tokens in id order, keyset-paged by `after_id`."""
        c = t.tokens.c
        stmt = select(*TOKEN_COLUMNS).where(c.org_id == org_id)
        if after_id is not None:
            stmt = stmt.where(c.id > after_id)
        with self.read() as conn:
            rows = conn.execute(stmt.order_by(c.id).limit(limit)).all()
        return [TokenRow(**r._mapping) for r in rows]

    def get_token(self, org_id: int, token_id: int) -> TokenRow | None:
        """One token of the organization (None: absent, or another organization's)."""
        if not 0 < token_id <= MAX_ID:
            return None
        c = t.tokens.c
        with self.read() as conn:
            row = conn.execute(
                select(*TOKEN_COLUMNS).where(c.org_id == org_id, c.id == token_id)
            ).first()
        return TokenRow(**row._mapping) if row else None

    def update_token(self, org_id: int, token_id: int, changes: TokenChanges) -> bool:
        """Rename a token or change its expiry; False when the organization has no such
        token. Only the columns TokenChanges names can change."""
        c = t.tokens.c
        values = {k: v for k, v in changes.items() if k in TokenChanges.__annotations__}
        if not values:
            return self.get_token(org_id, token_id) is not None
        with self._write_conn() as conn:
            result = conn.execute(
                update(t.tokens).where(c.org_id == org_id, c.id == token_id).values(**values)
            )
        return bool(result.rowcount)

    def revoke_token(self, org_id: int, token_id: int) -> bool:
        """Revoke a token; False when there is no such token or it is already revoked."""
        c = t.tokens.c
        with self._write_conn() as conn:
            result = conn.execute(
                update(t.tokens)
                .where(c.org_id == org_id, c.id == token_id, c.revoked_at.is_(None))
                .values(revoked_at=now_micros())
            )
        return bool(result.rowcount)

    def _note_write(self, conn: Connection) -> None:
        """With read replicas, record in the write transaction that the request's token
        wrote now: its reads keep to replicas that have replayed this (replicas.py)."""
        session = current_session.get()
        if self.replicas is None or session is None or session.token_id is None:
            return
        w = t.token_writes
        now = now_micros()
        conn.execute(
            self._upsert(w)
            .values(org_id=session.org_id, token_id=session.token_id, last_write_at=now)
            .on_conflict_do_update(
                index_elements=[w.c.org_id, w.c.token_id], set_={"last_write_at": now}
            )
        )

    def touch_token(self, token_id: int, now: int, stale_before: int) -> None:
        """Record a use of the token at `now`, unless one at or after `stale_before` is
        recorded already (another request or process was first). A write: authentication
        calls it only when the time it read is stale, so at most about once a minute per
        token, and on SQLite it goes through the one writer connection like every write."""
        c = t.tokens.c
        stale = or_(c.last_used_at.is_(None), c.last_used_at < stale_before)
        with self._write_conn(note=False) as conn:
            conn.execute(update(t.tokens).where(c.id == token_id, stale).values(last_used_at=now))


def _token_user_of(row: tuple[Any, ...]) -> TokenUser:
    *values, through, last = row  # and how far retention pruned (lookups.py)
    token = TokenRow(*values[: len(TOKEN_COLUMNS)])
    user = values[len(TOKEN_COLUMNS) : -1]
    if user[0] is None:
        return TokenUser(token, None, frozenset(), (through, last))
    found = entity_from_row(EntityResult._make(user))
    return TokenUser(token, found, id_list(values[-1]), (through, last))
