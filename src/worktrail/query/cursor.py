"""Cursors: positions in a history, handed to clients as opaque signed tokens.

A cursor carries the organization, a digest of the query's filters, the position, the
direction and the issue time, signed with the server secret (`CursorCodec`), so a tampered
or foreign cursor, or one replayed against other filters, is a client error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

from ..errors import BadRequest
from ..model import EventQuery


class InvalidCursor(BadRequest):
    title = "Invalid cursor"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Opaque, signed tokens: base64url(JSON payload) "." base64url(HMAC-SHA256)[:16 bytes]."""

    def __init__(self, secret: str, purpose: str = "cursor") -> None:
        self._key = hashlib.sha256(f"{purpose}:{secret}".encode()).digest()

    def encode(self, payload: dict[str, Any]) -> str:
        body = _b64(orjson.dumps(payload))
        return body + "." + self._sign(body)

    def decode(self, token: str) -> dict[str, Any]:
        """The payload of a token this server signed; InvalidCursor for anything else."""
        body, dot, signature = token.partition(".")
        # compared as bytes: compare_digest refuses str with non-ASCII characters, and a
        # client may send any (a mangled cursor, a Last-Event-ID header)
        given = signature.encode("utf-8", "surrogatepass")
        if not dot or len(token) > 4096 or not hmac.compare_digest(given, self._sign_bytes(body)):
            raise InvalidCursor("the cursor is malformed or was not issued by this server")
        try:
            payload = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise InvalidCursor("the cursor is malformed") from exc
        if not isinstance(payload, dict):
            raise InvalidCursor("the cursor is malformed")
        return payload

    def _sign(self, body: str) -> str:
        return self._sign_bytes(body).decode()

    def _sign_bytes(self, body: str) -> bytes:
        digest = hmac.new(self._key, body.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=")


def encode_position(codec: CursorCodec, query: EventQuery, position: int) -> str:
    return codec.encode(
        {
            "o": query.org_id,
            "f": query.fingerprint(),
            "p": position,
            "d": "a" if query.ascending else "d",
            "t": int(time.time()),
        }
    )


def decode_position(codec: CursorCodec, query: EventQuery, cursor: str) -> int:
    """The position a cursor carries, after checking it belongs to this org and query."""
    return decode_cursor(codec, query, cursor)[0]


def decode_cursor(codec: CursorCodec, query: EventQuery, cursor: str) -> tuple[int, int | None]:
    """decode_position, and when the cursor was issued (microseconds; None if it does not
    say), for Reader.check_position."""
    payload = codec.decode(cursor)
    if payload.get("o") != query.org_id:
        raise InvalidCursor("the cursor belongs to another organization")
    if payload.get("f") != query.fingerprint() or payload.get("d") != (
        "a" if query.ascending else "d"
    ):
        raise InvalidCursor(
            "the cursor was issued for a different query; repeat the same filters and order"
        )
    position = payload.get("p")
    if not isinstance(position, int) or position < 0:
        raise InvalidCursor("the cursor is malformed")
    issued = payload.get("t")
    # issued in whole seconds: taken as the start of its second, never after the truth
    return position, issued * 1_000_000 if isinstance(issued, int) else None
