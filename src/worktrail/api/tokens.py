"""The organization's API tokens, managed by its owners and admins (members and guests:
403). Who may manage whose tokens is decided in write/tokens.py: admins every user's but
an owner's.

    GET    /api/v1/tokens               the tokens, in id order, keyset-paged by `after`
    POST   /api/v1/tokens               {"name", "user"?, "expires_at"? | "expires_in_days"?}
                                        → 201 with the secret `token`, shown this once
    GET    /api/v1/tokens/{id}          one token
    PATCH  /api/v1/tokens/{id}          {"name"?, "expires_at"? (null: never) | "expires_in_days"?}
    DELETE /api/v1/tokens/{id}          revoke; also POST /api/v1/tokens/{id}/revoke. Revoking
                                        a revoked token answers 200 with it, unchanged

A token reads as its id, name, user, the first characters of its secret (`prefix`, to
recognise it by), `status` (active, expired or revoked) and its times; never the secret,
which the store does not keep, nor the hash it keeps instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from ..auth import Principal, check_admin
from ..diff import datetime_to_micros, micros_to_iso, parse_datetime
from ..errors import InvalidInput
from ..model import MAX_ID, EntityRow
from ..query import Reader
from ..web import params as p
from ..web.deps import PrincipalDep, ReaderDep, ServicesDep
from ..web.jsonbody import json_object
from ..web.openapi import parameters, query
from ..web.services import Services
from ..write import TokenChanges, TokenRow
from .schemas import request_body

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])

JsonObject = Annotated[dict[str, Any], Depends(json_object)]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]
NAME_MAX = 200
DAYS_MAX = 36_500  # a century: a token that should never expire has no expiry instead
DAY = 86_400 * 1_000_000  # microseconds


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def token_json(token: TokenRow, users: Mapping[int, EntityRow], now: int) -> dict[str, Any]:
    """A token as the API shows it: everything but its secret."""
    user = users.get(token.user_id)
    if token.revoked_at is not None:
        status = "revoked"
    elif token.expires_at is not None and token.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return {
        "id": token.id,
        "name": token.name,
        "user": {"id": token.user_id, "name": user.state.get("name") if user else None},
        "prefix": token.prefix,
        "status": status,
        "created_at": _iso(token.created_at),
        "last_used_at": _iso(token.last_used_at),
        "expires_at": _iso(token.expires_at),
        "revoked_at": _iso(token.revoked_at),
    }


def _iso(micros: int | None) -> str | None:
    return None if micros is None else micros_to_iso(micros)


def _one(
    reader: Reader, row: TokenRow, now: int, status: int = 200, secret: str | None = None
) -> Response:
    body = token_json(row, reader.names([row.user_id]), now)
    if secret is not None:
        body["token"] = secret  # on creation, this once; from then on only its prefix
    return json_response({"data": body}, status)


# -- reading a body ---------------------------------------------------------------------


def _check_keys(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"unknown field(s): {', '.join(unknown)}; known: {', '.join(allowed)}",
            field=unknown[0],
        )


def _name(value: Any) -> str:
    """A token's name: 1 to 200 printable characters (it is shown in terminals)."""
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > NAME_MAX or not text.isprintable():
        raise InvalidInput(f"'name' must be 1 to {NAME_MAX} printable characters", field="name")
    return text


