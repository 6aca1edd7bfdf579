"""Changes in Xero flow back: webhook events and a periodic scan feed one sync job per organisation.

- `receive()` (the webhook route): stores events of connected organisations for invoices and contacts the
  bot linked, and their credit notes (CREDITNOTE events: read to find which exported invoices they are
  allocated to, or were), and enqueues `xero.sync` with the key `sync:{team}:{tenant}`, so a burst becomes one job.
- The job reads what changed: the events' invoices by id (50 a call) and, when a scan is due (every
  SYNC_INTERVAL_MINUTES, or `/xero sync`), every sales invoice and contact changed since the last scan
  (`If-Modified-Since`). Each invoice and contact goes through the same code (services/sync/invoices.py,
  services/sync/contacts.py), whichever way it came.
- Before each read it asks the limiter what is left of the organisation's day (our count and Xero's
  `X-DayLimit-Remaining`); below SYNC_DAY_RESERVE the job waits (at most an hour), so exports keep their calls.
- What people should hear is saved as notices (services/sync/notices.py) before the link remembers the new
  state, and sent by the `slack.sync_notice` job; the status goes on the export job (`in_xero`), whose
  outbox redraws the approval message.
- A periodic ticker in every process enqueues the scans that are due (the key makes that idempotent).
- Once a day and after `/xero sync`, the drift check (services/sync/drift.py) compares the exported invoices
  with Xero and Forecast and reports what disagrees.
The job is idempotent: events are marked done only after they were handled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from services.connections.service import CONNECTED, ConnectionsService, Tenant, TenantNotFound
from services.exports.store import ExportRequest, ExportStore, InXero
from services.forecast import ForecastApi
from services.platform.chunks import chunks
from services.platform.jobs import GiveUp, Job, JobQueue, Periodic, RetryLater
from services.platform.logfmt import fields
from services.platform.storage import Storage
from services.shared.links import LinkKind, LinkStore
from services.shared.problems import Problem
from services.shared.settings import WorkspaceSettingsService
from services.sync.contacts import ContactSync, ContactSynced
from services.sync.drift import DriftCheck
from services.sync.events import CATEGORIES, PendingEvents, XeroEvent, XeroEventStore
from services.sync.invoices import WAITING_FOR_KEY, InvoiceSync, InvoiceSynced
from services.sync.notices import SYNC_NOTICE, SyncNotice, SyncNoticeStore, digest, notice_key
from services.sync.state import SyncRequest, SyncStateStore
from services.xero.client import CREDIT_NOTES_PER_LOOKUP, MAX_INVOICES_PER_REQUEST, TenantAuth, XeroClient
from services.xero.errors import XeroAuthError, XeroError, XeroRateLimited
from services.xero.models import XeroContact
from services.xero.sync_models import XeroInvoiceState
from services.xero.tokens import TokenSetNotFound

log = logging.getLogger(__name__)

SYNC_JOB = "xero.sync"
SCAN_OVERLAP = timedelta(minutes=5)  # clocks differ a little; reading a change twice is harmless
BUDGET_WAIT_SECONDS = 3600.0
EVENTS_KEPT_SECONDS = 7 * 86_400.0
MINUTE_RESERVE = 10  # calls of Xero's 60 a minute that a sync read never takes: exports go first
MINUTE_PAUSE_SECONDS = 15.0
MAX_TICK_SECONDS = 60.0


def sync_key(team_id: str, tenant_id: str) -> str:
    return f"sync:{team_id}:{tenant_id}"


class SyncNotifier(Protocol):
    async def sync_answered(self, request: SyncRequest, summary: SyncSummary) -> None:
        """Answer whoever typed /xero sync."""


class SyncSummary(BaseModel):
    team_id: str
    tenant_id: str
    tenant_name: str
    scanned: bool = False
    postponed: bool = False  # the day's calls are kept for exports
    failure: Problem | str | None = None  # Xero could not be read
    invoices: list[InvoiceSynced] = []
    contacts: list[ContactSynced] = []


class SyncRequested(BaseModel):
    tenant_name: str
    postponed: bool = False  # not read now: the day's remaining calls are kept for exports


class Received(BaseModel):
    stored: int = 0
    duplicates: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class SyncSettings:
    interval_seconds: float = 900.0
    day_reserve: int = 200


class XeroSync:
    def __init__(self, storage: Storage, *, xero: XeroClient, forecast: ForecastApi,
                 connections: ConnectionsService, links: LinkStore, workspace_settings: WorkspaceSettingsService,
                 queue: JobQueue, notices: SyncNoticeStore, notifier: SyncNotifier, export_requests: ExportStore,
                 settings: SyncSettings = SyncSettings(),
                 export_changed: Callable[[ExportRequest], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep):
        self.events = XeroEventStore(storage.xero_events, clock=clock)
        self.state = SyncStateStore(storage.xero_sync, clock=clock)
        self.export_jobs = export_requests
        self.notices = notices
        self.export_changed = export_changed  # ExportService.redraw: the approval message is redrawn
        self.xero = xero
        self.connections = connections
        self.links = links
        self.workspace_settings = workspace_settings
        self.queue = queue
        self.notifier = notifier
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.invoices = InvoiceSync(forecast, links)
        self.contacts = ContactSync(forecast, links)
        tick = min(MAX_TICK_SECONDS, self.settings.interval_seconds)
        self._ticker = Periodic("sync.tick", self.enqueue_due, tick, first_delay=tick)
        self.drift = DriftCheck(exports=export_requests, xero=xero, forecast=forecast, connections=connections,
                                links=links, workspace_settings=workspace_settings, queue=queue, state=self.state,
                                notices=self.notices, may_read=self._may_read, deliver_notices=self.deliver_notices,
                                sync_kind=SYNC_JOB, clock=clock)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc)

    # ----------------------------------------------------------------- webhook events in

    async def receive(self, payload: Any) -> Received:
        """Store what concerns us and enqueue one job per organisation. Cheap: no call to Xero here, and one
        look-up per organisation for the tenant and one per kind for the links."""
        result = Received()
        rows = payload.get("events") if isinstance(payload, dict) else None
        by_target: dict[tuple[str, str], list[XeroEvent]] = {}
        for row in rows if isinstance(rows, list) else []:
            try:
                event = XeroEvent.model_validate(row)
            except ValidationError:
                result.ignored += 1
                continue
            if event.event_category not in CATEGORIES or not event.tenant_id or not event.resource_id:
                result.ignored += 1
                continue
            by_target.setdefault((event.tenant_id, event.event_category), []).append(event)
        tenants: dict[str, Tenant | None] = {}
        to_sync: set[tuple[str, str]] = set()
        for (tenant_id, category), events in by_target.items():
            if tenant_id not in tenants:
                tenants[tenant_id] = await self.connections.connected_anywhere(tenant_id)
            tenant = tenants[tenant_id]
            wanted = set() if tenant is None else await self._wanted(tenant, category, events)
            for event in events:
                if tenant is None or event.resource_id.lower() not in wanted:
                    result.ignored += 1
                elif await self.events.add(tenant.team_id, event):
                    result.stored += 1
                    to_sync.add((tenant.team_id, tenant_id))
                else:
                    result.duplicates += 1
        for team_id, tenant_id in to_sync:
            await self.enqueue(team_id, tenant_id)
        return result

    async def _wanted(self, tenant: Tenant, category: str, events: list[XeroEvent]) -> set[str]:
        """The events' resources that concern us: invoices and contacts the bot linked; any credit note of an
        organisation with an exported invoice (which invoice it is allocated to is known only once it is read)."""
        ids = [e.resource_id for e in events]
        if category == "CREDITNOTE":
            exported = await self.links.count_linked(tenant.team_id, tenant.tenant_id, "invoice")
            return {i.lower() for i in ids} if exported else set()
        kind: LinkKind = "invoice" if category == "INVOICE" else "client"
        return set(await self.links.by_xero_ids(tenant.team_id, kind, tenant.tenant_id, ids))

    async def enqueue(self, team_id: str, tenant_id: str) -> None:
        await self.queue.enqueue(SYNC_JOB, {"team_id": team_id, "tenant_id": tenant_id},
                                 key=sync_key(team_id, tenant_id))

    # ----------------------------------------------------------------- /xero sync and the ticker

    async def request_sync(self, team_id: str, user_id: str, channel_id: str | None) -> list[SyncRequested]:
        """A scan of every connected organisation now; each job answers the user with what changed. An
        organisation whose remaining calls today are kept for exports is not read (and says so)."""
        requested = []
        for tenant in await self.connections.list_tenants(team_id):
            if tenant.status != CONNECTED:
                continue
            postponed = not self._budget_left(tenant.tenant_id)
            if not postponed:
                await self.state.request_scan(team_id, tenant.tenant_id, user_id=user_id, channel_id=channel_id)
                await self.enqueue(team_id, tenant.tenant_id)
            requested.append(SyncRequested(tenant_name=tenant.name, postponed=postponed))
        if any(not r.postponed for r in requested):
            await self.drift.after_sync(team_id)  # once those syncs are done
        return requested

    async def enqueue_due(self) -> int:
        """Enqueue the scans that are due (organisations with something linked). How many were enqueued."""
        now, count = self.now(), 0
        for tenant in await self.connections.all_connected():
            state = await self.state.get(tenant.team_id, tenant.tenant_id)
            if not state.scan_due(now, self.settings.interval_seconds):
                continue
            if not (await self.links.linked_xero_ids(tenant.team_id, "invoice", tenant.tenant_id)
                    or await self.links.linked_xero_ids(tenant.team_id, "client", tenant.tenant_id)):
                continue
            await self.enqueue(tenant.team_id, tenant.tenant_id)
            count += 1
        return count

    def start(self) -> None:
        self._ticker.start()
        self.drift.start()

    async def stop(self) -> None:
        await self._ticker.stop()
        await self.drift.stop()

    # ----------------------------------------------------------------- the job

    async def handle(self, job: Job) -> None:
        team_id, tenant_id = job.payload["team_id"], job.payload["tenant_id"]
        try:
            tenant = await self.connections.get_tenant(team_id, tenant_id)
        except TenantNotFound:
            tenant = None
        if tenant is None or tenant.status != CONNECTED:
            if tenant is None:  # removed: its events will never be handled
                await self.events.mark_done((await self.events.pending(team_id, tenant_id)).ids)
            log.info("sync.skipped", **fields(team=team_id, tenant=tenant_id, reason="not connected"))
            return
        started = self.now()
        try:
            summary = await self.sync_tenant(tenant, started)
        except XeroRateLimited as exc:
            raise RetryLater(exc.retry_after or 60.0, "Xero rate limit") from exc
        except TokenSetNotFound as exc:
            # Reconnected (or removed) while this ran: the connection it read with is gone. Not a failure: the
            # next run reads with the organisation's new connection, or skips it when it was removed.
            try:
                now = await self.connections.get_tenant(team_id, tenant_id)
            except TenantNotFound:
                now = None
            if now is not None and now.token_set_id != tenant.token_set_id:
                log.info("sync.connection_replaced", **fields(team=team_id, tenant=tenant_id))
                raise RetryLater(0.2, "the organisation's connection was replaced") from exc
            log.warning("sync.connection_gone", **fields(team=team_id, tenant=tenant_id))
            raise GiveUp("connection_gone") from exc
        except XeroError as exc:
            last_try = isinstance(exc, XeroAuthError) or job.attempts >= job.max_attempts
            if last_try:  # whoever asked with /xero sync hears why nothing came
                failed = SyncSummary(team_id=team_id, tenant_id=tenant_id, tenant_name=tenant.name,
                                     failure=Problem.of(exc))
                await self._answer_requests(tenant, started, failed)
            if isinstance(exc, XeroAuthError):
                raise GiveUp(str(exc)) from exc  # it shows Needs reconnect; the next scan after that catches up
            raise
        await self._answer_requests(tenant, started, summary)
        if summary.postponed:
            raise RetryLater(self._budget_wait(tenant_id), "keeping the day's remaining Xero calls for exports")
        state = await self.state.get(team_id, tenant_id)
        asked_meanwhile = state.scan_requested_at is not None and state.scan_requested_at > started
        if await self.events.has_pending(team_id, tenant_id) or asked_meanwhile:
            raise RetryLater(0.2, "more to do: events or a /xero sync arrived while this ran")

    async def sync_tenant(self, tenant: Tenant, started: datetime) -> SyncSummary:
        team_id, tenant_id = tenant.team_id, tenant.tenant_id
        summary = SyncSummary(team_id=team_id, tenant_id=tenant_id, tenant_name=tenant.name)
        auth = TenantAuth(tenant_id, tenant.token_set_id)
        if not self._budget_left(tenant_id):
            summary.postponed = True
            return summary
        pending = await self.events.pending(team_id, tenant_id)
        state = await self.state.get(team_id, tenant_id)
        scan = state.scan_due(started, self.settings.interval_seconds)
        linked_invoices = await self._linked_ids(tenant, "invoice")
        linked_contacts = await self._linked_ids(tenant, "client")
        invoices: dict[str, XeroInvoiceState] = {}
        contacts: dict[str, XeroContact] = {}
        if scan:
            since = state.last_scan_at or tenant.connected_at
            await self._read_changed_since(auth, since - SCAN_OVERLAP, linked_invoices, linked_contacts,
                                           invoices, contacts, summary)
            pending = pending.model_copy(update={"invoice_ids": [*pending.invoice_ids,
                                                                 *await self._waiting_for_key(tenant)]})
        if not summary.postponed and pending.credit_note_ids:
            credited = await self._credited_invoices(tenant, pending.credit_note_ids, linked_invoices, summary)
            pending = pending.model_copy(update={"invoice_ids": [*pending.invoice_ids, *credited]})
        if not summary.postponed:
            await self._read_events(auth, pending, linked_invoices, linked_contacts, invoices, contacts, summary)
        await self._apply(tenant, invoices, contacts, summary)
        if not summary.postponed:
            await self.events.mark_done(pending.ids)
            if scan:
                await self.state.scanned(team_id, tenant_id, started)
                summary.scanned = True
        log.info("sync.done", **fields(team=team_id, tenant=tenant_id, scanned=summary.scanned,
                                       events=len(pending.ids), invoices=len(invoices), contacts=len(contacts),
                                       postponed=summary.postponed))
        return summary

    async def _read_changed_since(self, auth: TenantAuth, since: datetime, linked_invoices: set[str],
                                  linked_contacts: set[str], invoices: dict[str, XeroInvoiceState],
                                  contacts: dict[str, XeroContact], summary: SyncSummary) -> None:
        """The scan: every sales invoice and contact changed since `since`, kept when the bot linked it."""
        if linked_invoices:
            if not await self._may_read(auth.tenant_id):
                summary.postponed = True
                return
            for row in await self.xero.list_sales_invoices_modified_since(auth, since):
                self._keep_invoice(row, linked_invoices, invoices)
        if linked_contacts:
            if not await self._may_read(auth.tenant_id):
                summary.postponed = True
                return
            for contact in await self.xero.list_contacts(auth, if_modified_since=since):
                contact_id = (contact.contact_id or "").lower()
                if contact_id in linked_contacts:
                    contacts[contact_id] = contact

    async def _read_events(self, auth: TenantAuth, pending: PendingEvents, linked_invoices: set[str],
                           linked_contacts: set[str], invoices: dict[str, XeroInvoiceState],
                           contacts: dict[str, XeroContact], summary: SyncSummary) -> None:
        """The objects the webhook events name (and the scan did not read already), 50 per call."""
        wanted = [i.lower() for i in pending.invoice_ids if i.lower() in linked_invoices and i.lower() not in invoices]
        for batch in chunks(wanted, MAX_INVOICES_PER_REQUEST):
            if not await self._may_read(auth.tenant_id):
                summary.postponed = True
                return
            for row in await self.xero.get_invoices_by_ids(auth, batch):
                self._keep_invoice(row, linked_invoices, invoices)
        wanted = [i.lower() for i in pending.contact_ids if i.lower() in linked_contacts and i.lower() not in contacts]
        for batch in chunks(wanted, MAX_INVOICES_PER_REQUEST):
            if not await self._may_read(auth.tenant_id):
                summary.postponed = True
                return
            for contact in await self.xero.get_contacts_by_ids(auth, batch):
                contacts[(contact.contact_id or "").lower()] = contact

    async def _credited_invoices(self, tenant: Tenant, credit_note_ids: list[str], linked_invoices: set[str],
                                 summary: SyncSummary) -> list[str]:
        """The exported invoices the events' credit notes touch: those their allocations name now (read from
        Xero, 20 a call), and those they were applied to before (a removed allocation, a voided credit note)."""
        auth = TenantAuth(tenant.tenant_id, tenant.token_set_id)
        wanted = list(dict.fromkeys(i.lower() for i in credit_note_ids))
        invoice_ids: list[str] = []
        for batch in chunks(wanted, CREDIT_NOTES_PER_LOOKUP):
            if not await self._may_read(tenant.tenant_id):
                summary.postponed = True
                return invoice_ids
            for credit_note in await self.xero.get_credit_notes_by_ids(auth, batch):
                invoice_ids += [i for i in credit_note.invoice_ids if i in linked_invoices]
        for credit_id in wanted:
            for link in await self.links.with_detail(tenant.team_id, "payment", tenant.tenant_id, "credit_id",
                                                     credit_id):
                if (link.details or {}).get("xero_invoice_id"):
                    invoice_ids.append(link.details["xero_invoice_id"])
        return list(dict.fromkeys(invoice_ids))

    async def _apply(self, tenant: Tenant, invoices: dict[str, XeroInvoiceState], contacts: dict[str, XeroContact],
                     summary: SyncSummary) -> None:
        team_id = tenant.team_id
        invoice_links = await self.links.by_xero_ids(team_id, "invoice", tenant.tenant_id, list(invoices))
        contact_links = await self.links.by_xero_ids(team_id, "client", tenant.tenant_id, list(contacts))
        api_key = await self.workspace_settings.forecast_api_key(team_id)
        settings = await self.workspace_settings.get(team_id)
        notify_channel = settings.notify_channel or settings.approval_channel
        for xero_id, invoice in invoices.items():
            link = invoice_links.get(xero_id)
            if link is None:
                continue  # unlinked meanwhile
            job = await self.export_jobs.exported_job_for(team_id, int(link.forecast_id))
            report = await self.invoices.sync(link, invoice, api_key=api_key, exported=job.invoice if job else None,
                                              before_saving=partial(self._invoice_read, job, notify_channel))
            if report.changed:
                summary.invoices.append(report)
        if api_key:  # contacts change Forecast clients only; the invoice reports said the key is missing
            for xero_id, contact in contacts.items():
                if xero_id not in contact_links:
                    continue
                contact_report = await self.contacts.sync(
                    contact_links[xero_id], contact, api_key=api_key,
                    before_saving=partial(self._contact_read, tenant.name, notify_channel))
                if contact_report is not None and contact_report.changed:
                    summary.contacts.append(contact_report)
        if summary.invoices or summary.contacts:
            await self.deliver_notices(team_id)

    async def _contact_read(self, tenant_name: str, notify_channel: str | None, report: ContactSynced) -> None:
        """Before the link remembers the contact's new values: the notice of what changed (see above)."""
        if report.changed:
            await self.notices.add(contact_notices(report, tenant_name, notify_channel))

    async def _invoice_read(self, job: ExportRequest | None, notify_channel: str | None, report: InvoiceSynced) -> None:
        """Before sync saves what it saw: the notices of what changed, and the status on the export job, so a
        crash in between leaves the change unseen and the next run says it (once: the notices' ids are stable)."""
        if report.changed:
            await self.notices.add(invoice_notices(report, job, notify_channel))
        if job is None:
            return
        status = report.status
        in_xero = InXero(label=status.label, currency=report.currency, total=status.total,
                         amount_paid=status.amount_paid, amount_due=status.amount_due, paid_on=status.paid_on,
                         amount_credited=status.amount_credited or None)
        if job.in_xero != in_xero:
            job = await self.export_jobs.set_in_xero(job, in_xero)
            if self.export_changed is not None:
                await self.export_changed(job)

    async def deliver_notices(self, team_id: str) -> None:
        await self.queue.enqueue(SYNC_NOTICE, {"team_id": team_id}, key=notice_key(team_id), max_attempts=20)

    async def sweep(self) -> None:
        """Heals a lost enqueue of notices, and forgets handled events and sent notices after a week."""
        for team_id in await self.notices.teams_with_unsent():
            await self.deliver_notices(team_id)
        await self.events.purge_done(EVENTS_KEPT_SECONDS)
        await self.notices.purge_finished()

    @staticmethod
    def _keep_invoice(row: dict, linked: set[str], into: dict[str, XeroInvoiceState]) -> None:
        invoice_id = str(row.get("InvoiceID") or "").lower()
        if invoice_id in linked:
            into[invoice_id] = XeroInvoiceState.model_validate(row)

    async def _waiting_for_key(self, tenant: Tenant) -> list[str]:
        """Invoices whose payments were not copied for want of a Forecast key, once there is one."""
        if not await self.workspace_settings.forecast_api_key(tenant.team_id):
            return []
        links = await self.links.with_detail(tenant.team_id, "invoice", tenant.tenant_id, WAITING_FOR_KEY, 1)
        return [link.xero_id for link in links if link.xero_id]

    async def _linked_ids(self, tenant: Tenant, kind: LinkKind) -> set[str]:
        return {i.lower() for i in await self.links.linked_xero_ids(tenant.team_id, kind, tenant.tenant_id)}

    async def _may_read(self, tenant_id: str) -> bool:
        """False when the day's calls are needed for exports; waits while this minute's are nearly gone."""
        if not self._budget_left(tenant_id):
            return False
        if self.xero.calls_left_this_minute(tenant_id) < MINUTE_RESERVE:
            await self.sleep(MINUTE_PAUSE_SECONDS)
        return True

    def _budget_left(self, tenant_id: str) -> bool:
        """The limiter's count of today's calls left (ours and what Xero says): the reserve is for exports."""
        return self.xero.calls_left_today(tenant_id) > self.settings.day_reserve

    def _budget_wait(self, tenant_id: str) -> float:
        """Until the rolling day gives calls back, at least a minute, at most an hour."""
        return min(BUDGET_WAIT_SECONDS, max(60.0, self.xero.day_resets_in(tenant_id)))

    async def _answer_requests(self, tenant: Tenant, started: datetime, summary: SyncSummary) -> None:
        for request in await self.state.open_requests(tenant.team_id, tenant.tenant_id, made_before=started):
            if summary.postponed or summary.scanned or summary.failure:
                if await self.state.answered(request):
                    await self._tell("sync_answered", request, summary)

    async def _tell(self, what: str, *args) -> None:
        """Telling people must never undo the sync: what changed is already saved."""
        try:
            await getattr(self.notifier, what)(*args)
        except Exception:
            log.exception("sync.notify_failed", **fields(what=what))



