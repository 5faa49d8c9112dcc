"""A small in-process token-bucket rate limiter, keyed by (scope, token)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# Seconds an empty bucket takes to refill completely (per_minute tokens at per_minute / 60
# a second), whatever the limit: a bucket untouched for this long is full again.
REFILL_SECONDS = 60.0


class RateLimiter:
    """Allows `per_minute` requests per key, refilled continuously; 0 disables it.

    A bucket that has refilled completely is forgotten: a key seen again then starts full,
    exactly as it would have, so the limiter keeps only the keys of about the last two
    minutes instead of every token that ever made a request."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock() + REFILL_SECONDS

    def check(self, scope: str, key: str) -> float | None:
        """None if the request may proceed, else the seconds to wait before retrying."""
        if self.per_minute <= 0:
            return None
        rate = self.per_minute / REFILL_SECONDS
        now = self._clock()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            tokens, updated = self._buckets.get((scope, key), (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - updated) * rate)
            if tokens >= 1.0:
                self._buckets[(scope, key)] = (tokens - 1.0, now)
                return None
            self._buckets[(scope, key)] = (tokens, now)
            return max(1.0, math.ceil((1.0 - tokens) / rate))

    def tracked(self) -> int:
        """How many buckets are kept now."""
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        """Forget the buckets untouched for REFILL_SECONDS (full again); once a minute, so
        the cost is one pass over the keys of the last two minutes."""
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < REFILL_SECONDS}
        self._next_sweep = now + REFILL_SECONDS
