"""When the demo's events happen: spread over the period asked for like a team's work,
busy in working hours on working days, quiet at night and on weekends."""

from __future__ import annotations

import random

HOUR = 3_600_000_000  # microseconds
DAY = 24 * HOUR
WEEK = 7 * DAY

# Relative activity by hour of the day (UTC, the organization's zone) on a working day.
_HOURLY = (
    *(0.0,) * 6,
    *(0.02, 0.15, 0.6, 1.0, 1.0, 1.0, 0.6, 0.9, 1.0, 1.0, 0.9, 0.6, 0.3, 0.15, 0.08, 0.05),
    *(0.02, 0.01),
)
_WEEKEND = 0.04  # a weekend hour is this much as busy as the same hour on a working day


def _cumulative_activity(rng: random.Random, start: int, end: int) -> tuple[list[int], list[float]]:
    """The hour boundaries between `start` and `end` (both included), and the activity
    before each: by the hour of the day and the day of the week, some days busier than
    others (a random factor per day, drawn in order of the days)."""
    bounds: list[int] = []
    cum: list[float] = []
    day_factor: dict[int, float] = {}
    at, acc = start, 0.0
    while at < end:
        day = at // DAY
        if day not in day_factor:
            day_factor[day] = rng.uniform(0.6, 1.4)
        nxt = min((at // HOUR + 1) * HOUR, end)
        weight = _HOURLY[(at % DAY) // HOUR] * day_factor[day]
        if (day + 3) % 7 >= 5:  # 1970-01-01 was a Thursday
            weight *= _WEEKEND
        bounds.append(at)
        cum.append(acc)
        acc += weight * (nxt - at) / HOUR
        at = nxt
    bounds.append(end)
    cum.append(acc)
    return bounds, cum


class Clock:
    """Gives the n-th of `total` events its time: the inverse of the cumulative activity
    between `start` and `end`, by the hour (busy weekdays, quiet nights and weekends, some
    days busier than others), with jitter. Never decreasing."""

    def __init__(self, rng: random.Random, start: int, end: int, total: int) -> None:
        self.rng = rng
        self.total = max(total, 1)
        self.end = end
        self.bounds, self.cum = _cumulative_activity(rng, start, end)
        self.activity = self.cum[-1]
        self.index = 0
        self.k = 0  # the hour the last time fell in: times only grow, so search on from it
        self.last = start
        self.current = start
        self.advance(first=True)

    def advance(self, first: bool = False) -> None:
        """Move to the next event's time (`current`)."""
        if not first:
            self.index += 1
        if self.activity <= 0:
            self.current = self.end
            return
        fraction = min((min(self.index, self.total - 1) + self.rng.random()) / self.total, 1.0)
        target = fraction * self.activity
        cum, k = self.cum, self.k
        while k < len(cum) - 2 and cum[k + 1] <= target:
            k += 1
        self.k = k
        width = cum[k + 1] - cum[k]
        a, b = self.bounds[k], self.bounds[k + 1]
        at = a + int((target - cum[k]) / width * (b - a)) if width > 0 else b
        self.last = max(self.last, min(at, self.end))
        self.current = self.last
