"""The Xero stand-in's limits, time-scaled for the bench: the same counts, a shorter minute and day."""

from __future__ import annotations

from sandbox.xero.state import RateLimiter


class Clock:
    def __init__(self):
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_time_scaled_minute_allows_sixty_calls_then_answers_429_with_a_short_retry_after():
    clock = Clock()
    limits = RateLimiter(clock, time_scale=60)  # a minute lasts one second
    for _ in range(60):
        decision = limits.acquire("t")
        assert decision.allowed
        limits.release("t")
    refused = limits.acquire("t")
    assert not refused.allowed and refused.problem == "minute" and 0 < refused.retry_after <= 1
    assert refused.minute_remaining == 0 and refused.day_remaining == 5000 - 60
    assert limits.refused["minute"] == 1
    clock.now += 1.0
    assert limits.acquire("t").allowed


def test_a_time_scaled_day_still_holds_five_thousand_calls():
    clock = Clock()
    limits = RateLimiter(clock, time_scale=1440)  # a day lasts a minute
    for _ in range(5000):
        clock.now += 0.01  # five in a scaled minute (0.04 s); 5,000 in 50 s, within the scaled day
        assert limits.acquire("t").allowed
        limits.release("t")
    refused = limits.acquire("t")
    assert not refused.allowed and refused.problem == "day" and refused.retry_after <= 60
