import asyncio
from datetime import timedelta

import pytest

from services.leases import LeaseBusy, Leases
from services.xero.tokens import utcnow


async def test_one_holder_at_a_time_and_a_dead_holders_claim_expires(storage):
    now = [utcnow()]
    leases = Leases(storage.leases, clock=lambda: now[0], poll_interval=0.01)
    wins = await asyncio.gather(*(leases.try_acquire("job", f"h{i}", timedelta(minutes=1)) for i in range(5)))
    assert wins.count(True) == 1
    assert not await leases.try_acquire("job", "late", timedelta(minutes=1))
    now[0] += timedelta(minutes=2)  # the holder died; its claim ran out
    assert await leases.try_acquire("job", "late", timedelta(minutes=1))


async def test_hold_waits_for_the_holder_and_gives_up_after_its_wait(storage):
    leases = Leases(storage.leases, poll_interval=0.01)
    assert await leases.try_acquire("invoice", "first", timedelta(minutes=1))
    with pytest.raises(LeaseBusy):
        async with leases.hold("invoice", "second", ttl=timedelta(minutes=1), wait=timedelta(milliseconds=50)):
            pass
    await leases.release("invoice", "first")
    async with leases.hold("invoice", "second", ttl=timedelta(minutes=1), wait=timedelta(seconds=1)):
        assert not await leases.try_acquire("invoice", "third", timedelta(minutes=1))
    assert await leases.try_acquire("invoice", "third", timedelta(minutes=1))  # released after the block
