"""What sync has to tell people in Slack, saved before it is sent (the one owner of `sync_notices`).

Each notice has a stable `_id` derived from the Xero change it is about (a payment id, a status and the
amount paid, a hash of a contact's new values, …), so a sync that runs again after a crash, or reads the
same change twice, saves it once. The `slack.sync_notice` job (bot/outbox/sync_notices.py) sends the notices not
yet sent, oldest first, notes `posting_at` before each post and marks each sent right after Slack took it:
after a crash between the two, the next run finds the posted notice by its metadata instead of sending it
again.

A notice holds codes and data (`what`, the report it came from), not words: bot/blocks/sync.py renders it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

SYNC_NOTICE = "slack.sync_notice"
SENT_KEPT_SECONDS = 7 * 86_400.0

NoticeKind = Literal["payment_recorded", "inexact_payment", "payment_removed", "status", "lines_edited",
                     "problem", "key_missing", "paid", "unlinked_invoice", "client_changed", "drift_report"]
UNSENT, SENT, REFUSED = "unsent", "sent", "refused"


def notice_key(team_id: str) -> str:
    """One delivery job per workspace: notices of one invoice stay in order."""
    return f"sync_notice:{team_id}"


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class SyncNotice(BaseModel):
    id: str
    team_id: str
    what: NoticeKind
    channel: str  # a channel id, or a user id for a DM
    thread_ts: str | None = None
    report: dict[str, Any]  # the InvoiceSynced / ContactSynced it came from, as JSON
    item: dict[str, Any] = {}  # the payment or problem it is about, when it is about one
    tenant_name: str | None = None
    seq: int = 0  # order within one sync of one object
    created_at: datetime | None = None  # set when saved
    state: str = UNSENT
    posting_at: datetime | None = None  # the last post attempt (a crash after it: look before posting)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SyncNotice:
        return cls.model_validate({**doc, "id": doc["_id"]})


class SyncNoticeStore:
    def __init__(self, collection: AsyncCollection, *, clock: Callable[[], float] = time.time):
        self.collection = collection
        self.clock = clock  # epoch seconds; the documents hold dates

    def now(self, later_by: float = 0.0) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC) + timedelta(seconds=later_by)

    async def add(self, notices: list[SyncNotice]) -> int:
        """Saves the notices not saved before (same id: the same change); how many were new."""
        added, now = 0, self.now()
        for notice in notices:
            doc = {"_id": notice.id, **notice.model_dump(exclude={"id"}), "created_at": now, "state": UNSENT}
            try:
                await self.collection.insert_one(doc)
                added += 1
            except DuplicateKeyError:
                pass
        return added

    async def unsent(self, team_id: str, limit: int = 200) -> list[SyncNotice]:
        cursor = self.collection.find({"team_id": team_id, "state": UNSENT}).sort(
            [("created_at", ASCENDING), ("seq", ASCENDING)]).limit(limit)
        return [SyncNotice.from_doc(doc) async for doc in cursor]

    async def teams_with_unsent(self) -> list[str]:
        return [str(team) for team in await self.collection.distinct("team_id", {"state": UNSENT})]

    async def mark_posting(self, notice: SyncNotice) -> None:
        notice.posting_at = self.now()
        await self.collection.update_one({"_id": notice.id}, {"$set": {"posting_at": notice.posting_at}})

    async def mark(self, notice: SyncNotice, state: str, *, ts: str | None = None, error: str | None = None) -> None:
        await self.collection.update_one({"_id": notice.id}, {"$set": {
            "state": state, "ts": ts, "error": error, "finished_at": self.now()}})

    async def purge_finished(self, older_than: float = SENT_KEPT_SECONDS) -> int:
        result = await self.collection.delete_many({"state": {"$in": [SENT, REFUSED]},
                                                    "finished_at": {"$lt": self.now(-older_than)}})
        return result.deleted_count

    async def count(self, **query: Any) -> int:
        return await self.collection.count_documents(query)
