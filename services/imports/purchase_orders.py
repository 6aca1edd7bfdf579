"""Import Xero purchase orders, from every connected organisation, as expense items of a Forecast project.

Each imported purchase order is a link (kind "purchase_order", keyed by the Xero PurchaseOrderID in its
organisation) whose details name the Forecast project and expense item. The link is claimed before the
expense item is created, so a second import of the same purchase order (a double submit, another admin) is
refused with a pointer to the existing item instead of creating a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from services.connections.service import Tenant
from services.forecast import (
    ForecastError,
    ForecastExpenseCategory,
    ForecastExpenseItem,
    ForecastNotFound,
    ForecastProject,
    NewForecastExpenseItem,
)
from services.imports.common import (
    ImportBase,
    ImportProblem,
    ImportSummary,
    OrganisationStatus,
    Reason,
    organisation_status,
)
from services.imports.xero_lists import PURCHASE_ORDERS, TenantRefresh
from services.platform.crash_points import crash_point
from services.platform.logfmt import fields
from services.shared.links import Link, LinkKind
from services.xero.client import TenantAuth
from services.xero.errors import XeroError
from services.xero.models import XeroPurchaseOrder

log = logging.getLogger(__name__)

PURCHASE_ORDER: LinkKind = "purchase_order"
ALL_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "BILLED", "DELETED")
DEFAULT_STATUSES = ("AUTHORISED", "BILLED")
PENDING = "pending"  # a claim: an import of it is running
MAX_LISTED = 100
MAX_EXPENSE_NAME = 200


@dataclass(frozen=True)
class PurchaseOrderRow:
    tenant_id: str
    organisation: str
    purchase_order_id: str
    number: str
    supplier: str
    date: date | None
    total: Decimal | None
    currency: str
    status: str
    imported: Link | None = None
    currency_rate: Decimal | None = None


@dataclass(frozen=True)
class Cost:
    """What an expense item costs in Forecast's company currency; `rate` is set when it was converted."""

    amount: Decimal
    currency: str
    rate: Decimal | None = None


class CurrencyRefused(Exception):
    """The order cannot be put in Forecast's currency with what Xero says: `reason` ("not_base_currency",
    "no_rate") and the currencies in `data`."""

    def __init__(self, reason: Reason, **data: str | None):
        super().__init__(f"{reason}: {data}")
        self.reason = reason
        self.data = data


def cost_in(company_currency: str, total: Decimal, currency: str, rate: Decimal | None,
            base_currency: str | None) -> Cost:
    """The order's total in Forecast's currency. Xero's CurrencyRate is units of the order's currency per one unit
    of the organisation's base currency, so it converts to the base currency only."""
    if currency == company_currency:
        return Cost(total, currency)
    if base_currency != company_currency:
        raise CurrencyRefused("not_base_currency", currency=currency, company_currency=company_currency,
                              base_currency=base_currency)
    if not rate or rate <= 0:
        raise CurrencyRefused("no_rate", currency=currency, company_currency=company_currency)
    return Cost((total / rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), company_currency, rate)


@dataclass(frozen=True)
class PurchaseOrderListing:
    organisations: list[OrganisationStatus]
    orders: list[PurchaseOrderRow]  # newest first, at most MAX_LISTED
    matching: int  # how many cached purchase orders have one of the statuses
    statuses: list[str]


@dataclass(frozen=True)
class Selection:
    tenant_id: str
    purchase_order_id: str


