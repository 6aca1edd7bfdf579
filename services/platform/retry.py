"""The one retry policy for outbound calls (Xero, Forecast): how long to wait before the next attempt."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
MAX_RETRY_AFTER = 60.0  # a longer Retry-After (e.g. Xero's day limit) is reported, not waited out


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    jitter: Callable[[], float] = random.random  # 0 <= jitter() < 1

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt `attempt` (1-based), or None when another attempt is pointless.

        The server's Retry-After is waited in full, plus up to a second so that callers told the same moment do
        not come back in lockstep; otherwise 0.5 s, 1 s, 2 s, ... capped, each spread by ±50 %.
        """
        if attempt >= self.max_attempts:
            return None
        if retry_after is not None:
            return retry_after + self.jitter() if retry_after <= MAX_RETRY_AFTER else None
        backoff: float = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return backoff * (0.5 + self.jitter())


def parse_retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds; None when absent or not a number."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
