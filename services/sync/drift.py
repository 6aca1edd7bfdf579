"""The drift check: what was exported, what Xero has now and what Forecast has, compared once a day (and
after `/xero sync`); the invoices that disagree go to the notify channel in one short report.

- Cheap: per organisation, the exported invoices are read from Xero 50 a call (`IDs=`), each call asked of
  the day budget first like the sync's reads (below the reserve the organisation is left out and the report
  says so); Forecast is read once (`GET /invoices`, payments included).
- What disagrees, per invoice (`Difference.what`):
  `total` Xero's total is not what was exported; `forecast_total` Forecast's total changed since the export;
  `status` / `amount_due` Xero moved on and the bot did not see it (a lost webhook: re-sync fixes it);
  `payments` Forecast's payments do not add up to what Xero has paid and credited; `missing_in_xero` Xero did not
  return it; `voided_in_xero` Xero voided it and Forecast still counts it; `forecast_status` it is a draft in
  Forecast again; `forecast_missing` it is gone from Forecast; `export_failed` an export failed and nobody
  retried it. Each item says how to fix it (`Fix`: retry, resync, open_in_xero).
- Once: the `sync.drift` job is keyed per workspace and day, a `drift` mark in `xero_sync` says the day's check
  ran, and the report is a sync notice whose id is made of the workspace and the day, so two replicas or two
  runs post it once (bot/outbox/sync_notices.py posts it with the post-once tag). A day with no drift posts
  nothing.
Returns codes and data; bot/blocks/sync.py words the report.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from services.connections.service import CONNECTED, ConnectionsService, Tenant
from services.exports.store import ExportStore
from services.forecast import ForecastApi, ForecastError, ForecastInvoice, ForecastInvoicePayment
from services.platform.jobs import Job, JobQueue, Periodic, RetryLater
from services.platform.logfmt import fields
from services.shared.links import Link, LinkStore
from services.shared.settings import WorkspaceSettingsService
from services.sync.invoices import CENT, InvoiceStatus, status_of
from services.sync.notices import SyncNotice, SyncNoticeStore, digest
from services.sync.state import SyncStateStore
from services.xero.client import MAX_INVOICES_PER_REQUEST, TenantAuth, XeroClient
from services.xero.errors import XeroError
from services.xero.sync_models import XeroInvoiceState

log = logging.getLogger(__name__)

DRIFT_JOB = "sync.drift"
DRIFT_HOUR_UTC = 7  # the daily check runs at the first tick after this hour (UTC)
DRIFT_TICK_SECONDS = 600.0
MAX_CHECKED_PER_ORGANISATION = 2000  # 40 calls of 50 at most, of Xero's 5,000 a day
FAILED_EXPORTS_SHOWN = 50

DifferenceKind = Literal["total", "forecast_total", "status", "amount_due", "payments", "missing_in_xero",
                         "voided_in_xero", "forecast_status", "forecast_missing", "export_failed"]
Fix = Literal["retry", "resync", "open_in_xero"]
FIXES: dict[str, Fix | None] = {
    "total": "open_in_xero", "forecast_total": "open_in_xero", "status": "resync", "amount_due": "resync",
    "payments": "resync", "missing_in_xero": None, "voided_in_xero": "open_in_xero",
    "forecast_status": "open_in_xero", "forecast_missing": "open_in_xero", "export_failed": "retry",
}


class Difference(BaseModel):
    what: DifferenceKind
    expected: str | None = None  # what the export, the bot or Forecast has
    actual: str | None = None  # what Xero (or Forecast, for forecast_*) has now


class DriftItem(BaseModel):
    tenant_id: str | None = None
    tenant_name: str | None = None
    reference: str
    forecast_invoice_id: int
    currency: str | None = None
    xero_invoice_id: str | None = None
    xero_url: str | None = None
    export_id: str | None = None  # the export request (Retry)
    differences: list[Difference]

    @property
    def fixes(self) -> list[Fix]:
        found = [FIXES[d.what] for d in self.differences]
        return list(dict.fromkeys(f for f in found if f is not None))


class NotChecked(BaseModel):
    tenant_name: str
    reason: Literal["budget", "xero_error"]


class DriftReport(BaseModel):
    team_id: str
    run: str  # the day (2026-12-07), or "sync:<id>" after /xero sync
    items: list[DriftItem] = []
    not_checked: list[NotChecked] = []
    forecast_unread: bool = False  # no key, or Forecast could not be read: only Xero was compared


class DriftCheck:
    def __init__(self, *, exports: ExportStore, xero: XeroClient, forecast: ForecastApi,
                 connections: ConnectionsService, links: LinkStore, workspace_settings: WorkspaceSettingsService,
                 queue: JobQueue,
                 state: SyncStateStore, notices: SyncNoticeStore, may_read: Callable[[str], Awaitable[bool]],
                 deliver_notices: Callable[[str], Awaitable[None]], sync_kind: str,
                 clock: Callable[[], float] = time.time):
        self.exports = exports
        self.xero = xero
        self.forecast = forecast
        self.connections = connections
        self.links = links
        self.workspace_settings = workspace_settings
        self.queue = queue
        self.state = state
        self.notices = notices
        self.may_read = may_read  # the sync's day-budget gate (services/sync/engine.py)
        self.deliver_notices = deliver_notices
        self.sync_kind = sync_kind  # a check waits for the organisations' syncs to finish first
        self.clock = clock
        self._ticker = Periodic("sync.drift_tick", self.enqueue_due, DRIFT_TICK_SECONDS,
                                first_delay=DRIFT_TICK_SECONDS)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def start(self) -> None:
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()

    # ----------------------------------------------------------------- when it runs

    async def enqueue_due(self) -> int:
        """Today's check for each workspace with a connected organisation, once the hour has come."""
        now = self.now()
        if now.hour < DRIFT_HOUR_UTC:
            return 0
        day, count = now.date().isoformat(), 0
        for team_id in sorted({tenant.team_id for tenant in await self.connections.all_connected()}):
            if await self.state.drift_checked(team_id, day):
                continue
            await self.queue.enqueue(DRIFT_JOB, {"team_id": team_id, "run": day}, key=f"drift:{team_id}:{day}")
            count += 1
        return count

    async def after_sync(self, team_id: str) -> None:
        """`/xero sync`: a check of its own once the syncs it started are done."""
        run = f"sync:{uuid.uuid4().hex[:12]}"
        await self.queue.enqueue(DRIFT_JOB, {"team_id": team_id, "run": run}, key=f"drift:{team_id}:sync",
                                 delay=1.0)

    async def handle(self, job: Job) -> None:
        team_id, run = job.payload["team_id"], job.payload["run"]
        daily = not run.startswith("sync:")
        if daily and await self.state.drift_checked(team_id, run):
            return  # another replica ran today's check
        if await self.queue.count(kind=self.sync_kind, state={"$in": ["queued", "running"]},
                                  due_at={"$lte": self.now()}, **{"payload.team_id": team_id}):
            raise RetryLater(2.0, "the organisations' syncs first: a change they bring is not drift")
        report = await self.check(team_id, run)
        if report.items:  # a day with no drift posts nothing
            settings = await self.workspace_settings.get(team_id)
            channel = settings.notify_channel or settings.approval_channel
            if channel:
                await self.notices.add([SyncNotice(id=digest(team_id, "drift", run), team_id=team_id,
                                                   what="drift_report", channel=channel,
                                                   report=report.model_dump(mode="json"))])
                await self.deliver_notices(team_id)
        if daily:
            await self.state.mark_drift_checked(team_id, run)
        log.info("sync.drift_checked", **fields(team=team_id, run=run, invoices=len(report.items),
                                                 not_checked=len(report.not_checked)))

    # ----------------------------------------------------------------- the comparison

    async def check(self, team_id: str, run: str) -> DriftReport:
        report = DriftReport(team_id=team_id, run=run)
        in_forecast = await self._forecast_invoices(team_id, report)
        for tenant in await self.connections.list_tenants(team_id):
            if tenant.status == CONNECTED:
                await self._check_tenant(tenant, in_forecast, report)
        await self._failed_exports(team_id, report)
        return report

    async def _forecast_invoices(self, team_id: str, report: DriftReport
                                 ) -> dict[int, tuple[ForecastInvoice, list[ForecastInvoicePayment]]] | None:
        api_key = await self.workspace_settings.forecast_api_key(team_id)
        if not api_key:
            report.forecast_unread = True
            return None
        try:
            return {invoice.id: (invoice, payments)
                    for invoice, payments in await self.forecast.list_invoices_with_payments(api_key)}
        except ForecastError:
            report.forecast_unread = True
            return None

    async def _check_tenant(self, tenant: Tenant, in_forecast, report: DriftReport) -> None:
        team_id, tenant_id = tenant.team_id, tenant.tenant_id
        ids = sorted(await self.links.linked_xero_ids(team_id, "invoice", tenant_id))[:MAX_CHECKED_PER_ORGANISATION]
        if not ids:
            return
        links = await self.links.by_xero_ids(team_id, "invoice", tenant_id, ids)
        auth = TenantAuth(tenant_id, tenant.token_set_id)
        in_xero: dict[str, XeroInvoiceState] = {}
        for start in range(0, len(ids), MAX_INVOICES_PER_REQUEST):
            if not await self.may_read(tenant_id):
                report.not_checked.append(NotChecked(tenant_name=tenant.name, reason="budget"))
                return
            try:
                rows = await self.xero.get_invoices_by_ids(auth, ids[start:start + MAX_INVOICES_PER_REQUEST])
            except XeroError:
                report.not_checked.append(NotChecked(tenant_name=tenant.name, reason="xero_error"))
                return
            for row in rows:
                invoice = XeroInvoiceState.model_validate(row)
                in_xero[(invoice.invoice_id or "").lower()] = invoice
        for xero_id in ids:
            link = links.get(xero_id.lower())
            if link is None:
                continue
            item = await self._compare(tenant, link, in_xero.get(xero_id.lower()), in_forecast)
            if item is not None:
                report.items.append(item)

    async def _compare(self, tenant: Tenant, link: Link, now: XeroInvoiceState | None, in_forecast) -> DriftItem | None:
        forecast_id = int(link.forecast_id)
        job = await self.exports.exported_job_for(tenant.team_id, forecast_id)
        details = link.details or {}
        reference = details.get("reference") or (job.reference if job else None) or (
            now.invoice_number if now else None) or str(forecast_id)
        differences: list[Difference] = []
        currency = now.currency_code if now else (job.invoice.currency if job else None)
        if now is None:
            differences.append(Difference(what="missing_in_xero"))
        else:
            differences += _against_xero(now, job.invoice if job else None, InvoiceStatus.from_details(details))
        if in_forecast is not None:
            differences += _against_forecast(now, job.invoice if job else None, in_forecast.get(forecast_id))
        if not differences:
            return None
        xero_id = link.xero_id or (now.invoice_id if now else None)
        return DriftItem(tenant_id=tenant.tenant_id, tenant_name=tenant.name, reference=reference,
                         forecast_invoice_id=forecast_id, currency=currency, xero_invoice_id=xero_id,
                         xero_url=self.xero.invoice_url(xero_id) if xero_id else None,
                         export_id=job.job_id if job else None, differences=differences)

    async def _failed_exports(self, team_id: str, report: DriftReport) -> None:
        """Exports that failed and were not retried: Forecast has an approved invoice Xero does not."""
        seen = {item.forecast_invoice_id for item in report.items}
        for job in await self.exports.in_states(("failed",), team_id=team_id, limit=FAILED_EXPORTS_SHOWN):
            if job.forecast_invoice_id in seen or await self.exports.exported_job_for(team_id, job.forecast_invoice_id):
                continue
            if await self.exports.open_job_for(team_id, job.forecast_invoice_id):
                continue  # asked again meanwhile
            seen.add(job.forecast_invoice_id)
            report.items.append(DriftItem(
                tenant_id=job.tenant_id, tenant_name=job.tenant_name, reference=job.reference,
                forecast_invoice_id=job.forecast_invoice_id, currency=job.invoice.currency, export_id=job.job_id,
                differences=[Difference(what="export_failed")]))