class PurchaseOrderImportService(ImportBase):
    async def prepare(self, team_id: str, statuses: list[str] | None = None
                      ) -> tuple[PurchaseOrderListing, list[ForecastProject]]:
        """Refresh every organisation's purchase orders and read Forecast's projects, all at once."""
        tenants = await self.tenants(team_id)
        api_key = await self.forecast_key(team_id)
        refreshes, projects = await asyncio.gather(
            self.cache.refresh(team_id, tenants, PURCHASE_ORDERS), self._projects(api_key),
        )
        return await self._listing(team_id, refreshes, statuses), projects

    async def listing(self, team_id: str, statuses: list[str] | None) -> PurchaseOrderListing:
        """The cached purchase orders again (another status filter), without asking Xero."""
        tenants = await self.tenants(team_id)
        refreshes = [await self.cache.state(team_id, tenant, PURCHASE_ORDERS) for tenant in tenants]
        return await self._listing(team_id, refreshes, statuses)

    async def projects(self, team_id: str) -> list[ForecastProject]:
        return await self._projects(await self.forecast_key(team_id))

    async def _projects(self, api_key: str) -> list[ForecastProject]:
        try:
            projects = await self.forecast.list_projects(api_key)
        except ForecastError as exc:
            raise ImportProblem("projects_unreadable", exc) from exc
        return sorted(projects, key=lambda p: (p.stage == "DONE", p.name.casefold()))

    async def _listing(self, team_id: str, refreshes: list[TenantRefresh], statuses: list[str] | None
                       ) -> PurchaseOrderListing:
        statuses = [s for s in (statuses if statuses is not None else DEFAULT_STATUSES) if s in ALL_STATUSES]
        names = {r.tenant.tenant_id: r.tenant.name for r in refreshes}
        organisations, matching = [], 0
        for refresh in refreshes:
            count = await self.cache.count(team_id, refresh.tenant.tenant_id, PURCHASE_ORDERS, statuses=statuses)
            organisations.append(organisation_status(refresh, count))
            matching += count
        records = await self.cache.find(team_id, list(names), PURCHASE_ORDERS, statuses=statuses,
                                        limit=MAX_LISTED, newest_first=True)
        orders = []
        for record in records:
            link = await self._imported(team_id, record.tenant_id, record.record_id)
            orders.append(_row(record.tenant_id, names[record.tenant_id], record.record, link))
        return PurchaseOrderListing(organisations, orders, matching, statuses)

    async def _imported(self, team_id: str, tenant_id: str, purchase_order_id: str) -> Link | None:
        """The link of an imported purchase order. One unlinked by removing its organisation still counts: its
        expense item is still in Forecast, and importing it again is refused."""
        link = await self.links.get(team_id, PURCHASE_ORDER, purchase_order_id, tenant_id)
        return link if link is not None and link.status != PENDING else None

    # Import -----------------------------------------------------------------------------
    async def import_orders(self, team_id: str, user_id: str, project_id: int, selections: list[Selection]
                            ) -> ImportSummary:
        api_key = await self.forecast_key(team_id)
        try:
            project = await self.forecast.get_project(api_key, project_id)
        except ForecastNotFound as exc:
            raise ImportProblem("project_gone", exc) from exc
        category = await self._expense_category(api_key)
        company_currency = await self._company_currency(api_key)
        tenants = {t.tenant_id: t for t in await self.connections.list_tenants(team_id)}
        summary = ImportSummary(destination=f"{project.display_id} {project.name}".strip())
        bases: dict[str, str | None] = {}
        for selection in selections:
            await self._import_one(team_id, user_id, api_key, project, category, tenants, selection, summary,
                                   company_currency, bases)
        log.info("import.purchase_orders", **fields(team=team_id, user=user_id, project=project.id,
                                                     **dict(summary.counts)))
        return summary

    async def _made_before(self, api_key: str, project_id: int, wanted: NewForecastExpenseItem
                           ) -> ForecastExpenseItem | None:
        """The expense item an earlier attempt created for this order (same name and order in its notes)."""
        order = (wanted.notes or "").split(" (")[0]
        return next((item for item in await self.forecast.list_expense_items(api_key, project_id)
                     if item.name == wanted.name and (item.notes or "").startswith(order)), None)

    async def _expense_category(self, api_key: str) -> ForecastExpenseCategory:
        """Forecast requires a category; the first enabled one, in Forecast's own order, is used."""
        categories = [c for c in await self.forecast.list_expense_categories(api_key) if not c.disabled]
        if not categories:
            raise ImportProblem("no_expense_category")
        return categories[0]

    async def _company_currency(self, api_key: str) -> str:
        """Forecast keeps every cost in its company currency (`GET /company`)."""
        try:
            company = await self.forecast.get_company(api_key)
        except ForecastError as exc:
            raise ImportProblem("currency_unreadable", exc) from exc
        if not company.currency:
            raise ImportProblem("no_company_currency")
        return company.currency.upper()

    async def _base_currency(self, tenant: Tenant, bases: dict[str, str | None]) -> str | None:
        if tenant.tenant_id not in bases:
            try:
                organisation = await self.cache.xero.get_organisation(TenantAuth(tenant.tenant_id, tenant.token_set_id))
                bases[tenant.tenant_id] = (organisation.get("BaseCurrency") or "").upper() or None
            except XeroError:
                bases[tenant.tenant_id] = None
        return bases[tenant.tenant_id]

    async def _cost(self, row: PurchaseOrderRow, tenant: Tenant, company_currency: str,
                    bases: dict[str, str | None]) -> Cost:
        currency = row.currency.upper()
        if currency == company_currency:
            return Cost(row.total or Decimal(0), currency)
        base = await self._base_currency(tenant, bases)
        return cost_in(company_currency, row.total or Decimal(0), currency or base or "", row.currency_rate, base)

    async def _import_one(self, team_id: str, user_id: str, api_key: str, project: ForecastProject,
                          category: ForecastExpenseCategory, tenants: dict[str, Tenant], selection: Selection,
                          summary: ImportSummary, company_currency: str, bases: dict[str, str | None]) -> None:
        tenant = tenants.get(selection.tenant_id)
        if tenant is None:
            summary.add(selection.purchase_order_id, "?", "failed", "organisation_gone")
            return
        record = await self.cache.get(team_id, tenant.tenant_id, PURCHASE_ORDERS, selection.purchase_order_id)
        if record is None:
            summary.add(selection.purchase_order_id, tenant.name, "failed", "order_gone")
            return
        row = _row(tenant.tenant_id, tenant.name, record, None)
        if row.total is None:
            summary.add(row.number, tenant.name, "failed", "no_total")
            return
        try:
            cost = await self._cost(row, tenant, company_currency, bases)
        except CurrencyRefused as refused:
            summary.add(row.number, tenant.name, "failed", refused.reason, refused.data)
            return
        po_id = row.purchase_order_id
        claimed = await self.links.claim_or_take_over(team_id, PURCHASE_ORDER, po_id, tenant.tenant_id,
                                                      claimed_by=user_id)
        if claimed is None:
            existing = await self.links.get(team_id, PURCHASE_ORDER, po_id, tenant.tenant_id)
            summary.add(row.number, tenant.name, "skipped", *already_imported(existing))
            return
        new_item = expense_item(row, category, cost)
        try:
            # An import that died after creating the item, before linking it, left its claim behind.
            item = await self._made_before(api_key, project.id, new_item) if claimed == "taken_over" else None
            if item is None:
                item = await self.forecast.create_expense_item(api_key, project.id, new_item)
                crash_point("after_expense_item_created")
        except ForecastError as exc:
            await self.links.release_claim(team_id, PURCHASE_ORDER, po_id, tenant.tenant_id)
            if isinstance(exc, ForecastNotFound):
                summary.add(row.number, tenant.name, "failed", "project_gone")
            else:
                summary.add(row.number, tenant.name, "failed", "forecast_refused", {"error": exc})
            return
        await self.links.link(
            team_id, PURCHASE_ORDER, po_id, tenant.tenant_id, xero_id=po_id, xero_number=row.number,
            linked_by=user_id,
            details={"expense_item_id": item.id, "project_id": project.id, "project_name": project.name,
                     "project_display_id": project.display_id},
        )
        summary.add(row.number, tenant.name, "created", "expense_item",
                    {"expense_item_id": item.id, "project": f"{project.display_id} {project.name}".strip()})


