"""Xero's per-organisation limits, enforced on our side so we rarely meet a 429.

Per tenant: 5 calls in flight, 60 calls started in any 60 seconds, 5,000 in any rolling day.
Xero's own count (`X-MinLimit-Remaining`, `X-DayLimit-Remaining` on every answer) is read too: another
process using the same organisation, or a Starter app's 1,000 a day, shows there first, and we pace by
the smaller of the two counts. `time_scale` shrinks the minute and the day (the bench's time-scaled Xero).
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
class _Reported:
    """What Xero last said is left, when, and how many calls we started since."""

    remaining: int
    at: float
    started_since: int = 0

    def left(self) -> int:
        return self.remaining - self.started_since


@dataclass
class _TenantBudget:
    in_flight: asyncio.Semaphore
    minute_starts: deque[float] = field(default_factory=deque)
    day_starts: deque[float] = field(default_factory=deque)
    minute_reported: _Reported | None = None
    day_reported: _Reported | None = None


class TenantLimiter:
    def __init__(
        self,
        *,
        concurrent: int = 5,
        per_minute: int = 60,
        per_day: int = 5_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        time_scale: float = 1.0,
        margin: float = 0.0,
    ):
        self.concurrent = concurrent
        self.per_minute = per_minute
        self.per_day = per_day
        # `margin` seconds widen our minute: Xero counts arrivals, and a call can arrive later than it left.
        self.minute = MINUTE / time_scale + margin
        self.day = DAY / time_scale
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
        now = self._clock()
        _forget_older_than(budget.day_starts, now - self.day)
        return max(0, min(self.per_day - len(budget.day_starts), self._reported_left(budget.day_reported, now,
                                                                                       self.day)))

    def day_resets_in(self, tenant_id: str) -> float:
        """Seconds until a call of today's budget is given back (a rolling day: the oldest call ages out)."""
        budget = self._budget(tenant_id)
        now = self._clock()
        _forget_older_than(budget.day_starts, now - self.day)
        if budget.day_starts:
            return max(0.0, budget.day_starts[0] + self.day - now)
        reported = budget.day_reported
        return max(0.0, reported.at + self.day - now) if reported else 0.0

    def observe(self, tenant_id: str, headers) -> None:
        """Read Xero's remaining counts from an answer's headers (missing or odd values are ignored)."""
        budget = self._budget(tenant_id)
        now = self._clock()
        minute = _header_int(headers, "X-MinLimit-Remaining")
        day = _header_int(headers, "X-DayLimit-Remaining")
        if minute is not None:
            budget.minute_reported = _Reported(minute, now)
        if day is not None:
            budget.day_reported = _Reported(day, now)

    async def _claim_start(self, budget: _TenantBudget) -> None:
        while True:
            now = self._clock()
            _forget_older_than(budget.day_starts, now - self.day)
            _forget_older_than(budget.minute_starts, now - self.minute)
            day_left = min(self.per_day - len(budget.day_starts),
                           self._reported_left(budget.day_reported, now, self.day))
            if day_left <= 0:
                raise XeroRateLimited(
                    "Xero's daily call limit for this organisation is used up (day limit) — try again later",
                    retry_after=(budget.day_starts[0] + self.day - now) if budget.day_starts else self.day,
                    problem="day",
                )
            minute_left = min(self.per_minute - len(budget.minute_starts),
                              self._reported_left(budget.minute_reported, now, self.minute))
            if minute_left > 0:
                budget.minute_starts.append(now)
                budget.day_starts.append(now)
                for reported in (budget.minute_reported, budget.day_reported):
                    if reported is not None:
                        reported.started_since += 1
                return
            await self._sleep(self._minute_wait(budget, now))

    def _minute_wait(self, budget: _TenantBudget, now: float) -> float:
        if len(budget.minute_starts) >= self.per_minute:
            return max(0.0, budget.minute_starts[0] + self.minute - now)
        # Xero counts calls we did not make (another process): wait a slot's worth, then look again.
        return self.minute / self.per_minute

    @staticmethod
    def _reported_left(reported: _Reported | None, now: float, window: float) -> float:
        """Xero's count stays meaningful for a window after it was said; after that only ours counts."""
        if reported is None or now - reported.at >= window:
            return float("inf")
        return reported.left()

    def _budget(self, tenant_id: str) -> _TenantBudget:
        if tenant_id not in self._budgets:
            self._budgets[tenant_id] = _TenantBudget(in_flight=asyncio.Semaphore(self.concurrent))
        return self._budgets[tenant_id]


def _header_int(headers, name: str) -> int | None:
    try:
        value = headers.get(name) if headers is not None else None
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _forget_older_than(starts: deque[float], cutoff: float) -> None:
    while starts and starts[0] <= cutoff:
        starts.popleft()