def invoice_notices(report: InvoiceSynced, job: ExportRequest | None, notify_channel: str | None) -> list[SyncNotice]:
    """What to tell whom about one invoice: replies in the approval message's thread, a copy of an inexact
    amount in the notify channel, a DM to the requester once it is paid; without a known approval message,
    one message in the notify channel."""
    team, tenant, invoice = report.team_id, report.tenant_id, report.xero_invoice_id.lower()
    data = report.model_dump(mode="json")

    def notice(what, channel, *key, thread_ts=None, item=None, seq=0) -> SyncNotice:
        return SyncNotice(id=digest(team, tenant, invoice, what, *key), team_id=team, what=what, channel=channel,
                          thread_ts=thread_ts, report=data, item=item or {}, seq=seq)

    if job is None or not (job.approval_channel and job.approval_ts):
        return [notice("unlinked_invoice", notify_channel, digest(data | {"previous_status": None}))] \
            if notify_channel else []
    channel, ts = job.approval_channel, job.approval_ts
    thread: list[tuple] = []
    for payment in report.payments_recorded:
        thread.append(("payment_recorded", payment.xero_payment_id, payment.model_dump(mode="json")))
        if not payment.exact:
            thread.append(("inexact_payment", payment.xero_payment_id, payment.model_dump(mode="json")))
    for removed in report.payments_removed:
        thread.append(("payment_removed", removed.xero_payment_id, removed.model_dump(mode="json")))
    if report.status_changed and report.previous_status is not None:
        thread.append(("status", f"{report.status.label}:{report.status.amount_paid}", None))
    if report.line_differences:
        thread.append(("lines_edited", digest([d.model_dump() for d in report.line_differences]), None))
    for problem in report.problems:
        said = problem.model_dump(mode="json") if isinstance(problem, Problem) else problem
        thread.append(("problem", digest(said, report.status.model_dump(mode="json")), {"problem": said}))
    if report.forecast_key_missing and (report.payments_recorded or report.status.amount_paid):
        thread.append(("key_missing", str(report.status.amount_paid), None))
    notices = [notice(what, channel, key, thread_ts=ts, item=item, seq=seq)
               for seq, (what, key, item) in enumerate(thread)]
    if notify_channel and notify_channel != channel:
        notices += [notice("inexact_payment", notify_channel, payment.xero_payment_id, "notify",
                           item=payment.model_dump(mode="json"), seq=len(notices))
                    for payment in report.inexact_payments]
    if report.became_paid and job.requested_by:
        notices.append(notice("paid", job.requested_by, seq=len(notices)))
    return notices


def contact_notices(report: ContactSynced, tenant_name: str, notify_channel: str | None) -> list[SyncNotice]:
    """The notify channel hears what changed on a Forecast client (once per new set of values)."""
    if not notify_channel:
        return []
    # The new values, not the old ones: a run after a crash may see another "before" for the same change.
    version = digest([(c.field, c.after) for c in report.changes], report.model_dump(mode="json")["problem"])
    return [SyncNotice(id=digest(report.team_id, report.tenant_id, "client", report.forecast_client_id, version),
                       team_id=report.team_id, what="client_changed", channel=notify_channel,
                       report=report.model_dump(mode="json"), tenant_name=tenant_name)]
