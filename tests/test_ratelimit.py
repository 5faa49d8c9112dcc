"""The dialects' rate limiter: token buckets, and buckets forgotten once full again."""

from __future__ import annotations

from worktrail.web.ratelimit import REFILL_SECONDS, RateLimiter


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_over_its_limit_waits_until_a_token_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(2, clock)
    assert limiter.check("asana", "token:1") is None
    assert limiter.check("asana", "token:1") is None
    assert limiter.check("asana", "token:1") == 30  # 2 a minute: one token every 30 s
    assert limiter.check("asana", "token:2") is None  # keys are counted apart
    clock.now += 30
    assert limiter.check("asana", "token:1") is None


def test_buckets_full_again_are_forgotten_and_start_full() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock)
    for n in range(1000):  # many tokens, each seen once
        assert limiter.check("asana", f"token:{n}") is None
    assert limiter.check("asana", "token:busy") is None
    assert limiter.tracked() == 1001
    clock.now += REFILL_SECONDS - 1
    assert limiter.check("asana", "token:busy") is None
    clock.now += 1  # a minute since the thousand: their buckets are full, and dropped
    assert limiter.check("asana", "token:busy") is None
    assert limiter.tracked() == 1
    # the busy key kept its bucket: about one token left, then a wait
    first, second = (limiter.check("asana", "token:busy") for _ in range(2))
    assert first is None and second is not None
    # a forgotten key is allowed what a full bucket allows
    assert [limiter.check("asana", "token:7") for _ in range(4)] == [None, None, None, 20]


def test_zero_disables_the_limit() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.check("asana", "token:1") is None for _ in range(100))
    assert limiter.tracked() == 0
