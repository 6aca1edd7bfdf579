"""Xero's per-organisation limits, enforced on our side so we rarely meet a 429.

Per tenant: 5 calls in flight, 60 calls started in any 60 seconds, 5,000 in any rolling day.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from services.xero.errors import XeroRateLimited

MINUTE = 60.0
DAY = 86_400.0


@dataclass
class _TenantBudget:
    in_flight: asyncio.Semaphore
    minute_starts: deque[float] = field(default_factory=deque)
    day_starts: deque[float] = field(default_factory=deque)


class TenantLimiter:
    def __init__(
        self,
        *,
        concurrent: int = 5,
        per_minute: int = 60,
        per_day: int = 5_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ):
        self.concurrent = concurrent
        self.per_minute = per_minute
        self.per_day = per_day
        self._clock = clock
        self._sleep = sleep
        self._budgets: dict[str, _TenantBudget] = {}

    @asynccontextmanager
    async def slot(self, tenant_id: str) -> AsyncIterator[None]:
        """Wait for a free slot for this tenant; raise XeroRateLimited(problem="day") if the day is used up."""
        budget = self._budget(tenant_id)
        async with budget.in_flight:
            # Recorded only once the call really starts, so the window counts true start times.
            await self._claim_start(budget)
            yield

    def calls_left_today(self, tenant_id: str) -> int:
        budget = self._budget(tenant_id)
        _forget_older_than(budget.day_starts, self._clock() - DAY)
        return max(0, self.per_day - len(budget.day_starts))

    async def _claim_start(self, budget: _TenantBudget) -> None:
        while True:
            now = self._clock()
            _forget_older_than(budget.day_starts, now - DAY)
            _forget_older_than(budget.minute_starts, now - MINUTE)
            if len(budget.day_starts) >= self.per_day:
                raise XeroRateLimited(
                    "Xero's daily call limit for this organisation is used up (day limit) — try again later",
                    retry_after=budget.day_starts[0] + DAY - now,
                    problem="day",
                )
            if len(budget.minute_starts) < self.per_minute:
                budget.minute_starts.append(now)
                budget.day_starts.append(now)
                return
            await self._sleep(budget.minute_starts[0] + MINUTE - now)

    def _budget(self, tenant_id: str) -> _TenantBudget:
        if tenant_id not in self._budgets:
            self._budgets[tenant_id] = _TenantBudget(in_flight=asyncio.Semaphore(self.concurrent))
        return self._budgets[tenant_id]


def _forget_older_than(starts: deque[float], cutoff: float) -> None:
    while starts and starts[0] <= cutoff:
        starts.popleft()
