"""What each connected organisation offers for invoice lines: its revenue accounts, its sales tax rates and its
active tracking categories with their active options.

Read through the organisation's reference data (services/xero/reference.py: kept in MongoDB for a few
minutes, so every bot process sees the same copy), one organisation's failure leaving the others usable.
The last copy read (of any age) is what a submitted form is checked against.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from services.connections.service import ConnectionsService, Tenant, TenantNotFound
from services.platform.logfmt import fields
from services.xero.client import TenantAuth
from services.xero.errors import XeroError
from services.xero.reference import ACTIVE, OrgReference, OrgReferenceStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountChoice:
    code: str
    name: str
    tax_type: str | None


@dataclass(frozen=True)
class TaxChoice:
    tax_type: str
    name: str
    rate: Decimal | None


@dataclass(frozen=True)
class TrackingCategoryChoice:
    category_id: str
    name: str
    options: list[tuple[str, str]]  # (option id, name) of its active options


@dataclass(frozen=True)
class OrganisationChoices:
    tenant: Tenant
    accounts: list[AccountChoice] = field(default_factory=list)
    tax_rates: list[TaxChoice] = field(default_factory=list)
    error: XeroError | None = None  # when Xero could not be read
    tracking: list[TrackingCategoryChoice] = field(default_factory=list)

    def tracking_category(self, category_id: str) -> TrackingCategoryChoice | None:
        return next((c for c in self.tracking if c.category_id == category_id), None)

    def account(self, code: str) -> AccountChoice | None:
        return next((a for a in self.accounts if a.code == code), None)

    def tax_rate(self, tax_type: str) -> TaxChoice | None:
        return next((t for t in self.tax_rates if t.tax_type == tax_type), None)


class LedgerChoices:
    def __init__(self, connections: ConnectionsService, reference: OrgReferenceStore):
        self.connections = connections
        self.reference = reference

    async def for_team(self, team_id: str) -> list[OrganisationChoices]:
        """Every connected organisation's choices, read at the same time (fresh copies are reused)."""
        tenants = await self.connections.list_tenants(team_id)
        return list(await asyncio.gather(*(self._for_tenant(team_id, tenant) for tenant in tenants)))

    async def last_read(self, team_id: str, tenant_id: str) -> OrganisationChoices | None:
        """The last successful read of this organisation, however old; None if there was none."""
        try:
            tenant = await self.connections.get_tenant(team_id, tenant_id)
        except TenantNotFound:
            return None
        stored = await self.reference.stored(team_id, tenant_id)
        return _choices(tenant, stored) if stored else None

    async def _for_tenant(self, team_id: str, tenant: Tenant) -> OrganisationChoices:
        try:
            reference = await self.reference.get(team_id, TenantAuth(tenant.tenant_id, tenant.token_set_id),
                                                 tracking=True)
        except XeroError as exc:
            log.warning("ledger_choices.unavailable", **fields(team=team_id, tenant=tenant.tenant_id, error=str(exc)))
            return OrganisationChoices(tenant, error=exc)
        return _choices(tenant, reference)


def _choices(tenant: Tenant, reference: OrgReference) -> OrganisationChoices:
    return OrganisationChoices(
        tenant,
        accounts=[AccountChoice(a.code or "", a.name or a.code or "", a.tax_type)
                  for a in reference.revenue_accounts()],
        tax_rates=[TaxChoice(t.tax_type or "", t.name or t.tax_type or "", t.effective_rate)
                   for t in reference.sales_tax_rates()],
        tracking=_tracking(reference),
    )


def _tracking(reference: OrgReference) -> list[TrackingCategoryChoice]:
    return [TrackingCategoryChoice(c.tracking_category_id, c.name or "",
                                   [(o.tracking_option_id, o.name or "") for o in c.options
                                    if o.status in (None, ACTIVE) and o.tracking_option_id])
            for c in reference.tracking_categories or () if c.status in (None, ACTIVE) and c.tracking_category_id]
