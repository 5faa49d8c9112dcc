"""The activity chart: matching events per day (per week over long ranges), drawn as SVG
on the server. Each bar links to the same filters narrowed to its day or week."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, replace

from .filters import Filters

WIDTH, HEIGHT = 720, 120  # the drawing's own units; CSS scales it to the page
MAX_DAYS = 92  # longer ranges are drawn by the week
EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str
    href: str


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    peak: int
    first: str
    last: str
    unit: str  # day or week


def day_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=day)


def activity_chart(
    days: Counter[int], filters: Filters, first: int | None, last: int | None
) -> Chart | None:
    """The chart of `days` (counts by day number) from day `first` to `last` (inclusive;
    None: the first or last day with events), or None when nothing is counted."""
    counted = [d for d, n in days.items() if n]
    if not counted:
        return None
    start = first if first is not None else min(counted)
    end = last if last is not None else max(counted)
    start, end = min(start, end), max(start, end)
    step = 7 if end - start + 1 > MAX_DAYS else 1
    if step == 7:
        start -= (start + 3) % 7  # weeks start on Monday (1970-01-01 was a Thursday)
    buckets = list(range(start, end + 1, step))
    counts = [sum(days.get(d, 0) for d in range(b, b + step)) for b in buckets]
    peak = max(counts) or 1
    slot = WIDTH / len(buckets)
    gap = min(2.0, slot * 0.2)
    bars = []
    unbounded = replace(filters, after=None, before=None).url()
    joiner = "&" if "?" in unbounded else "?"
    for i, (bucket, count) in enumerate(zip(buckets, counts, strict=True)):
        height = 0.0 if not count else max(2.0, (HEIGHT - 4) * count / peak)
        day = day_date(bucket)
        after, before = day.isoformat(), (day + dt.timedelta(days=step)).isoformat()
        label = f"{'week of ' if step == 7 else ''}{day:%a} {day.day} {day:%b %Y}: {count:,}"
        bars.append(
            Bar(
                x=round(i * slot + gap / 2, 2),
                y=round(HEIGHT - height, 2),
                width=round(slot - gap, 2),
                height=round(height, 2),
                count=count,
                label=label + (" event" if count == 1 else " events"),
                href=f"{unbounded}{joiner}after={after}&before={before}",
            )
        )
    return Chart(
        tuple(bars),
        max(counts),
        f"{day_date(start):%d %b %Y}",
        f"{day_date(end):%d %b %Y}",
        "week" if step == 7 else "day",
    )
