"""When each organisation was last read for changes, and who asked for a sync (owner of `xero_sync`).

One `state` document per (workspace, organisation): `last_scan_at` (the next scan asks Xero
for what changed since then) and `scan_requested_at` (set by `/xero sync`). One `request` document per
`/xero sync`, answered by the job that runs the scan. One `drift` document per workspace and day once
that day's drift check ran (services/sync/drift.py), so every replica's ticker starts it once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection

STATE, REQUEST, DRIFT = "state", "request", "drift"
OPEN, ANSWERED = "open", "answered"


class SyncState(BaseModel):
    team_id: str
    tenant_id: str
    last_scan_at: datetime | None = None
    scan_requested_at: datetime | None = None

    def scan_due(self, now: datetime, interval_seconds: float) -> bool:
        if self.last_scan_at is None:
            return True
        if self.scan_requested_at and self.last_scan_at < self.scan_requested_at:
            return True
        return (now - self.last_scan_at).total_seconds() >= interval_seconds


class SyncRequest(BaseModel):
    id: str
    team_id: str
    tenant_id: str
    user_id: str
    channel_id: str | None = None
    requested_at: datetime


class SyncStateStore:
    def __init__(self, collection: AsyncCollection, *, clock: Callable[[], float] = time.time):
        self.collection = collection
        self.clock = clock  # epoch seconds; the documents hold dates

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def get(self, team_id: str, tenant_id: str) -> SyncState:
        doc = await self.collection.find_one({"_id": _state_id(team_id, tenant_id)})
        values = {k: v for k, v in (doc or {}).items() if k in SyncState.model_fields}
        return SyncState(**{**values, "team_id": team_id, "tenant_id": tenant_id})

    async def scanned(self, team_id: str, tenant_id: str, started_at: datetime) -> None:
        await self.collection.update_one(
            {"_id": _state_id(team_id, tenant_id)},
            {"$set": {"kind": STATE, "team_id": team_id, "tenant_id": tenant_id, "last_scan_at": started_at}},
            upsert=True)

    async def request_scan(self, team_id: str, tenant_id: str, *, user_id: str, channel_id: str | None) -> SyncRequest:
        now = self.now()
        request = SyncRequest(id=uuid.uuid4().hex, team_id=team_id, tenant_id=tenant_id, user_id=user_id,
                              channel_id=channel_id, requested_at=now)
        await self.collection.insert_one({"_id": request.id, "kind": REQUEST, "state": OPEN,
                                          **request.model_dump(exclude={"id"})})
        await self.collection.update_one(
            {"_id": _state_id(team_id, tenant_id)},
            {"$set": {"kind": STATE, "team_id": team_id, "tenant_id": tenant_id, "scan_requested_at": now}},
            upsert=True)
        return request

    async def open_requests(self, team_id: str, tenant_id: str, *, made_before: datetime) -> list[SyncRequest]:
        cursor = self.collection.find({"team_id": team_id, "tenant_id": tenant_id, "kind": REQUEST, "state": OPEN,
                                       "requested_at": {"$lte": made_before}})
        return [SyncRequest.model_validate({**doc, "id": doc["_id"]}) async for doc in cursor]

    async def answered(self, request: SyncRequest) -> bool:
        """False when another run answered it already (so nobody is told twice)."""
        result = await self.collection.update_one({"_id": request.id, "state": OPEN},
                                                  {"$set": {"state": ANSWERED, "answered_at": self.now()}})
        return result.modified_count == 1


    async def drift_checked(self, team_id: str, day: str) -> bool:
        return await self.collection.find_one({"_id": _drift_id(team_id, day)}) is not None

    async def mark_drift_checked(self, team_id: str, day: str) -> None:
        await self.collection.update_one({"_id": _drift_id(team_id, day)}, {"$set": {
            "kind": DRIFT, "team_id": team_id, "day": day, "checked_at": self.now()}}, upsert=True)


def _drift_id(team_id: str, day: str) -> str:
    return f"drift:{team_id}:{day}"


def _state_id(team_id: str, tenant_id: str) -> str:
    return f"state:{team_id}:{tenant_id}"
