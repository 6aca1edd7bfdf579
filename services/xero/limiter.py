"""Xero's per-organisation limits, enforced on our side so we rarely meet a 429.

Per tenant: 5 calls in flight, 60 calls started in any 60 seconds, 5,000 in any rolling day.
Xero's own count (`X-MinLimit-Remaining`, `X-DayLimit-Remaining` on every answer) is read too: what Xero
counts beyond our own calls (another process or app on the same organisation, or a Starter app's 1,000 a
day) is taken off our budget for a window. `time_scale` shrinks the minute and the day (the bench's
time-scaled Xero).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from services.xero.errors import XeroRateLimited

MINUTE = 60.0
DAY = 86_400.0


@dataclass
class _Elsewhere:
    """Calls Xero counted that we did not make (another process, another app on the same organisation):
    Xero's used count at `at` less ours at that moment. They age out within a window of `at`."""

    calls: int
    at: float


@dataclass
class _TenantBudget:
    in_flight: asyncio.Semaphore
    calls_open: int = 0  # started and not finished: each still counts in the minute
    minute_ends: deque[float] = field(default_factory=deque)  # when calls finished
    day_starts: deque[float] = field(default_factory=deque)
    minute_elsewhere: _Elsewhere | None = None
    day_elsewhere: _Elsewhere | None = None


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
            await self._claim_start(budget)
            try:
                yield
            finally:
                # Xero counts a call when it arrives, somewhere between our start and its answer: counting it
                # in our minute until a minute after the answer keeps us under Xero's count, whatever the lag.
                budget.calls_open -= 1
                budget.minute_ends.append(self._clock())

    def calls_left_today(self, tenant_id: str) -> int:
        budget = self._budget(tenant_id)
        return max(0, self._day_left(budget, self._clock()))

    def calls_left_this_minute(self, tenant_id: str) -> int:
        """Calls that may start now within Xero's minute (ours and what Xero last counted)."""
        budget = self._budget(tenant_id)
        now = self._clock()
        elsewhere = _recent(budget.minute_elsewhere, now, self.minute)
        return max(0, self.per_minute - self._minute_used(budget, now) - elsewhere)

    def day_resets_in(self, tenant_id: str) -> float:
        """Seconds until a call of today's budget is given back (a rolling day: the oldest call ages out)."""
        budget = self._budget(tenant_id)
        now = self._clock()
        _forget_older_than(budget.day_starts, now - self.day)
        oldest = [budget.day_starts[0]] if budget.day_starts else []
        if budget.day_elsewhere is not None and budget.day_elsewhere.calls > 0:
            oldest.append(budget.day_elsewhere.at)
        return max(0.0, min(oldest) + self.day - now) if oldest else 0.0

    def observe(self, tenant_id: str, headers: Mapping[str, str] | None) -> None:
        """Read Xero's remaining counts from an answer's headers (missing or odd values are ignored)."""
        budget = self._budget(tenant_id)
        now = self._clock()
        minute = _header_int(headers, "X-MinLimit-Remaining")
        day = _header_int(headers, "X-DayLimit-Remaining")
        if minute is not None:
            budget.minute_elsewhere = _Elsewhere(max(0, self.per_minute - minute - self._minute_used(budget, now)),
                                                 now)
        if day is not None:
            _forget_older_than(budget.day_starts, now - self.day)
            budget.day_elsewhere = _Elsewhere(max(0, self.per_day - day - len(budget.day_starts)), now)

    async def _claim_start(self, budget: _TenantBudget) -> None:
        while True:
            now = self._clock()
            if self._day_left(budget, now) <= 0:
                raise XeroRateLimited(code="day_used_up", retry_after=self._day_wait(budget, now), problem="day")
            elsewhere = _recent(budget.minute_elsewhere, now, self.minute)
            if self._minute_used(budget, now) + elsewhere < self.per_minute:
                budget.calls_open += 1
                budget.day_starts.append(now)
                return
            await self._sleep(self._minute_wait(budget, now))

    def _minute_used(self, budget: _TenantBudget, now: float) -> int:
        _forget_older_than(budget.minute_ends, now - self.minute)
        return budget.calls_open + len(budget.minute_ends)

    def _day_left(self, budget: _TenantBudget, now: float) -> int:
        _forget_older_than(budget.day_starts, now - self.day)
        return self.per_day - len(budget.day_starts) - _recent(budget.day_elsewhere, now, self.day)

    def _day_wait(self, budget: _TenantBudget, now: float) -> float:
        waits = [budget.day_starts[0] + self.day - now] if budget.day_starts else []
        if budget.day_elsewhere is not None:
            waits.append(budget.day_elsewhere.at + self.day - now)
        return max(0.0, min(waits)) if waits else self.day

    def _minute_wait(self, budget: _TenantBudget, now: float) -> float:
        if budget.minute_ends and budget.calls_open + len(budget.minute_ends) >= self.per_minute:
            return max(0.001, budget.minute_ends[0] + self.minute - now)  # when our oldest call ages out
        return self.minute / self.per_minute  # calls made elsewhere fill it: look again shortly

    def _budget(self, tenant_id: str) -> _TenantBudget:
        if tenant_id not in self._budgets:
            self._budgets[tenant_id] = _TenantBudget(in_flight=asyncio.Semaphore(self.concurrent))
        return self._budgets[tenant_id]


def _recent(elsewhere: _Elsewhere | None, now: float, window: float) -> int:
    return elsewhere.calls if elsewhere is not None and now - elsewhere.at < window else 0


def _header_int(headers: Mapping[str, str] | None, name: str) -> int | None:
    try:
        value = headers.get(name) if headers is not None else None
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _forget_older_than(starts: deque[float], cutoff: float) -> None:
    while starts and starts[0] <= cutoff:
        starts.popleft()