def expense_item(row: PurchaseOrderRow, category: ForecastExpenseCategory,
                 cost: Cost | None = None) -> NewForecastExpenseItem:
    """One expense item per purchase order: cost is the order's total in Forecast's currency (quantity 1)."""
    cost = cost or Cost(row.total or Decimal(0), row.currency)
    name = f"{row.number} · {row.supplier}" if row.supplier else row.number
    money = f"{row.currency} {row.total:,.2f}".strip()
    if cost.rate is not None:
        money += f" at Xero's rate {cost.rate.normalize():f} = {cost.currency} {cost.amount:,.2f}"
    return NewForecastExpenseItem(
        name=name[:MAX_EXPENSE_NAME],
        cost=float(cost.amount),
        quantity=1,
        expense_category=category.id,
        expense_date=row.date,
        notes=f"Xero purchase order {row.number} from {row.organisation} ({money}, {row.status}).",
    )


def already_imported(link: Link | None) -> tuple[Reason, dict]:
    """Why an order is skipped: the reason code and its data."""
    if link is None or link.status == PENDING:
        return "another_import_running", {}
    details = link.details or {}
    project = f"{details.get('project_display_id', '')} {details.get('project_name', '')}".strip()
    return "already_imported", {"expense_item_id": details.get("expense_item_id"), "project": project}


def _row(tenant_id: str, organisation: str, record: dict, link: Link | None) -> PurchaseOrderRow:
    order = XeroPurchaseOrder.model_validate(record)
    return PurchaseOrderRow(
        tenant_id=tenant_id,
        organisation=organisation,
        purchase_order_id=order.purchase_order_id or "",
        number=order.purchase_order_number or "(no number)",
        supplier=(order.contact.name if order.contact else None) or "",
        date=order.date,
        total=order.total,
        currency=order.currency_code or "",
        status=order.status or "",
        imported=link,
        currency_rate=order.currency_rate,
    )
