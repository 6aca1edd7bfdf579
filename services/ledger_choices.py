"""What each connected organisation offers for invoice lines: its revenue accounts and its revenue tax rates.

Read from Xero when the settings form opens, kept in memory for `TTL`, one organisation's failure leaving the
others usable. The last answer (of any age) is what a submitted form is checked against.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from services.connections import ConnectionsService, Tenant
from services.logfmt import fields
from services.xero.client import TenantAuth, XeroClient
from services.xero.errors import XeroError

log = logging.getLogger(__name__)

TTL_SECONDS = 600.0
REVENUE_TYPES = {"REVENUE", "SALES", "OTHERINCOME"}


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
class OrganisationChoices:
    tenant: Tenant
    accounts: list[AccountChoice] = field(default_factory=list)
    tax_rates: list[TaxChoice] = field(default_factory=list)
    error: str | None = None  # plain words when Xero could not be read

    def account(self, code: str) -> AccountChoice | None:
        return next((a for a in self.accounts if a.code == code), None)

    def tax_rate(self, tax_type: str) -> TaxChoice | None:
        return next((t for t in self.tax_rates if t.tax_type == tax_type), None)


class LedgerChoices:
    def __init__(self, connections: ConnectionsService, xero: XeroClient, *,
                 monotonic: Callable[[], float] = time.monotonic):
        self.connections = connections
        self.xero = xero
        self.monotonic = monotonic
        self._cache: dict[tuple[str, str], tuple[float, OrganisationChoices]] = {}

    async def for_team(self, team_id: str) -> list[OrganisationChoices]:
        """Every connected organisation's choices, read at the same time (fresh copies are reused)."""
        tenants = await self.connections.list_tenants(team_id)
        return list(await asyncio.gather(*(self._for_tenant(team_id, tenant) for tenant in tenants)))

    def last_read(self, team_id: str, tenant_id: str) -> OrganisationChoices | None:
        """The last successful read of this organisation, however old; None if there was none."""
        entry = self._cache.get((team_id, tenant_id))
        return entry[1] if entry else None

    async def _for_tenant(self, team_id: str, tenant: Tenant) -> OrganisationChoices:
        key = (team_id, tenant.tenant_id)
        cached = self._cache.get(key)
        if cached and self.monotonic() - cached[0] < TTL_SECONDS:
            return cached[1]
        auth = TenantAuth(tenant.tenant_id, tenant.token_set_id)
        try:
            accounts, tax_rates = await asyncio.gather(
                self.xero.get_accounts(auth, where='Status=="ACTIVE"'), self.xero.get_tax_rates(auth))
        except XeroError as exc:
            log.warning("ledger_choices.unavailable", **fields(team=team_id, tenant=tenant.tenant_id, error=str(exc)))
            return OrganisationChoices(tenant, error=str(exc))
        choices = OrganisationChoices(
            tenant,
            accounts=[AccountChoice(a.code, a.name or a.code, a.tax_type) for a in accounts
                      if a.code and a.status in (None, "ACTIVE") and _is_revenue(a.account_class, a.type)],
            tax_rates=[TaxChoice(t.tax_type, t.name or t.tax_type, t.effective_rate) for t in tax_rates
                       if t.tax_type and t.status in (None, "ACTIVE") and t.can_apply_to_revenue is not False],
        )
        self._cache[key] = (self.monotonic(), choices)
        return choices


def _is_revenue(account_class: str | None, account_type: str | None) -> bool:
    if account_class:
        return account_class == "REVENUE"
    return account_type in REVENUE_TYPES
