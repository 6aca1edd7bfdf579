"""TenantLimiter keeps each Xero organisation inside 5 in flight, 60 a minute and 5,000 a day (fake clock)."""

from __future__ import annotations

import asyncio

import pytest

from bot.blocks.errors import xero_words
from services.xero.errors import XeroRateLimited
from services.xero.limiter import TenantLimiter


class FakeClock:
    """Monotonic seconds that only move when the limiter sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock) -> TenantLimiter:
    return TenantLimiter(clock=clock, sleep=clock.sleep)


async def test_no_more_than_five_calls_in_flight_per_tenant(limiter):
    inside = peak = finished = 0
    five_inside = asyncio.Event()
    release = asyncio.Event()

    async def call():
        nonlocal inside, peak, finished
        async with limiter.slot("tenant-a"):
            inside += 1
            peak = max(peak, inside)
            if inside == 5:
                five_inside.set()
            await release.wait()
            inside -= 1
        finished += 1

    tasks = [asyncio.create_task(call()) for _ in range(12)]
    await five_inside.wait()
    for _ in range(10):
        await asyncio.sleep(0)  # give the other seven every chance to (wrongly) get in
    assert inside == 5

    release.set()
    await asyncio.gather(*tasks)
    assert peak == 5 and finished == 12


async def test_no_more_than_sixty_calls_start_in_any_minute(limiter, clock):
    started_at: list[float] = []

    async def call():
        async with limiter.slot("tenant-a"):
            started_at.append(clock())

    await asyncio.gather(*(call() for _ in range(150)))

    assert len(started_at) == 150
    assert started_at[59] == 0 and started_at[60] == 60 and started_at[120] == 120
    started_at.sort()
    assert all(later - earlier >= 60 for earlier, later in zip(started_at, started_at[60:], strict=False))


async def test_a_busy_tenant_does_not_slow_down_another(limiter, clock):
    for _ in range(60):
        async with limiter.slot("busy"):
            pass

    async with limiter.slot("quiet"):
        pass

    assert clock.sleeps == []


async def test_daily_limit_refuses_without_calling_until_the_day_rolls_over(limiter, clock):
    for _ in range(5_000):
        async with limiter.slot("tenant-a"):
            pass
    assert limiter.calls_left_today("tenant-a") == 0
    ran = False

    with pytest.raises(XeroRateLimited) as caught:
        async with limiter.slot("tenant-a"):
            ran = True

    assert not ran
    assert caught.value.problem == "day"
    assert 0 < caught.value.retry_after <= 86_400
    assert "day limit" in xero_words(caught.value)

    clock.now += caught.value.retry_after
    async with limiter.slot("tenant-a"):
        ran = True
    assert ran


async def test_a_refused_call_gives_its_place_back(clock):
    limiter = TenantLimiter(concurrent=1, per_day=1, clock=clock, sleep=clock.sleep)
    async with limiter.slot("tenant-a"):
        pass

    for _ in range(3):  # with the only concurrency place leaked, the second refusal would hang instead
        with pytest.raises(XeroRateLimited):
            async with asyncio.timeout(1):
                async with limiter.slot("tenant-a"):
                    pass
