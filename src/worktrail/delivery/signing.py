"""Standard Webhooks signatures (https://www.standardwebhooks.com).

Every delivery carries `webhook-id` (the message's stable id), `webhook-timestamp` (Unix
seconds) and `webhook-signature`, a space-separated list of versioned signatures over
`{id}.{timestamp}.{body}`:

- `v1,<base64 HMAC-SHA256>` with the endpoint's shared secret (`whsec_` + base64 key);
  during a rotation the previous secret signs too, so both signatures are sent;
- `v1a,<base64 Ed25519>` for endpoints that must not hold a shared secret: signed with the
  endpoint's private key (`whsk_…`), checked with its public key (`whpk_…`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SECRET_PREFIX = "whsec_"
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"


def new_secret() -> str:
    """A new shared secret: 24 random bytes, base64, with the `whsec_` prefix."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def new_signing_key() -> str:
    """A new Ed25519 private key as `whsk_` + base64 of its 32 raw bytes."""
    raw = Ed25519PrivateKey.generate().private_bytes_raw()
    return SIGNING_KEY_PREFIX + base64.b64encode(raw).decode()


def public_key(signing_key: str) -> str:
    """The `whpk_` public key that checks what `signing_key` signs."""
    key = _private(signing_key).public_key()
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()


def signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(key: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One versioned signature with `key`: v1 for a `whsec_` secret, v1a for a `whsk_` key."""
    content = signed_content(msg_id, timestamp, body)
    if key.startswith(SIGNING_KEY_PREFIX):
        return "v1a," + base64.b64encode(_private(key).sign(content)).decode()
    secret = base64.b64decode(key.removeprefix(SECRET_PREFIX))
    digest = hmac.new(secret, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(keys: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with each of `keys`."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(k, msg_id, timestamp, body) for k in keys),
    }


def _private(signing_key: str) -> Ed25519PrivateKey:
    raw = base64.b64decode(signing_key.removeprefix(SIGNING_KEY_PREFIX))
    return Ed25519PrivateKey.from_private_bytes(raw)
