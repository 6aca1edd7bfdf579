"""Exclusive, expiring claims on a name, kept in MongoDB so that every bot process sees them.

The insert is the lock (the name is the document's `_id`); a claim whose holder died is taken over
once it expires. Used where two jobs could otherwise work on the same thing at once.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Callable

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.xero.tokens import utcnow


class LeaseBusy(Exception):
    """Someone else held the claim for longer than we were willing to wait."""


class Leases:
    def __init__(self, collection: AsyncCollection[dict[str, Any]], *, clock: Callable[[], datetime] = utcnow,
                 poll_interval: float = 0.1):
        self.collection = collection
        self.clock = clock
        self.poll_interval = poll_interval

    async def try_acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        now = self.clock()
        try:
            await self.collection.insert_one({"_id": name, "holder": holder, "until": now + ttl})
            return True
        except DuplicateKeyError:
            taken_over = await self.collection.find_one_and_update(
                {"_id": name, "until": {"$lt": now}}, {"$set": {"holder": holder, "until": now + ttl}})
            return taken_over is not None

    async def release(self, name: str, holder: str) -> None:
        await self.collection.delete_one({"_id": name, "holder": holder})

    @asynccontextmanager
    async def hold(self, name: str, holder: str, *, ttl: timedelta, wait: timedelta) -> AsyncIterator[None]:
        """Waits up to `wait` for the claim, holds it inside the block, releases it after."""
        deadline = self.clock() + wait
        while not await self.try_acquire(name, holder, ttl):
            if self.clock() >= deadline:
                raise LeaseBusy(name)
            await asyncio.sleep(self.poll_interval)
        try:
            yield
        finally:
            await self.release(name, holder)
