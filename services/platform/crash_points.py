"""Named points where the fault-injection test makes the bot die with SIGKILL (tests/crash/test_crashes.py).

Inert unless the BOT_CRASH_AT environment variable names the point when the process starts, e.g.
`BOT_CRASH_AT=after_xero_create`; production never sets it.
"""

from __future__ import annotations

import asyncio
import os
import signal

_ARMED = frozenset(filter(None, os.environ.get("BOT_CRASH_AT", "").split(",")))


def crash_point(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)


async def crash_point_soon(name: str, delay: float = 0.3) -> None:
    """As crash_point, a moment later: the answer already handed over (an ack) leaves the process first."""
    if name in _ARMED:
        await asyncio.sleep(delay)
        os.kill(os.getpid(), signal.SIGKILL)
