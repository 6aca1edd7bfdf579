"""What both imports share: the checks before a modal opens, per-organisation status, and the summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.connections.service import ConnectionsService, Tenant
from services.forecast import ForecastApi
from services.imports.xero_lists import TenantRefresh, XeroCache
from services.shared.links import LinkStore
from services.shared.settings import WorkspaceSettingsService
from services.xero.errors import XeroError

Result = Literal["created", "linked", "similar", "skipped", "failed"]


# Why nothing can be imported (ImportProblem.code), and what happened to one item (Outcome.reason):
# bot/blocks/imports.py has words for each ("similar_name" is shown as a choice, not a sentence).
ProblemCode = Literal[
    "no_organisations", "no_forecast_key", "projects_unreadable", "project_gone", "no_expense_category",
    "currency_unreadable", "no_company_currency",
]
Reason = Literal[
    "", "organisation_gone", "another_import_running", "forecast_refused", "client_gone", "contact_gone", "no_name",
    "already_linked", "client_taken", "client", "similar_name", "order_gone", "no_total", "not_base_currency",
    "no_rate", "already_imported", "project_gone", "expense_item",
]


class ImportProblem(Exception):
    """Nothing can be imported. `code` says why (bot/blocks/imports.py words it); `error` is the failure behind it."""

    def __init__(self, code: ProblemCode, error: Exception | None = None):
        super().__init__(f"{code}: {error}" if error else code)
        self.code = code
        self.error = error


class NoOrganisations(ImportProblem):
    def __init__(self) -> None:
        super().__init__("no_organisations")


class MissingForecastKey(ImportProblem):
    def __init__(self) -> None:
        super().__init__("no_forecast_key")


@dataclass(frozen=True)
class OrganisationStatus:
    """One organisation's part of a listing: how many records, or why it is unavailable."""

    tenant_id: str
    name: str
    count: int
    fetched_at: datetime | None
    error: XeroError | None = None
    linked: int = 0

    @property
    def available(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Outcome:
    """What happened to one selected item: `reason` is a code, `data` what bot/blocks/imports.py words it with."""

    label: str  # the contact's name or the purchase order's number
    organisation: str
    result: Result
    reason: Reason = ""
    data: Mapping[str, Any] = field(default_factory=dict)  # may hold `error`: the ForecastError behind a failure
    tenant_id: str | None = None  # for "similar": which contact, and the Forecast client it resembles
    record_id: str | None = None
    similar_client_id: int | None = None
    similar_client_name: str | None = None


@dataclass
class ImportSummary:
    outcomes: list[Outcome] = field(default_factory=list)
    destination: str | None = None  # e.g. the Forecast project the purchase orders went into

    def add(self, label: str, organisation: str, result: Result, reason: Reason = "",
            data: Mapping[str, Any] | None = None, **details) -> None:
        self.outcomes.append(Outcome(label, organisation, result, reason, data or {}, **details))

    @property
    def counts(self) -> Counter:
        return Counter(outcome.result for outcome in self.outcomes)


class ImportBase:
    """What both imports share: the organisations, the Forecast key, the cached Xero lists, the links."""

    def __init__(self, connections: ConnectionsService, workspace_settings: WorkspaceSettingsService,
                 cache: XeroCache, links: LinkStore, forecast: ForecastApi):
        self.connections = connections
        self.workspace_settings = workspace_settings
        self.cache = cache
        self.links = links
        self.forecast = forecast

    async def check_ready(self, team_id: str) -> None:
        """Raise before anything opens when an import cannot work at all."""
        await self.tenants(team_id)
        await self.forecast_key(team_id)

    async def tenants(self, team_id: str) -> list[Tenant]:
        tenants = await self.connections.list_tenants(team_id)
        if not tenants:
            raise NoOrganisations()
        return tenants

    async def forecast_key(self, team_id: str) -> str:
        key = await self.workspace_settings.forecast_api_key(team_id)
        if not key:
            raise MissingForecastKey()
        return key


def organisation_status(refresh: TenantRefresh, count: int, linked: int = 0) -> OrganisationStatus:
    return OrganisationStatus(refresh.tenant.tenant_id, refresh.tenant.name, count, refresh.fetched_at,
                              refresh.error, linked)
