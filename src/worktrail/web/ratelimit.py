"""A small in-process token-bucket rate limiter, keyed by (scope, token)."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """Allows `per_minute` requests per key, refilled continuously; 0 disables it."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, scope: str, key: str) -> float | None:
        """None if the request may proceed, else the seconds to wait before retrying."""
        if self.per_minute <= 0:
            return None
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, updated = self._buckets.get((scope, key), (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - updated) * rate)
            if tokens >= 1.0:
                self._buckets[(scope, key)] = (tokens - 1.0, now)
                return None
            self._buckets[(scope, key)] = (tokens, now)
            return max(1.0, math.ceil((1.0 - tokens) / rate))
