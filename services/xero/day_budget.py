"""What Xero says is left of each organisation's day and minute: `X-DayLimit-Remaining` and
`X-MinLimit-Remaining` on every answer.

Kept per organisation in this process (every answer, from any caller, updates it). Sync asks before it
reads, so it stops while exports still have calls left (an app on the Starter tier has 1,000 a day).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DAY_REMAINING_HEADER = "X-DayLimit-Remaining"
MINUTE_REMAINING_HEADER = "X-MinLimit-Remaining"


@dataclass(frozen=True)
class DayReading:
    remaining: int
    seen_at: float


class DayBudget:
    def __init__(self, *, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._readings: dict[str, DayReading] = {}
        self._minute: dict[str, DayReading] = {}

    def observe(self, tenant_id: str, headers: Mapping[str, str]) -> None:
        for name, readings in ((DAY_REMAINING_HEADER, self._readings), (MINUTE_REMAINING_HEADER, self._minute)):
            value = _count(_header(headers, name))
            if value is not None:
                readings[tenant_id] = DayReading(value, self._clock())

    def minute_remaining(self, tenant_id: str) -> int | None:
        """Calls left in Xero's current minute, as of the last answer (None when older than a minute)."""
        reading = self._minute.get(tenant_id)
        if reading is None or self._clock() - reading.seen_at > 60:
            return None
        return reading.remaining

    def remaining(self, tenant_id: str) -> int | None:
        """The last count Xero gave for today (None before any answer, or when it is a day old)."""
        reading = self._readings.get(tenant_id)
        if reading is None or self._clock() - reading.seen_at > 86_400:
            return None
        return reading.remaining


def _count(value: str | None) -> int | None:
    try:
        return max(0, int(float(value))) if value is not None else None
    except ValueError:
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in dict(headers).items() if str(k).lower() == lowered), None)
    return value
