"""A subscription's settings as a client sends them (the native API's body, the CLI's
options), checked once for every door: the URL by the guard, the filter's keys and its
scope (which must name an entity of the organization), the status a client may set."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput, NotFound
from ..model import Scope
from ..query import EntityHidden, Reader
from . import signing
from .filters import check_filter
from .guard import check_url

CREATE_KEYS = ("url", "description", "filter", "signing")
UPDATE_KEYS = ("url", "description", "filter", "status")
SIGNINGS = ("hmac", "ed25519")


def subscription_values(
    body: dict[str, Any], keys: tuple[str, ...], *, reader: Reader, allow_private: bool
) -> dict[str, Any]:
    """The entity fields `body` sets, or InvalidInput naming the first thing wrong."""
    unknown = sorted(set(body) - set(keys))
    if unknown:
        raise InvalidInput(
            f"unknown field(s): {', '.join(unknown)}; known: {', '.join(keys)}", field=unknown[0]
        )
    out: dict[str, Any] = {}
    if "url" in body:
        out["url"] = check_url(body["url"], allow_private)
    if "description" in body:
        out["description"] = body["description"]
    if "filter" in body:
        out["filter"] = check_filter(body["filter"])
        if out["filter"].get("scope"):
            _check_scope(reader, out["filter"]["scope"])
    if "status" in body:
        if body["status"] not in ("active", "paused"):
            raise InvalidInput("'status' must be active or paused", field="status")
        out["status"] = body["status"]
    if "signing" in body:
        if body["signing"] not in SIGNINGS:
            raise InvalidInput("'signing' must be hmac or ed25519", field="signing")
        out["signing"] = body["signing"]
    return out


def new_subscription(
    body: dict[str, Any], *, reader: Reader, allow_private: bool
) -> tuple[dict[str, Any], str]:
    """A native subscription's fields and its new secret (or Ed25519 signing key)."""
    if "url" not in body:
        raise InvalidInput("'url' is required", field="url")
    values = subscription_values(body, CREATE_KEYS, reader=reader, allow_private=allow_private)
    values.setdefault("signing", "hmac")
    values["kind"] = "native"
    return values, new_key(values["signing"])


def new_key(signing_with: str) -> str:
    """A fresh secret for the signing scheme: `whsec_…` (HMAC) or `whsk_…` (Ed25519)."""
    return signing.new_signing_key() if signing_with == "ed25519" else signing.new_secret()


def _check_scope(reader: Reader, scope: str) -> None:
    try:
        reader.scope(Scope.parse(scope))
    except (NotFound, EntityHidden):
        raise InvalidInput(
            f"filter 'scope' {scope} names nothing in this organization", field="filter"
        ) from None
