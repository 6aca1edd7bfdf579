"""A per-organisation copy of long Xero lists (customer contacts, purchase orders) in MongoDB.

The first listing reads every page; later listings send `If-Modified-Since` (the previous fetch time, less
a small overlap for clock skew) and merge what changed, so a second listing costs one short request. After
`FULL_REFRESH_AFTER` the list is read in full again, which also drops records that left the list (a contact
that is no longer a customer, for instance).

One document per record (`entry: "record"`) keeps documents small and lets the options handler search by
name in MongoDB; one document per list (`entry: "fetch"`) holds the last fetch time. Organisations are read
concurrently, each through the XeroClient's per-organisation limiter and retry policy; one organisation
failing only marks its own part unavailable.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pymongo import ASCENDING, DESCENDING, UpdateOne

from services.connections.service import Tenant
from services.platform.logfmt import fields
from services.platform.storage import Storage
from services.xero.client import TenantAuth, XeroClient
from services.xero.errors import XeroError
from services.xero.models import XeroContact, XeroPurchaseOrder
from services.xero.tokens import utcnow

log = logging.getLogger(__name__)

CacheKind = Literal["contacts", "purchase_orders"]
CONTACTS: CacheKind = "contacts"
PURCHASE_ORDERS: CacheKind = "purchase_orders"
RECORD = "record"
FETCH = "fetch"
FULL_REFRESH_AFTER = timedelta(hours=24)
CLOCK_SKEW_OVERLAP = timedelta(minutes=5)
GONE_CONTACT_STATUSES = {"ARCHIVED", "GDPRREQUEST"}


@dataclass(frozen=True)
class TenantRefresh:
    """How reading one organisation went: `error` is Xero's failure (its code, data and details) when it failed."""

    tenant: Tenant
    fetched_at: datetime | None  # last successful fetch (this one, or an earlier one when this failed)
    changed: int = 0
    error: XeroError | None = None

    @property
    def available(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class CachedRecord:
    tenant_id: str
    record_id: str
    record: dict


@dataclass(frozen=True)
class _Row:
    """What is stored for one Xero record: id, text to search, order and status."""

    record_id: str
    search: str
    sort_key: str
    status: str
    record: dict


def _contact_row(contact: XeroContact) -> _Row:
    name = (contact.name or "").strip()
    return _Row(contact.contact_id or "", name.casefold(), name.casefold(), contact.contact_status or "",
                contact.to_xero())


def _purchase_order_row(order: XeroPurchaseOrder) -> _Row:
    supplier = (order.contact.name if order.contact else None) or ""
    number = order.purchase_order_number or ""
    when = order.date.isoformat() if order.date else ""
    return _Row(order.purchase_order_id or "", f"{number} {supplier}".casefold(), f"{when} {number}",
                order.status or "", order.to_xero())


class XeroCache:
    def __init__(self, storage: Storage, xero: XeroClient, *, clock: Callable[[], datetime] = utcnow):
        self.collection = storage.xero_cache
        self.xero = xero
        self.clock = clock

    # Refresh --------------------------------------------------------------------------
    async def refresh(self, team_id: str, tenants: list[Tenant], kind: CacheKind) -> list[TenantRefresh]:
        """Bring every organisation's copy up to date, all at once; failures are reported per organisation."""
        return list(await asyncio.gather(*(self._refresh_one(team_id, tenant, kind) for tenant in tenants)))

    async def _refresh_one(self, team_id: str, tenant: Tenant, kind: CacheKind) -> TenantRefresh:
        meta = await self.collection.find_one({"_id": _fetch_id(team_id, tenant.tenant_id, kind)}) or {}
        previous: datetime | None = meta.get("fetched_at")
        started = self.clock()
        incremental = previous is not None and started - previous < FULL_REFRESH_AFTER
        since = previous - CLOCK_SKEW_OVERLAP if incremental and previous is not None else None
        try:
            rows = await self._fetch(TenantAuth(tenant.tenant_id, tenant.token_set_id), kind, since)
        except XeroError as exc:
            log.warning("xero_cache.unavailable", **fields(team=team_id, tenant=tenant.tenant_id, kind=kind,
                                                           error=str(exc)))
            await self._set_fetch(team_id, tenant.tenant_id, kind, last_error=_stored_error(exc))
            return TenantRefresh(tenant, previous, error=exc)
        if not incremental:
            await self.collection.delete_many(_records_filter(team_id, [tenant.tenant_id], kind))
        await self._store(team_id, tenant.tenant_id, kind, rows)
        await self._set_fetch(team_id, tenant.tenant_id, kind, fetched_at=started, last_error=None)
        log.info("xero_cache.refreshed", **fields(team=team_id, tenant=tenant.tenant_id, kind=kind,
                                                  changed=len(rows), incremental=incremental))
        return TenantRefresh(tenant, started, changed=len(rows))

    async def state(self, team_id: str, tenant: Tenant, kind: CacheKind) -> TenantRefresh:
        """How the last refresh of this organisation's list went, without asking Xero."""
        meta = await self.collection.find_one({"_id": _fetch_id(team_id, tenant.tenant_id, kind)}) or {}
        return TenantRefresh(tenant, meta.get("fetched_at"), error=_read_error(meta.get("last_error")))

    async def _set_fetch(self, team_id: str, tenant_id: str, kind: CacheKind, **values) -> None:
        await self.collection.update_one(
            {"_id": _fetch_id(team_id, tenant_id, kind)},
            {"$set": {"team_id": team_id, "tenant_id": tenant_id, "kind": kind, "entry": FETCH, **values}},
            upsert=True,
        )

    async def _fetch(self, auth: TenantAuth, kind: CacheKind, since: datetime | None) -> list[_Row]:
        if kind == CONTACTS:
            contacts = await self.xero.list_contacts(auth, customers_only=True, if_modified_since=since)
            return [_contact_row(c) for c in contacts if c.contact_id]
        orders = await self.xero.list_purchase_orders(auth, if_modified_since=since)
        return [_purchase_order_row(o) for o in orders if o.purchase_order_id]

    async def _store(self, team_id: str, tenant_id: str, kind: CacheKind, rows: list[_Row]) -> None:
        gone = [r.record_id for r in rows if kind == CONTACTS and r.status in GONE_CONTACT_STATUSES]
        kept = [r for r in rows if r.record_id not in gone]
        if gone:
            await self.collection.delete_many({"_id": {"$in": [_record_id(team_id, tenant_id, kind, i) for i in gone]}})
        if not kept:
            return
        # update_one upserts keyed on _id: the embedded server mishandles replace_one upserts.
        await self.collection.bulk_write([
            UpdateOne({"_id": _record_id(team_id, tenant_id, kind, row.record_id)},
                      {"$set": {"team_id": team_id, "tenant_id": tenant_id, "kind": kind, "entry": RECORD,
                                "record_id": row.record_id, "search": row.search, "sort_key": row.sort_key,
                                "status": row.status, "record": row.record}},
                      upsert=True)
            for row in kept
        ], ordered=False)

    # Read -----------------------------------------------------------------------------
    async def find(self, team_id: str, tenant_ids: list[str], kind: CacheKind, *, text: str = "",
                   statuses: list[str] | None = None, limit: int = 0, newest_first: bool = False
                   ) -> list[CachedRecord]:
        """Cached records whose search text contains `text` (case-insensitive), in name or date order."""
        query = _records_filter(team_id, tenant_ids, kind)
        if text.strip():
            query["search"] = {"$regex": re.escape(text.strip().casefold()), "$options": "i"}
        if statuses is not None:
            query["status"] = {"$in": list(statuses)}
        order = DESCENDING if newest_first else ASCENDING
        cursor = self.collection.find(query).sort([("sort_key", order), ("record_id", ASCENDING)])
        if limit:
            cursor = cursor.limit(limit)
        return [CachedRecord(doc["tenant_id"], doc["record_id"], doc["record"]) async for doc in cursor]

    async def count(self, team_id: str, tenant_id: str, kind: CacheKind, *, statuses: list[str] | None = None) -> int:
        query = _records_filter(team_id, [tenant_id], kind)
        if statuses is not None:
            query["status"] = {"$in": list(statuses)}
        return await self.collection.count_documents(query)

    async def get(self, team_id: str, tenant_id: str, kind: CacheKind, record_id: str) -> dict | None:
        doc = await self.collection.find_one({"_id": _record_id(team_id, tenant_id, kind, record_id)})
        return doc["record"] if doc else None


def _records_filter(team_id: str, tenant_ids: list[str], kind: CacheKind) -> dict:
    return {"team_id": team_id, "tenant_id": {"$in": list(tenant_ids)}, "kind": kind, "entry": RECORD}


def _record_id(team_id: str, tenant_id: str, kind: str, record_id: str) -> str:
    return f"{team_id}|{tenant_id}|{kind}|{record_id}"


def _fetch_id(team_id: str, tenant_id: str, kind: str) -> str:
    return f"{team_id}|{tenant_id}|{kind}"


def _stored_error(error: XeroError) -> dict[str, Any]:
    return {"code": error.code, "data": error.data, "details": error.details, "message": error.message}


def _read_error(stored: dict[str, Any] | str | None) -> XeroError | None:
    """The failure of the last refresh, as stored (plain text before codes were stored)."""
    if not stored:
        return None
    if isinstance(stored, str):
        return XeroError(stored)
    return XeroError(stored.get("message") or "", code=stored.get("code") or "failed", data=stored.get("data"),
                     details=stored.get("details"))
