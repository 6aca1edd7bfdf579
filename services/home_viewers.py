"""Who has opened the Home tab, per workspace: kept in MongoDB so any process (after a restart, on another
replica) redraws everyone's Home, not only the people who opened it on that process."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.asynchronous.collection import AsyncCollection


class HomeViewerStore:
    """Owns the `home_viewers` collection: one document per (team_id, user_id), with `opened_at`."""

    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def opened(self, team_id: str, user_id: str, at: datetime | None = None) -> None:
        when = at or datetime.now(UTC)
        await self.collection.update_one(
            {"team_id": team_id, "user_id": user_id},
            {"$set": {"opened_at": when}, "$setOnInsert": {"team_id": team_id, "user_id": user_id}},
            upsert=True,
        )

    async def viewers(self, team_id: str) -> list[str]:
        cursor = self.collection.find({"team_id": team_id}, {"user_id": 1, "_id": 0})
        return sorted({doc["user_id"] async for doc in cursor})
