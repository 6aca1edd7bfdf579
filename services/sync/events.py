"""Xero webhook events, stored before they are handled (the one owner of `xero_events`).

Xero retries a delivery for up to a day and may send the same change twice, so each event's `_id` is a
digest of what identifies it (tenant, resource, time, type, category): storing it again is a no-op.
Events carry only ids; the sync job reads the objects themselves from Xero and marks the events done.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

NEW, DONE = "new", "done"
CATEGORIES = ("INVOICE", "CONTACT", "CREDITNOTE")


class XeroEvent(BaseModel):
    """One entry of a webhook's `events` array (Xero's camelCase names)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    tenant_id: str = Field("", alias="tenantId")
    resource_id: str = Field("", alias="resourceId")
    event_date_utc: str = Field("", alias="eventDateUtc")
    event_type: str = Field("", alias="eventType")
    event_category: str = Field("", alias="eventCategory")

    @property
    def event_id(self) -> str:
        parts = (self.tenant_id, self.resource_id, self.event_date_utc, self.event_type, self.event_category)
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


class PendingEvents(BaseModel):
    ids: list[str] = []
    invoice_ids: list[str] = []
    contact_ids: list[str] = []
    credit_note_ids: list[str] = []


class XeroEventStore:
    def __init__(self, collection: AsyncCollection, *, clock: Callable[[], float] = time.time):
        self.collection = collection
        self.clock = clock  # epoch seconds; the documents hold dates

    def now(self, later_by: float = 0.0) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC) + timedelta(seconds=later_by)

    async def add(self, team_id: str, event: XeroEvent) -> bool:
        """False when this event was stored before (a retry or a duplicate)."""
        try:
            await self.collection.insert_one({
                "_id": event.event_id, "team_id": team_id, "tenant_id": event.tenant_id,
                "resource_id": event.resource_id, "category": event.event_category, "type": event.event_type,
                "event_date": event.event_date_utc, "state": NEW, "received_at": self.now(),
            })
            return True
        except DuplicateKeyError:
            return False

    async def pending(self, team_id: str, tenant_id: str, limit: int = 5000) -> PendingEvents:
        cursor = self.collection.find({"team_id": team_id, "tenant_id": tenant_id, "state": NEW}).limit(limit)
        pending = PendingEvents()
        async for doc in cursor:
            pending.ids.append(doc["_id"])
            target = {"INVOICE": pending.invoice_ids, "CREDITNOTE": pending.credit_note_ids}.get(
                doc.get("category") or "", pending.contact_ids)
            if doc.get("resource_id") and doc["resource_id"] not in target:
                target.append(doc["resource_id"])
        return pending

    async def has_pending(self, team_id: str, tenant_id: str) -> bool:
        return await self.collection.find_one({"team_id": team_id, "tenant_id": tenant_id, "state": NEW}) is not None

    async def mark_done(self, event_ids: list[str]) -> None:
        if event_ids:
            await self.collection.update_many({"_id": {"$in": event_ids}, "state": NEW},
                                              {"$set": {"state": DONE, "handled_at": self.now()}})

    async def purge_done(self, older_than: float) -> int:
        """Forgets events handled a while ago (Xero retries a delivery for a day at most)."""
        result = await self.collection.delete_many({"state": DONE, "handled_at": {"$lt": self.now(-older_than)}})
        return result.deleted_count

    async def count(self, **query: Any) -> int:
        return await self.collection.count_documents(query)