def _expiry(body: dict[str, Any], now: int) -> int | None:
    """The expiry `expires_at` (ISO 8601 with a zone; null: never) or `expires_in_days`
    names, in microseconds."""
    if "expires_at" in body and "expires_in_days" in body:
        raise InvalidInput("give 'expires_at' or 'expires_in_days', not both", field="expires_at")
    if "expires_in_days" in body:
        days = body["expires_in_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= DAYS_MAX:
            raise InvalidInput(
                f"'expires_in_days' must be an integer from 1 to {DAYS_MAX}",
                field="expires_in_days",
            )
        return now + days * DAY
    raw = body.get("expires_at")
    if raw is None:
        return None
    try:
        return datetime_to_micros(parse_datetime(raw))
    except (TypeError, ValueError):
        raise InvalidInput(
            "'expires_at' must be an ISO-8601 date-time with a zone, e.g. 2027-01-31T00:00:00Z",
            field="expires_at",
        )


def _user(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidInput("'user' must be a user id", field="user")
    return value


# -- routes -----------------------------------------------------------------------------


@router.get(
    "",
    summary="List API tokens (admins)",
    openapi_extra=parameters(
        query("after", {"type": "integer", "minimum": 0, "maximum": MAX_ID}, "next_after"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
    ),
)
def list_tokens(
    request: Request, services: ServicesDep, principal: PrincipalDep, reader: ReaderDep
) -> Response:
    check_admin(principal)
    qp = request.query_params
    p.reject_unknown(qp, ("after", "limit"))
    limit = p.int_param(qp, "limit", 100, 1, services.settings.page_limit_max) or 100
    after = p.int_param(qp, "after", None, 0, MAX_ID)
    rows, next_after = reader.tokens(after, limit)
    users = reader.names(r.user_id for r in rows)
    now = services.clock()
    return json_response(
        {
            "data": [token_json(r, users, now) for r in rows],
            "has_more": next_after is not None,
            "next_after": next_after,
        }
    )


@router.post(
    "",
    status_code=201,
    summary="Create an API token (admins)",
    openapi_extra=request_body(
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
                "user": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID},
                "expires_at": {"type": ["string", "null"], "format": "date-time"},
                "expires_in_days": {"type": "integer", "minimum": 1, "maximum": DAYS_MAX},
            },
        }
    ),
)
def create_token(
    principal: PrincipalDep, body: JsonObject, services: ServicesDep, reader: ReaderDep
) -> Response:
    check_admin(principal)
    _check_keys(body, ("name", "user", "expires_at", "expires_in_days"))
    now = services.clock()
    name = _name(body.get("name"))
    expires_at = _expiry(body, now)
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("'expires_at' is in the past", field="expires_at")
    user = _user(body.get("user"))
    token, secret = services.writer.create_token(principal, user, name, expires_at)
    return _one(reader, token, now, 201, secret)


@router.get("/{token_id}", summary="Get an API token (admins)")
def get_token(
    token_id: TokenId, services: ServicesDep, principal: PrincipalDep, reader: ReaderDep
) -> Response:
    check_admin(principal)
    return _one(reader, reader.token(token_id), services.clock())


@router.patch(
    "/{token_id}",
    summary="Rename an API token or change its expiry (admins)",
    openapi_extra=request_body(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
                "expires_at": {"type": ["string", "null"], "format": "date-time"},
                "expires_in_days": {"type": "integer", "minimum": 1, "maximum": DAYS_MAX},
            },
        }
    ),
)
def update_token(
    token_id: TokenId,
    principal: PrincipalDep,
    body: JsonObject,
    services: ServicesDep,
    reader: ReaderDep,
) -> Response:
    check_admin(principal)
    _check_keys(body, ("name", "expires_at", "expires_in_days"))
    now = services.clock()
    changes: TokenChanges = {}
    if "name" in body:
        changes["name"] = _name(body["name"])
    if "expires_at" in body or "expires_in_days" in body:
        changes["expires_at"] = _expiry(body, now)
    return _one(reader, services.writer.update_token(principal, token_id, changes), now)


@router.delete("/{token_id}", summary="Revoke an API token (admins)")
def delete_token(
    token_id: TokenId, services: ServicesDep, principal: PrincipalDep, reader: ReaderDep
) -> Response:
    return _revoke(token_id, services, principal, reader)


@router.post("/{token_id}/revoke", summary="Revoke an API token (admins)")
def revoke_token(
    token_id: TokenId, services: ServicesDep, principal: PrincipalDep, reader: ReaderDep
) -> Response:
    return _revoke(token_id, services, principal, reader)


def _revoke(token_id: int, services: Services, principal: Principal, reader: Reader) -> Response:
    check_admin(principal)
    return _one(reader, services.writer.revoke_token(principal, token_id), services.clock())
