"""Asana's webhook handshake, and the targets it may go to.

While `POST /webhooks` is still open, worktrail POSTs to the target with an
`X-Hook-Secret` header; the target proves it expects the webhook by answering 200 or 204
with the same header, within 10 seconds. Only then is the webhook made, with that secret
as the key of its signatures. Targets inside the network worktrail runs in are refused
with Asana's 403 (Asana: "Invalid hostnames like localhost will receive a 403"), unless
`webhooks_allow_private` is set; the handshake itself goes through the delivery client,
which checks each address it connects to and follows no redirect.
"""

from __future__ import annotations

import secrets

from ...delivery.client import Answer, DeliveryClient
from ...delivery.guard import TargetRefused, check_url, parse_url
from .errors import AsanaError, bad_request

HANDSHAKE_SECONDS = 10.0
ECHOED = (200, 204)
TARGET_HELP = "The target is the http(s) URL of a server that answers the handshake."
HANDSHAKE_HELP = (
    "The target must answer the handshake POST with 200 or 204 and the X-Hook-Secret "
    "header it was sent, within 10 seconds, while the request that creates the webhook "
    "is still open."
)


def new_secret() -> str:
    """A hook secret like Asana's: 32 random bytes as hex."""
    return secrets.token_hex(32)


def checked_target(raw: object, allow_private: bool) -> str:
    """The target, if webhooks may be sent there: 400 if it is no http(s) URL, 403 if it
    lies inside the network. Resolves its host: call it off the event loop."""
    if not isinstance(raw, str):
        raise bad_request(f"target: Not a URL: {raw!r}", TARGET_HELP)
    try:
        parse_url(raw)
    except TargetRefused as exc:
        raise bad_request(f"target: {_words(exc)}", TARGET_HELP)
    try:
        return check_url(raw, allow_private)
    except TargetRefused as exc:
        raise AsanaError(403, f"target: {_words(exc)}", TARGET_HELP)


def _words(exc: TargetRefused) -> str:
    """The guard's reason, about the target (it speaks of the native API's 'url')."""
    return exc.detail.replace("'url'", "the target")


def handshake_seconds(delivery_timeout: float) -> float:
    """How long the target has to answer the handshake: Asana's 10 seconds, or less where
    deliveries themselves get less (`webhook_timeout_seconds`)."""
    return min(HANDSHAKE_SECONDS, delivery_timeout)


async def handshake(target: str, secret: str, allow_private: bool, seconds: float) -> None:
    """Send the handshake; 400 in Asana's shape, saying what went wrong, unless the target
    echoed the secret within `seconds`."""
    client = DeliveryClient(timeout=seconds, allow_private=allow_private)
    try:
        answer = await client.post(target, b"", {"X-Hook-Secret": secret})
    finally:
        await client.close()
    problem = handshake_problem(answer, secret)
    if problem is not None:
        raise bad_request(f"target: The handshake failed: {problem}", HANDSHAKE_HELP)


def handshake_problem(answer: Answer, secret: str) -> str | None:
    """What is wrong with the target's answer to the handshake, if anything."""
    if answer.status is None:
        return f"no answer from the target ({answer.error})"
    if answer.status not in ECHOED:
        return f"the target answered HTTP {answer.status}, not 200 or 204"
    echoed = answer.headers.get("x-hook-secret")
    if echoed is None:
        return "the target's answer did not echo the X-Hook-Secret header"
    if echoed != secret:
        return "the target echoed a different X-Hook-Secret"
    return None
