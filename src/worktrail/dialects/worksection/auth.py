"""Worksection's authentication forms, mapped onto worktrail organizations and tokens.

Admin API (Worksection's admin API is the account owner's, so these act as the owner of
the organization whose admin API key signed the request). Every admin path accepts every
form; which one a request uses is told by its shape:

* header `Authorization: Admin <time>_<sig>` (the official Python SDK),
  sig = hex HMAC-SHA256(key = admin API key, msg = f"{action}:{time}");
* `hash` of 64 hex digits plus `time` (the /api/admin/v2.1 form): the same HMAC;
* `hash` of 32 hex digits (the documented v2 form): md5 of the request's parameters except
  `hash`, as the `k=v&k=v` text they were sent in, followed by the admin API key. Clients
  disagree on percent-encoding, so both the text as received and its percent-decoded form
  verify.

The time-based forms are accepted within five minutes either side of the server's clock.

A signature names no organization, so every organization's key is tried. All of them are
always tried and compared with hmac.compare_digest, whether or not an earlier one matched,
so the time a request takes depends on the number of organizations, not on which one
matched. A signature that more than one key verifies is refused.

OAuth API: `Authorization: Bearer <token>` or `access_token=<token>`, the token being a
worktrail API token; the token's user and visibility apply.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable

from fastapi import Request

from ...auth import Principal
from ...errors import Unauthorized
from ...web.deps import bearer_token
from ...web.services import Services
from .errors import invalid_hash, unauthorized
from .params import Params

CLOCK_WINDOW = 300  # seconds either side of the server's clock
_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_STAMP = re.compile(r"[0-9]{1,12}")

KeyCheck = Callable[[str], bool]


def md5_signature(signed: str, key: str) -> str:
    """The v2 `hash`: md5 of the parameter text followed by the admin API key."""
    return hashlib.md5((signed + key).encode("utf-8", "surrogateescape")).hexdigest()


def hmac_signature(action: str, stamp: str, key: str) -> str:
    """The v2.1 `hash` and the SDK's `Admin` header signature."""
    message = f"{action}:{stamp}".encode("utf-8", "surrogateescape")
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def admin_org_id(
    keys: Iterable[tuple[int, str]], params: Params, authorization: str, now: float
) -> int:
    """The organization whose admin API key signed the request, or a code 2 error.
    `keys`: (organization id, admin API key) of every organization; `now` in seconds."""
    check = _key_check(params, authorization, now)
    matched: list[int] = []
    for org_id, key in keys:
        verified = check(key)
        if verified and key:
            matched.append(org_id)
    if len(matched) != 1:
        raise invalid_hash("hash")
    return matched[0]


def _key_check(params: Params, authorization: str, now: float) -> KeyCheck:
    """How to test one admin API key against the signature the request carries."""
    scheme, _, credentials = authorization.strip().partition(" ")
    action = params.get("action") or ""
    if scheme.lower() == "admin":
        stamp, _, signature = credentials.strip().partition("_")
        return _hmac_check(action, stamp, signature, now)
    presented = params.get("hash")
    if not presented:
        raise invalid_hash("hash")
    if len(presented) == 64:
        return _hmac_check(action, params.get("time"), presented, now)
    if not _MD5.fullmatch(presented):
        raise invalid_hash("hash")
    expected = presented.lower().encode()
    texts = sorted({"&".join(params.raw_pairs), "&".join(params.decoded_pairs)})

    def check(key: str) -> bool:
        results = [
            hmac.compare_digest(md5_signature(text, key).encode(), expected) for text in texts
        ]
        return any(results)

    return check


def _hmac_check(action: str, stamp: str | None, signature: str, now: float) -> KeyCheck:
    if stamp is None or not _STAMP.fullmatch(stamp) or abs(now - int(stamp)) > CLOCK_WINDOW:
        raise invalid_hash("time")
    if not _SHA256.fullmatch(signature):
        raise invalid_hash("hash")
    expected = signature.lower().encode()

    def check(key: str) -> bool:
        return hmac.compare_digest(hmac_signature(action, stamp, key).encode(), expected)

    return check


def oauth_principal(services: Services, request: Request, params: Params) -> Principal:
    """The worktrail user an OAuth request's token belongs to, or the OAuth 401."""
    token = bearer_token(request) or params.get("access_token")
    try:
        return services.authenticate(token)
    except Unauthorized as exc:
        raise unauthorized(exc.detail)
