"""Signing in to the web UI: sessions in signed cookies, and CSRF tokens for its forms.

A session is a cookie the server signs (HMAC with a key derived from the server secret,
the same way cursors are signed): it holds the SHA-256 hash of the API token the person
signed in with, a random nonce and the time it was issued, never the token itself. Every
page authenticates by that hash exactly as the API authenticates a token (one statement),
so revoking or expiring the token ends its sessions at once. The cookie is HttpOnly (no
script reads it), SameSite=Strict (no other site's page or link sends it), Secure when the
request came over HTTPS, and lives for `SESSION_SECONDS`.

Forms carry a synchronizer token: an HMAC of the session's nonce (or, before signing in,
of the nonce in a short-lived sign-in cookie), checked on every POST.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ..auth import hash_token
from ..errors import Forbidden
from ..query import CursorCodec, InvalidCursor

SESSION_COOKIE = "worktrail_session"
SIGNIN_COOKIE = "worktrail_signin"  # the nonce the sign-in form's CSRF token is bound to
SESSION_SECONDS = 12 * 3600
SIGNIN_SECONDS = 3600


@dataclass(frozen=True)
class Session:
    token_hash: str
    nonce: str
    issued: int  # seconds since the epoch


class Sessions:
    """Issues and reads session cookies, and makes and checks CSRF tokens."""

    def __init__(self, secret: str) -> None:
        self._codec = CursorCodec(secret, purpose="ui-session")
        self._csrf_key = hashlib.sha256(f"ui-csrf:{secret}".encode()).digest()

    def issue(self, token: str) -> str:
        """A new session's cookie value for someone who signed in with `token`."""
        return self._codec.encode(
            {"h": hash_token(token), "n": secrets.token_urlsafe(16), "t": int(time.time())}
        )

    def read(self, request: Request) -> Session | None:
        """The request's session, if its cookie is one this server issued and unexpired."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            payload = self._codec.decode(raw)
        except InvalidCursor:
            return None
        token_hash, nonce, issued = payload.get("h"), payload.get("n"), payload.get("t")
        if not (isinstance(token_hash, str) and isinstance(nonce, str) and isinstance(issued, int)):
            return None
        if not 0 <= time.time() - issued < SESSION_SECONDS:
            return None
        return Session(token_hash, nonce, issued)

    def csrf_token(self, nonce: str) -> str:
        """The token a form of the holder of `nonce` carries."""
        return hmac.new(self._csrf_key, nonce.encode(), hashlib.sha256).hexdigest()[:32]

    def check_csrf(self, nonce: str | None, given: object) -> None:
        """Forbidden unless `given` is the CSRF token for `nonce`."""
        expected = self.csrf_token(nonce) if nonce else ""
        if not (expected and isinstance(given, str) and hmac.compare_digest(expected, given)):
            raise Forbidden(
                "this form has expired or did not come from this site; reload the page and "
                "try again"
            )

    def signin_nonce(self, request: Request) -> str | None:
        """The nonce of the request's sign-in cookie, if it has one."""
        value = request.cookies.get(SIGNIN_COOKIE, "")
        return value if 16 <= len(value) <= 64 and value.isascii() else None


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def set_cookie(response: Response, request: Request, name: str, value: str, seconds: int) -> None:
    """A cookie only this site's pages send back, which no script can read."""
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
