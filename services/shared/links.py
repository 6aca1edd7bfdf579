"""Links between Forecast objects and Xero objects in one organisation (tenant).

A link is how the bot remembers "Forecast client 7 is contact X in organisation T" or "Forecast invoice
5001 is Xero invoice Y in organisation T". Links are never deleted: removing an organisation marks its
links `unlinked`, which keeps the audit trail.

Key: (team_id, kind, forecast_id, tenant_id), unique. For purchase orders the Forecast side does not
exist until the import creates it, so their `forecast_id` is the Xero PurchaseOrderID and the Forecast
expense item id is kept in `details`. Payments likewise: `forecast_id` is the Xero PaymentID and
`details` holds the Forecast invoice payment id (services/sync/invoices.py).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from services.platform.storage import Storage
from services.xero.tokens import utcnow

LinkKind = Literal["client", "invoice", "purchase_order", "payment"]
LINKED = "linked"
UNLINKED = "unlinked"
# An import holds its claim this long at most: far more than one contact or order takes, even with Xero's
# retries, yet short enough that a claim left by a dead process frees itself soon.
CLAIM_SECONDS = 120.0
# Who holds the claims made in this task: the import job (its id). When that job runs again after its
# process died, it takes over its own claims at once instead of waiting for them to expire.
claim_holder: ContextVar[str | None] = ContextVar("claim_holder", default=None)


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
    def from_doc(cls, doc: dict) -> Link:
        return cls.model_validate({k: v for k, v in doc.items() if k != "_id"})


class LinkStore:
    def __init__(self, storage: Storage, *, claim_seconds: float = CLAIM_SECONDS):
        self.links = storage.links
        self.claim_seconds = claim_seconds

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
        ids = [str(i) for i in forecast_ids]
        cursor = self.links.find({"team_id": team_id, "kind": kind, "forecast_id": {"$in": ids}})
        return [Link.from_doc(doc) async for doc in cursor]

    async def by_xero_id(self, team_id: str, kind: LinkKind, tenant_id: str, xero_id: str) -> Link | None:
        doc = await self.links.find_one({"team_id": team_id, "kind": kind, "tenant_id": tenant_id,
                                         "xero_id": xero_id, "status": LINKED})
        return Link.from_doc(doc) if doc else None

    async def linked_xero_ids(self, team_id: str, kind: LinkKind, tenant_id: str) -> set[str]:
        cursor = self.links.find({"team_id": team_id, "kind": kind, "tenant_id": tenant_id, "status": LINKED},
                                 {"xero_id": 1})
        return {doc["xero_id"] async for doc in cursor if doc.get("xero_id")}

    async def by_xero_ids(self, team_id: str, kind: LinkKind, tenant_id: str, xero_ids: list[str]) -> dict[str, Link]:
        """Live links of these Xero objects in one query, keyed by lower-case Xero id."""
        wanted = list({*xero_ids, *(i.lower() for i in xero_ids)})
        cursor = self.links.find({"team_id": team_id, "kind": kind, "tenant_id": tenant_id, "status": LINKED,
                                  "xero_id": {"$in": wanted}})
        return {doc["xero_id"].lower(): Link.from_doc(doc) async for doc in cursor}

    async def link(self, team_id: str, kind: LinkKind, forecast_id: str | int, tenant_id: str, *,
                   xero_id: str | None, xero_number: str | None = None, linked_by: str | None = None,
                   details: dict | None = None) -> Link:
        """Create or refresh the link (idempotent: linking twice leaves one link)."""
        key = {"team_id": team_id, "kind": kind, "forecast_id": str(forecast_id), "tenant_id": tenant_id}
        values = {"xero_id": xero_id, "xero_number": xero_number, "status": LINKED, "linked_by": linked_by,
                  "linked_at": utcnow(), "details": details or {}}
        await self.links.update_one(key, {"$set": values}, upsert=True)
        return Link.model_validate({**key, **values})

    async def claim(self, team_id: str, kind: LinkKind, forecast_id: str | int, tenant_id: str, *,
                    claimed_by: str, status: str = "pending") -> bool:
        """Reserve a link before creating the object it will point to; False if it exists already."""
        return await self.claim_or_take_over(team_id, kind, forecast_id, tenant_id, claimed_by=claimed_by,
                                             status=status) is not None

    async def claim_or_take_over(self, team_id: str, kind: LinkKind, forecast_id: str | int, tenant_id: str, *,
                                 claimed_by: str, status: str = "pending") -> Literal["new", "taken_over"] | None:
        """Reserve a link before creating the object it will point to: "new", or "taken_over" when an earlier
        claim was left by an import that may have created the object already; None if it is held or linked.

        The unique index makes the insert the lock: of two concurrent claims, one wins. A claim expires
        after `claim_seconds`, so one left by a process that died mid-import is taken over by the next import.
        """
        key = {"team_id": team_id, "kind": kind, "forecast_id": str(forecast_id), "tenant_id": tenant_id}
        now = utcnow()
        until = now + timedelta(seconds=self.claim_seconds)
        holder = claim_holder.get()
        try:
            await self.links.insert_one({**key, "status": status, "linked_by": claimed_by, "linked_at": now,
                                         "details": {}, "claim_until": until, "holder": holder})
            return "new"
        except DuplicateKeyError:
            ours_or_expired = [{"claim_until": {"$lt": now}}] + ([{"holder": holder}] if holder else [])
            taken_over = await self.links.find_one_and_update(
                {**key, "status": status, "$or": ours_or_expired},
                {"$set": {"linked_by": claimed_by, "linked_at": now, "claim_until": until, "holder": holder}})
            return "taken_over" if taken_over is not None else None

    async def release_claim(self, team_id: str, kind: LinkKind, forecast_id: str | int, tenant_id: str,
                            status: str = "pending") -> None:
        await self.links.delete_one({"team_id": team_id, "kind": kind, "forecast_id": str(forecast_id),
                                     "tenant_id": tenant_id, "status": status})

    async def count_linked(self, team_id: str, tenant_id: str, kind: LinkKind) -> int:
        return await self.links.count_documents({"team_id": team_id, "tenant_id": tenant_id, "kind": kind,
                                                 "status": LINKED})

    async def unlink_organisation(self, team_id: str, tenant_id: str, *, by: str, at: datetime) -> int:
        """Every live link into a removed organisation becomes `unlinked` (kept for the audit trail)."""
        result = await self.links.update_many({"team_id": team_id, "tenant_id": tenant_id, "status": LINKED},
                                              {"$set": {"status": UNLINKED, "unlinked_at": at, "unlinked_by": by}})
        return result.modified_count

    async def relink_organisation(self, team_id: str, tenant_id: str, *, at: datetime) -> int:
        """The same organisation is connected again: what its removal unlinked is linked again, so its invoices,
        clients, purchase orders and payments are known (and followed) as before. Only removal sets
        `unlinked_by`; a link unlinked for another reason stays so."""
        result = await self.links.update_many(
            {"team_id": team_id, "tenant_id": tenant_id, "status": UNLINKED, "unlinked_by": {"$exists": True}},
            {"$set": {"status": LINKED, "relinked_at": at}, "$unset": {"unlinked_at": "", "unlinked_by": ""}})
        return result.modified_count

    async def get(self, team_id: str, kind: LinkKind, forecast_id: str | int, tenant_id: str) -> Link | None:
        doc = await self.links.find_one({"team_id": team_id, "kind": kind, "forecast_id": str(forecast_id),
                                         "tenant_id": tenant_id})
        return Link.from_doc(doc) if doc else None

    async def with_detail(self, team_id: str, kind: LinkKind, tenant_id: str, name: str, value: object) -> list[Link]:
        """Live links whose details hold `name` = `value` (e.g. invoices whose payments wait for a key)."""
        cursor = self.links.find({"team_id": team_id, "kind": kind, "tenant_id": tenant_id, "status": LINKED,
                                  f"details.{name}": value})
        return [Link.from_doc(doc) async for doc in cursor]

    async def update_details(self, link: Link, details: dict) -> Link:
        """Replace what a link remembers about its objects (e.g. the invoice status sync last saw)."""
        await self.links.update_one(_key(link), {"$set": {"details": details}})
        return link.model_copy(update={"details": details})

    async def unlink(self, link: Link) -> None:
        """The object is gone on one side; the link stays for the audit trail."""
        await self.links.update_one(_key(link), {"$set": {"status": UNLINKED, "unlinked_at": utcnow()}})


def _key(link: Link) -> dict:
    return {"team_id": link.team_id, "kind": link.kind, "forecast_id": link.forecast_id, "tenant_id": link.tenant_id}
