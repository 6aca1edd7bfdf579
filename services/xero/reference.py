"""Each organisation's reference data — currencies, accounts, tax rates, and (for a workspace that puts lines
on a tracking category) tracking categories — kept in MongoDB for a short while.

A batch of invoices checks every line against these, so they are read from Xero once per organisation per
`TTL` (three calls), not once per invoice. `xero_reference` holds one document per (team, organisation);
this store owns it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.platform.storage import Storage
from services.xero.client import TenantAuth, XeroClient
from services.xero.models import XeroAccount, XeroCurrency, XeroTaxRate, XeroTrackingCategory

TTL_SECONDS = 600.0  # accounts and tax rates change rarely; an admin's fix shows within ten minutes
ACTIVE = "ACTIVE"
REVENUE_TYPES = {"REVENUE", "SALES", "OTHERINCOME"}


@dataclass(frozen=True)
class OrgReference:
    tenant_id: str
    currencies: tuple[str, ...]
    accounts: tuple[XeroAccount, ...]
    tax_rates: tuple[XeroTaxRate, ...]
    fetched_at: datetime | None  # None: not known
    tracking_categories: tuple[XeroTrackingCategory, ...] | None = None  # None: not read (no one asked)

    def has_currency(self, code: str) -> bool:
        return code.upper() in self.currencies

    def active_account(self, code: str) -> XeroAccount | None:
        return next((a for a in self.accounts if a.code == code and a.status in (None, ACTIVE)), None)

    def revenue_accounts(self) -> list[XeroAccount]:
        """Active accounts an invoice line can book revenue to."""
        return [a for a in self.accounts if a.code and a.status in (None, ACTIVE) and _is_revenue(a)]

    def default_revenue_account(self) -> XeroAccount | None:
        return next(iter(self.revenue_accounts()), None)

    def sales_tax_rates(self) -> list[XeroTaxRate]:
        """Active tax rates that may be applied to sales."""
        return [rate for rate in self.tax_rates
                if rate.tax_type and rate.status in (None, ACTIVE) and rate.can_apply_to_revenue is not False]

    def revenue_tax_rates(self, percent: Decimal) -> list[XeroTaxRate]:
        """Active tax rates usable on sales whose effective rate is exactly `percent`."""
        return [rate for rate in self.sales_tax_rates()
                if rate.effective_rate is not None and Decimal(str(rate.effective_rate)) == percent]

    def tax_rate(self, tax_type: str) -> XeroTaxRate | None:
        return next((r for r in self.tax_rates if r.tax_type == tax_type), None)


class OrgReferenceStore:
    def __init__(self, storage: Storage, xero: XeroClient, *, ttl: float = TTL_SECONDS,
                 clock: Callable[[], float] = time.time):
        self.collection = storage.xero_reference
        self.xero = xero
        self.ttl = ttl
        self.clock = clock  # epoch seconds; the documents hold dates
        self._fetching: dict[str, asyncio.Future[OrgReference]] = {}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def get(self, team_id: str, tenant: TenantAuth, *, refresh: bool = False,
                  tracking: bool = False) -> OrgReference:
        """The organisation's reference data, from MongoDB when younger than the TTL, else from Xero.
        `tracking`: tracking categories are wanted too (read once more only if the stored copy lacks them)."""
        doc = None if refresh else await self.collection.find_one({"_id": _doc_id(team_id, tenant.tenant_id)})
        if doc and doc.get("fetched_at") and (self._now() - doc["fetched_at"]).total_seconds() < self.ttl:
            reference = _from_doc(tenant.tenant_id, doc)
            if tracking and reference.tracking_categories is None:
                return await self.refresh_tracking(team_id, tenant, reference)
            return reference
        return await self._fetch_once(team_id, tenant, tracking)

    async def refresh_tracking(self, team_id: str, tenant: TenantAuth, reference: OrgReference) -> OrgReference:
        """The tracking categories read from Xero now (an export reads them once per run: an option archived
        since the approval is then known before the invoice is sent)."""
        categories = tuple(await self.xero.get_tracking_categories(tenant))
        await self.collection.update_one({"_id": _doc_id(team_id, tenant.tenant_id)}, {"$set": {
            "tracking_categories": [c.to_xero() for c in categories]}})
        return replace(reference, tracking_categories=categories)

    async def _fetch_once(self, team_id: str, tenant: TenantAuth, tracking: bool = False) -> OrgReference:
        """Requests checked at the same moment share one read from Xero (per process), not three calls each."""
        key = _doc_id(team_id, tenant.tenant_id) + ("|tracking" if tracking else "")
        running = self._fetching.get(key)
        if running is None:
            running = asyncio.ensure_future(self._fetch(team_id, tenant, tracking))
            self._fetching[key] = running
            running.add_done_callback(lambda _: self._fetching.pop(key, None))
        return await asyncio.shield(running)

    async def stored(self, team_id: str, tenant_id: str) -> OrgReference | None:
        """The last copy read from Xero, however old; None when there is none."""
        doc = await self.collection.find_one({"_id": _doc_id(team_id, tenant_id)})
        return _from_doc(tenant_id, doc) if doc else None

    async def forget(self, team_id: str, tenant_id: str) -> None:
        """Read again from Xero next time (e.g. after Xero refused an account code we believed valid)."""
        await self.collection.delete_one({"_id": _doc_id(team_id, tenant_id)})

    async def _fetch(self, team_id: str, tenant: TenantAuth, tracking: bool = False) -> OrgReference:
        currencies, accounts, tax_rates, categories = await asyncio.gather(
            self.xero.get_currencies(tenant), self.xero.get_accounts(tenant), self.xero.get_tax_rates(tenant),
            self.xero.get_tracking_categories(tenant) if tracking else _nothing())
        reference = OrgReference(tenant.tenant_id, _codes(currencies), tuple(accounts), tuple(tax_rates),
                                 self._now(), tuple(categories) if categories is not None else None)
        await self.collection.update_one({"_id": _doc_id(team_id, tenant.tenant_id)}, {"$set": {
            "team_id": team_id, "tenant_id": tenant.tenant_id, "fetched_at": reference.fetched_at,
            "currencies": list(reference.currencies),
            "accounts": [a.to_xero() for a in accounts],
            "tax_rates": [r.to_xero() for r in tax_rates],
            "tracking_categories": None if categories is None else [c.to_xero() for c in categories],
        }}, upsert=True)
        return reference


async def _nothing() -> None:
    return None


def _is_revenue(account: XeroAccount) -> bool:
    if account.account_class:
        return account.account_class == "REVENUE"
    return account.type in REVENUE_TYPES


def _codes(currencies: list[XeroCurrency]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.code.upper() for c in currencies if c.code))


def _from_doc(tenant_id: str, doc: dict[str, Any]) -> OrgReference:
    return OrgReference(
        tenant_id,
        tuple(doc.get("currencies") or ()),
        tuple(XeroAccount.model_validate(a) for a in doc.get("accounts") or ()),
        tuple(XeroTaxRate.model_validate(r) for r in doc.get("tax_rates") or ()),
        doc.get("fetched_at"),
        None if doc.get("tracking_categories") is None
        else tuple(XeroTrackingCategory.model_validate(c) for c in doc["tracking_categories"]),
    )


def _doc_id(team_id: str, tenant_id: str) -> str:
    return f"{team_id}|{tenant_id}"
