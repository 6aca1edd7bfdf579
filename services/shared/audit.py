"""The audit trail: who did what, and what flowed back, one append-only document per thing that happened.

`AuditTrail` owns the `audit` collection. The services write where each thing happens (connections, exports'
transitions, settings, sync, the automatic requests); nothing is ever updated or deleted here, except by
MongoDB's TTL index once an entry is older than the data retention (DATA_RETENTION_DAYS). Entries are only
inserted, so `at` is a real date on every server (the embedded one included) and the TTL index can read it.
An entry that a rerun after a crash could write twice (a payment sync saw) carries a `key`: its `_id` is
derived from it and the second insert is a no-op.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.platform.storage import Storage
from services.xero.tokens import utcnow

log = logging.getLogger(__name__)

AuditAction = Literal[
    "connected", "removed",  # organisations
    "requested", "auto_requested", "approved", "rejected", "withdrawn", "retried", "exported", "failed",
    "settings_changed",
    "payment_recorded", "payment_removed", "status_changed",  # what flowed back from Xero
]
TTL_INDEX = "audit_retention"
DAY_SECONDS = 86400
MAX_EXPORTED = 10_000  # rows of one CSV


class AuditEntry(BaseModel):
    team_id: str
    action: AuditAction
    at: datetime
    by: str | None = None  # a Slack user id
    by_name: str | None = None  # someone outside Slack (who approved in Forecast), or "Xero"
    reference: str | None = None  # the Forecast invoice reference
    forecast_invoice_id: int | None = None
    tenant_id: str | None = None
    tenant_name: str | None = None
    details: dict[str, str] = {}

    @classmethod
    def from_doc(cls, doc: dict) -> AuditEntry:
        return cls.model_validate({k: v for k, v in doc.items() if k not in ("_id", "reference_key")})


@dataclass(frozen=True)
class AuditQuery:
    """What `/xero audit` asked for: any of an invoice, organisations, a person, a start."""

    reference: str | None = None
    tenant_ids: tuple[str, ...] = ()
    by: str | None = None
    since: datetime | None = None

    def filter(self, team_id: str) -> dict[str, Any]:
        query: dict[str, Any] = {"team_id": team_id}
        if self.reference:
            query["reference_key"] = reference_key(self.reference)
        if self.tenant_ids:
            query["tenant_id"] = {"$in": list(self.tenant_ids)}
        if self.by:
            query["by"] = self.by
        if self.since:
            query["at"] = {"$gte": self.since}
        return query


@dataclass
class AuditPage:
    entries: list[AuditEntry]
    total: int  # how many match (the page shows the newest `len(entries)`)
    query: AuditQuery = field(default_factory=AuditQuery)

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.entries))


def reference_key(reference: str) -> str:
    """INV-101, inv-101 and 'INV 101' are one invoice."""
    return re.sub(r"[\s-]+", "-", reference.strip()).casefold()


class AuditTrail:
    def __init__(self, storage: Storage, *, clock=utcnow):
        self.collection = storage.audit
        self.clock = clock

    async def ensure_indexes(self, retention_days: int) -> None:
        await self.collection.create_index([("team_id", ASCENDING), ("at", DESCENDING)])
        await self.collection.create_index([("team_id", ASCENDING), ("reference_key", ASCENDING), ("at", DESCENDING)])
        seconds = int(retention_days * DAY_SECONDS)
        try:
            await self.collection.create_index("at", name=TTL_INDEX, expireAfterSeconds=seconds)
        except OperationFailure:  # the retention changed: the index's expiry follows the setting
            await self.collection.database.command(
                {"collMod": self.collection.name, "index": {"name": TTL_INDEX, "expireAfterSeconds": seconds}})

    async def record(self, team_id: str, action: AuditAction, *, by: str | None = None, by_name: str | None = None,
                     reference: str | None = None, forecast_invoice_id: int | None = None,
                     tenant_id: str | None = None, tenant_name: str | None = None,
                     details: dict[str, Any] | None = None, key: str | None = None,
                     at: datetime | None = None) -> None:
        """Appends one entry. Never raises on a repeated `key`; a database error is the caller's (as any write)."""
        entry = AuditEntry(team_id=team_id, action=action, at=at or self.clock(), by=by, by_name=by_name,
                           reference=reference, forecast_invoice_id=forecast_invoice_id, tenant_id=tenant_id,
                           tenant_name=tenant_name,
                           details={k: str(v) for k, v in (details or {}).items() if v is not None})
        doc: dict[str, Any] = {"_id": _entry_id(team_id, key), **entry.model_dump()}
        if reference:
            doc["reference_key"] = reference_key(reference)
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            pass  # written before a crash: once is enough

    async def page(self, team_id: str, query: AuditQuery, *, limit: int) -> AuditPage:
        """The newest `limit` entries that match, newest first, and how many match in all."""
        found = self.collection.find(query.filter(team_id)).sort([("at", DESCENDING), ("_id", DESCENDING)])
        entries = [AuditEntry.from_doc(doc) async for doc in found.limit(limit)]
        total = len(entries)
        if total == limit:
            total = await self.collection.count_documents(query.filter(team_id))
        return AuditPage(entries, total, query)

    async def organisations(self, team_id: str) -> dict[str, str]:
        """Every organisation the trail names (removed ones too): tenant id -> its name as last recorded."""
        names: dict[str, str] = {}
        for tenant_id in await self.collection.distinct("tenant_id", {"team_id": team_id}):
            if not tenant_id:
                continue
            doc = await self.collection.find_one({"team_id": team_id, "tenant_id": tenant_id,
                                                  "tenant_name": {"$ne": None}}, sort=[("at", DESCENDING)])
            names[tenant_id] = (doc or {}).get("tenant_name") or tenant_id
        return names

    async def export(self, team_id: str, query: AuditQuery) -> AuditPage:
        return await self.page(team_id, query, limit=MAX_EXPORTED)


def _entry_id(team_id: str, key: str | None) -> str:
    if key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{team_id}\n{key}".encode()).hexdigest()[:32]
