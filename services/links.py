"""Links between Forecast objects and Xero objects in one organisation (tenant).

A link is how the bot remembers "Forecast client 7 is contact X in organisation T" or "Forecast invoice
5001 is Xero invoice Y in organisation T". Links are never deleted: removing an organisation marks its
links `unlinked`, which keeps the audit trail.

Key: (team_id, kind, forecast_id, tenant_id), unique. For purchase orders the Forecast side does not
exist until the import creates it, so their `forecast_id` is the Xero PurchaseOrderID and the Forecast
expense item id is kept in `details`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from services.storage import Storage, stamp
from services.xero.tokens import utcnow

LinkKind = Literal["client", "invoice", "purchase_order"]
LINKED = "linked"
UNLINKED = "unlinked"


class Link(BaseModel):
    team_id: str
    kind: LinkKind
    forecast_id: str
    tenant_id: str
    xero_id: str | None = None
    xero_number: str | None = None
    status: str = LINKED
    linked_by: str | None = None
    linked_at: datetime | None = None
    details: dict = {}

    @classmethod
    def from_doc(cls, doc: dict) -> "Link":
        return cls.model_validate({k: v for k, v in doc.items() if k != "_id"})


class LinkStore:
    def __init__(self, storage: Storage):
        self.links = storage.links

    async def linked(self, team_id: str, kind: LinkKind, forecast_id: str | int) -> list[Link]:
        """Every live link of one Forecast object (a client may be linked in several organisations)."""
        cursor = self.links.find({"team_id": team_id, "kind": kind, "forecast_id": str(forecast_id), "status": LINKED})
        return [Link.from_doc(doc) async for doc in cursor]

    async def linked_many(self, team_id: str, kind: LinkKind, forecast_ids: list[str | int],
                          tenant_id: str | None = None) -> list[Link]:
        """Live links of several Forecast objects at once (optionally in one organisation)."""
        query = {"team_id": team_id, "kind": kind, "forecast_id": {"$in": [str(i) for i in forecast_ids]},
                 "status": LINKED}
        if tenant_id is not None:
            query["tenant_id"] = tenant_id
        return [Link.from_doc(doc) async for doc in self.links.find(query)]

    async def history(self, team_id: str, kind: LinkKind, forecast_ids: list[str | int]) -> list[Link]:
        """Every link of these Forecast objects, live or left behind by a removed organisation."""
        cursor = self.links.find({"team_id": team_id, "kind": kind, "forecast_id": {"$in": [str(i) for i in forecast_ids]}})
        return [Link.from_doc(doc) async for doc in cursor]

    async def by_xero_id(self, team_id: str, kind: LinkKind, tenant_id: str, xero_id: str) -> Link | None:
        doc = await self.links.find_one({"team_id": team_id, "kind": kind, "tenant_id": tenant_id,
                                         "xero_id": xero_id, "status": LINKED})
        return Link.from_doc(doc) if doc else None

    async def linked_xero_ids(self, team_id: str, kind: LinkKind, tenant_id: str) -> set[str]:
        cursor = self.links.find({"team_id": team_id, "kind": kind, "tenant_id": tenant_id, "status": LINKED},
                                 {"xero_id": 1})
        return {doc["xero_id"] async for doc in cursor if doc.get("xero_id")}

    async def link(self, team_id: str, kind: LinkKind, forecast_id: str | int, tenant_id: str, *,
                   xero_id: str | None, xero_number: str | None = None, linked_by: str | None = None,
                   details: dict | None = None) -> Link:
        """Create or refresh the link (idempotent: linking twice leaves one link)."""
        key = {"team_id": team_id, "kind": kind, "forecast_id": str(forecast_id), "tenant_id": tenant_id}
        values = {"xero_id": xero_id, "xero_number": xero_number, "status": LINKED, "linked_by": linked_by,
                  "linked_at": stamp(utcnow()), "details": details or {}}
        await self.links.update_one(key, {"$set": values}, upsert=True)
        return Link.model_validate({**key, **values})

    async def claim(self, team_id: str, kind: LinkKind, forecast_id: str | int, tenant_id: str, *,
                    claimed_by: str, status: str = "pending") -> bool:
        """Reserve a link before creating the object it will point to; False if it exists already.

        The unique index makes the insert the lock: of two concurrent claims, one wins.
        """
        try:
            await self.links.insert_one({"team_id": team_id, "kind": kind, "forecast_id": str(forecast_id),
                                         "tenant_id": tenant_id, "status": status, "linked_by": claimed_by,
                                         "linked_at": stamp(utcnow()), "details": {}})
            return True
        except DuplicateKeyError:
            return False

    async def release_claim(self, team_id: str, kind: LinkKind, forecast_id: str | int, tenant_id: str,
                            status: str = "pending") -> None:
        await self.links.delete_one({"team_id": team_id, "kind": kind, "forecast_id": str(forecast_id),
                                     "tenant_id": tenant_id, "status": status})

    async def get(self, team_id: str, kind: LinkKind, forecast_id: str | int, tenant_id: str) -> Link | None:
        doc = await self.links.find_one({"team_id": team_id, "kind": kind, "forecast_id": str(forecast_id),
                                         "tenant_id": tenant_id})
        return Link.from_doc(doc) if doc else None
