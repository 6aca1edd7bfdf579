"""Who has opened the Home tab, per workspace: kept in MongoDB so any process (after a restart, on another
replica) redraws everyone's Home, not only the people who opened it on that process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection

# Someone who has not opened Home for this long is no longer redrawn: Slack tells us when they open it again,
# and it is drawn afresh then.
STALE_AFTER = timedelta(days=30)


class HomeViewerStore:
    """Owns the `home_viewers` collection: one document per (team_id, user_id), with `opened_at`."""

    def __init__(self, collection: AsyncCollection, stale_after: timedelta = STALE_AFTER):
        self.collection = collection
        self.stale_after = stale_after

    async def opened(self, team_id: str, user_id: str, at: datetime | None = None) -> None:
        when = at or datetime.now(UTC)
        await self.collection.update_one(
            {"team_id": team_id, "user_id": user_id},
            {"$set": {"opened_at": when}, "$setOnInsert": {"team_id": team_id, "user_id": user_id}},
            upsert=True,
        )

    async def viewers(self, team_id: str, now: datetime | None = None) -> list[str]:
        """Who opened Home lately; those gone quiet are forgotten."""
        await self.collection.delete_many({"team_id": team_id,
                                           "opened_at": {"$lt": (now or datetime.now(UTC)) - self.stale_after}})
        cursor = self.collection.find({"team_id": team_id}, {"user_id": 1, "_id": 0})
        return sorted({doc["user_id"] async for doc in cursor})