def _against_xero(now: XeroInvoiceState, exported: ForecastInvoice | None,
                  last_seen: InvoiceStatus | None) -> list[Difference]:
    found: list[Difference] = []
    status = status_of(now)
    if exported is not None and now.total is not None and _money(exported.total) != _money(now.total):
        found.append(Difference(what="total", expected=_text(exported.total), actual=_text(now.total)))
    if last_seen is not None and last_seen.label != status.label:
        found.append(Difference(what="status", expected=last_seen.label, actual=status.label))
    elif (last_seen is not None and last_seen.amount_due is not None and status.amount_due is not None
          and _money(last_seen.amount_due) != _money(status.amount_due)):
        found.append(Difference(what="amount_due", expected=_text(last_seen.amount_due),
                                actual=_text(status.amount_due)))
    return found


def _against_forecast(now: XeroInvoiceState | None, exported: ForecastInvoice | None,
                      held: tuple[ForecastInvoice, list[ForecastInvoicePayment]] | None) -> list[Difference]:
    if held is None:
        return [Difference(what="forecast_missing")]
    invoice, payments = held
    found: list[Difference] = []
    if exported is not None and invoice.entries and _money(invoice.total) != _money(exported.total):
        found.append(Difference(what="forecast_total", expected=_text(exported.total), actual=_text(invoice.total)))
    if now is None:
        return found
    label = status_of(now).label
    if label in ("voided", "deleted") and (invoice.status or "").upper() != "DRAFT":
        found.append(Difference(what="voided_in_xero", expected=invoice.status, actual=label))
        return found
    if (invoice.status or "").upper() == "DRAFT" and label not in ("draft", "voided", "deleted"):
        found.append(Difference(what="forecast_status", expected="DRAFT", actual=label))
    in_forecast = sum((p.amount or Decimal(0) for p in payments), Decimal(0))
    settled = (now.amount_paid or Decimal(0)) + (status_of(now).amount_credited or Decimal(0))
    if _money(in_forecast) != _money(settled):
        found.append(Difference(what="payments", expected=_text(in_forecast), actual=_text(settled)))
    return found


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


def _text(value) -> str:
    return format(_money(value), "f")
