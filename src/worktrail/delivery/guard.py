"""Where deliveries may go: never inside the network worktrail runs in, unless allowed.

A webhook's URL is checked when it is registered (`check_url`, which resolves its host) and
again at every delivery, by the resolver the HTTP client connects through
(`GuardedResolver`): it resolves, refuses if any address is inside, and hands the client
only the addresses it checked, so a name that resolves elsewhere the second time (DNS
rebinding) cannot slip past. Inside means loopback, private (RFC 1918, unique local),
link-local (cloud metadata services among them: 169.254.169.254, fd00:ec2::254), shared
(carrier-grade NAT), multicast, reserved and unspecified addresses.
`Settings.webhooks_allow_private` lifts it (tests and local demos).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from ..errors import InvalidInput

SCHEMES = ("http", "https")
MAX_URL = 2000


class TargetRefused(InvalidInput):
    """The URL is not one deliveries may go to."""


def is_inside(address: str) -> bool:
    """Whether an IP address lies inside a private network (see the module docstring)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _SHARED
    )


_SHARED = ipaddress.ip_network("100.64.0.0/10")


def parse_url(url: Any) -> tuple[str, int]:
    """(host, port) of a URL deliveries may use in form: http(s), a host, no credentials."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise TargetRefused(f"'url' must be an http(s) URL of at most {MAX_URL} characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        # urlsplit would quietly drop a line break or tab: the URL kept is the one sent to
        raise TargetRefused("'url' must not contain spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("'url' is not a valid URL", field="url")
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise TargetRefused(
            "'url' must start with http:// or https:// and name a host", field="url"
        )
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("'url' must not carry credentials", field="url")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_url(url: Any, allow_private: bool) -> str:
    """`url`, if deliveries may go there: well formed and, unless `allow_private`, its
    host resolving only to addresses outside the network (or not at all, for now).
    TargetRefused otherwise."""
    host, port = parse_url(url)
    if allow_private:
        return str(url)
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except UnicodeError:
        raise TargetRefused(f"the host {host!r} is not a valid host name", field="url")
    except OSError:
        # not resolvable yet (a name being set up): each delivery checks it when it does
        return str(url)
    addresses = sorted({str(info[4][0]) for info in found})
    inside = [a for a in addresses if is_inside(a)]
    if inside:
        raise TargetRefused(
            f"the host {host!r} resolves to {inside[0]}, inside a private network; "
            "deliveries go only to public addresses",
            field="url",
        )
    return str(url)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing hosts that resolve inside the network."""

    def __init__(self, allow_private: bool) -> None:
        self._resolver = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        if not self._allow_private:
            inside = [r["host"] for r in results if is_inside(r["host"])]
            if inside:
                raise OSError(f"{host} resolves to {inside[0]}, inside a private network")
        return results

    async def close(self) -> None:
        await self._resolver.close()
