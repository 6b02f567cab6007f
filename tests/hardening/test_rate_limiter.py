"""The token bucket behind the gateway's 429s, on a clock the test moves."""

from __future__ import annotations

import pytest

from gateway.limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_average_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 3, clock=clock)
    assert [limiter.retry_after(("org", "u")) for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after(("org", "u")) == pytest.approx(0.5)  # one token comes back every 0.5 s
    clock.now += 0.5
    assert limiter.retry_after(("org", "u")) == 0
    assert limiter.retry_after(("org", "u")) == pytest.approx(0.5)


def test_refused_requests_cost_nothing_and_the_bucket_never_overfills() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 2, clock=clock)
    limiter.retry_after(("org", "u"))
    limiter.retry_after(("org", "u"))
    for _ in range(100):
        assert limiter.retry_after(("org", "u")) > 0
    clock.now += 1
    assert limiter.retry_after(("org", "u")) == 0
    clock.now += 3600  # an hour idle gives back the burst, not 3,600 requests
    assert [limiter.retry_after(("org", "u")) == 0 for _ in range(3)] == [True, True, False]


def test_callers_have_buckets_of_their_own() -> None:
    limiter = RateLimiter(1, 1, clock=Clock())
    assert limiter.retry_after(("org-a", "u1")) == 0
    assert limiter.retry_after(("org-a", "u1")) > 0
    assert limiter.retry_after(("org-a", "u2")) == 0
    assert limiter.retry_after(("org-b", "u1")) == 0  # the same subject in another organization


def test_idle_callers_are_forgotten_once_too_many_are_tracked() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 1, clock=clock, max_callers=3)
    for user in ("u1", "u2", "u3"):
        limiter.retry_after(("org", user))
    clock.now += 0.5
    limiter.retry_after(("org", "u4"))  # all three are still refilling: nobody idle, so everyone starts afresh
    assert limiter.retry_after(("org", "u1")) == 0
    assert limiter.tracked_callers == 2
    limiter.retry_after(("org", "u2"))
    clock.now += 0.5
    assert limiter.retry_after(("org", "u2")) > 0  # u2 is still refilling
    clock.now += 10  # u4 and u1 are full again (idle), u2 too
    limiter.retry_after(("org", "u5"))
    assert limiter.tracked_callers == 1  # the idle ones were forgotten: a new bucket starts full anyway


def test_a_limit_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        RateLimiter(0, 10)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(1, 0)
