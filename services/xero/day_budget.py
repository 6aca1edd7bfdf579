"""What Xero says is left of each organisation's day: the `X-DayLimit-Remaining` header of every answer.

Kept per organisation in this process (every answer, from any caller, updates it). Sync asks before it
reads, so it stops while exports still have calls left (an app on the Starter tier has 1,000 a day).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DAY_REMAINING_HEADER = "X-DayLimit-Remaining"


@dataclass(frozen=True)
class DayReading:
    remaining: int
    seen_at: float


class DayBudget:
    def __init__(self, *, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._readings: dict[str, DayReading] = {}

    def observe(self, tenant_id: str, headers: Mapping[str, str]) -> None:
        value = _header(headers, DAY_REMAINING_HEADER)
        if value is None:
            return
        try:
            remaining = int(float(value))
        except ValueError:
            return
        self._readings[tenant_id] = DayReading(max(0, remaining), self._clock())

    def remaining(self, tenant_id: str) -> int | None:
        """The last count Xero gave for today (None before any answer, or when it is a day old)."""
        reading = self._readings.get(tenant_id)
        if reading is None or self._clock() - reading.seen_at > 86_400:
            return None
        return reading.remaining


def _header(headers: Mapping[str, str], name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in dict(headers).items() if str(k).lower() == lowered), None)
    return value
