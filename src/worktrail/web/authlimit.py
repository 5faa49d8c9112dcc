"""Failed authentications counted per client address, in memory.

Every way in (the native API, the five dialects, Worksection's signed admin API) reports
its failed authentications here (`Services.refuse_authentication`): a missing, invalid,
revoked or expired token, a bad signature, a Tracker organization the token is not of.
An address gets `per_minute` failures in a one-minute window answered as usual (401 or the
vendor's equivalent); beyond that, its failed attempts get 429 with `Retry-After` until the
window ends. Successful authentications are never counted or refused: a valid token keeps
working from an address whose other clients keep failing (offices share one address).

API tokens are 256 random bits, so this is not what keeps them from being guessed; it
turns a client retrying bad credentials in a loop, or a scanner, into cheap answers that
tell it to back off.

The table is bounded (`max_clients` addresses, the least recently failing evicted first),
so a flood from many addresses costs memory that does not grow. IPv6 addresses count per
/64 network, the block one subscriber usually holds. Counts are per process.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

WINDOW = 60.0  # seconds
MAX_CLIENTS = 10_000


def client_key(address: str | None) -> str:
    """What failures are counted under: the IPv4 address, the /64 of an IPv6 address, or
    the address as given when it is not an IP (a test client, a Unix socket's peer)."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class AuthFailureLimiter:
    """Fixed one-minute windows of failed authentications per client; 0 disables it."""

    def __init__(
        self,
        per_minute: int,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.max_clients = max_clients
        self.clock = clock
        # client key -> (start of its window, failures in it); least recently failing first
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def failed(self, address: str | None) -> int | None:
        """Count a failed authentication from `address`. None while the address is within
        its allowance; else the seconds until its window ends (for `Retry-After`)."""
        if self.per_minute <= 0:
            return None
        key = client_key(address)
        now = self.clock()
        with self._lock:
            start, count = self._windows.pop(key, (now, 0))
            if now - start >= WINDOW:
                start, count = now, 0
            count += 1
            self._windows[key] = (start, count)
            while len(self._windows) > self.max_clients:
                self._windows.popitem(last=False)
        if count <= self.per_minute:
            return None
        return max(1, math.ceil(start + WINDOW - now))

    def __len__(self) -> int:
        return len(self._windows)
