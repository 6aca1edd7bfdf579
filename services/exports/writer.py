"""The one Xero invoice writer: Forecast invoices into a Xero organisation, at most once each.

Both an approved single export (`XeroInvoiceExporter`, one attempt of an `export.run` job) and a batch's
invoices in one organisation (`BatchExporter`, an `export.batch` job) write through this module: the same
invoice as pre-flight planned it (`build_invoice`), the same new contact (`new_contact`), the same client
link (`link_client`) and the same bounded Idempotency-Keys (`_bounded_key`).

A single export, in order, each step safe to repeat after any failure or crash:
1. an invoice link for this Forecast invoice already exists -> done, nothing created;
2. an invoice with this InvoiceNumber exists in the organisation -> link it, nothing created
   (this covers a crash between Xero's answer and our link write, and a reconnect);
3. the pre-flight check (services/exports/preflight.py) with the organisation's reference data cached by
   services/xero/reference.py (read at request time, so usually no call here): currency, account, each
   line's tax % mapped to a TaxType, totals to the cent; nothing is created if it fails;
4. the contact: the client's link, else an exact name match, else created (and linked at once);
5. the invoice, created with an Idempotency-Key derived from (tenant, Forecast invoice, generation).

A batch, per organisation: reference data once, then per chunk of up to 50:
1. one lookup of the chunk's invoice numbers (`InvoiceNumbers=`): a number already there is linked, not
   created — this is also what makes a resumed batch safe after a crash between Xero's answer and our links;
2. the pre-flight check of every invoice;
3. contacts: the client's link, else one lookup of the missing names, else one create of all of them;
4. one create of the chunk with `summarizeErrors=false`: Xero's refusals come back per invoice and the
   others go through. Its Idempotency-Key derives from the batch, the organisation, the generation and the
   chunk's invoice numbers, so a retry of the same chunk replays Xero's answer, and a chunk that changed
   (some invoices since linked) gets a new key;
5. links written at once; Xero's Total compared with Forecast's, a difference flagged.
Before each chunk the organisation's day budget is checked: when it would run out, `DayBudgetSpent` (a
`services.platform.jobs.RetryLater`) says when Xero's day gives calls back, with what was done so far.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from services.connections.service import ConnectionsService, Tenant, TenantNotFound
from services.exports import tracking
from services.exports.preflight import CENT, Preflight, preflight
from services.exports.states import Outcome
from services.exports.store import ExportRequest
from services.forecast import ForecastCustomer, ForecastInvoice
from services.platform.crash_points import crash_point
from services.platform.jobs import RetryLater
from services.platform.logfmt import fields
from services.shared.links import LINKED, Link, LinkStore
from services.shared.settings import TrackingChoice, WorkspaceSettings
from services.xero.client import MAX_IDEMPOTENCY_KEY_LENGTH, MAX_INVOICES_PER_REQUEST, TenantAuth, XeroClient
from services.xero.errors import (
    XeroAuthError,
    XeroError,
    XeroNotFound,
    XeroRateLimited,
    XeroValidationError,
)
from services.xero.models import XeroAddress, XeroContact, XeroInvoice, XeroLineItem
from services.xero.reference import OrgReference, OrgReferenceStore

log = logging.getLogger(__name__)


# Refusals Xero gives before doing anything: after one of these the create certainly made nothing.
DEFINITE_REFUSALS = (XeroValidationError, XeroAuthError, XeroNotFound)


@dataclass(frozen=True)
class ExportDone:
    invoice_id: str
    invoice_number: str | None
    status: str | None
    url: str
    outcome: Outcome  # created | found_in_xero | already_linked


class ExportFailure(Exception):
    """The attempt failed: `code` and `data` say why (bot/blocks/exports.py words them); `xero_details` are
    Xero's own validation messages. `create_sent`: the invoice create went out; `refused`: Xero answered it
    with a definite refusal (so it certainly created nothing)."""

    def __init__(self, code: str, data: dict[str, Any] | None = None, *, create_sent: bool = False,
                 refused: bool = False, xero_details: list[str] | None = None):
        super().__init__(code)
        self.code = code
        self.data = data or {}
        self.create_sent = create_sent
        self.refused = refused
        self.xero_details = xero_details or []

    def __str__(self) -> str:
        return f"{self.code} {self.data}" + (": " + "; ".join(self.xero_details) if self.xero_details else "")

    def created_nothing(self, fresh_generation: bool) -> bool:
        """Whether no attempt of this generation can have created the invoice.

        An attempt that never sent the create proves nothing about earlier attempts of the same
        generation, so it only counts as "nothing created" when the generation is fresh.
        """
        if not self.create_sent:
            return fresh_generation
        return self.refused


def _bounded_key(prefix: str, body: str) -> str:
    """Readable when it fits Xero's 128 characters, else a digest of the same parts."""
    key = f"{prefix}:{body}"
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        key = f"{prefix}:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def idempotency_key(team_id: str, tenant_id: str, forecast_invoice_id: int, generation: int) -> str:
    return _bounded_key("fc-export", f"{team_id}:{tenant_id}:inv{forecast_invoice_id}:g{generation}")


def contact_idempotency_key(team_id: str, tenant_id: str, client_id: int, generation: int) -> str:
    return _bounded_key("fc-contact", f"{team_id}:{tenant_id}:client{client_id}:g{generation}")


class XeroInvoiceExporter:
    def __init__(self, xero: XeroClient, connections: ConnectionsService, links: LinkStore,
                 reference: OrgReferenceStore):
        self.xero = xero
        self.connections = connections
        self.links = links
        self.reference = reference

    async def export(self, job: ExportRequest, settings: WorkspaceSettings, *, generation: int,
                     by: str | None) -> ExportDone:
        """Raises ExportFailure; anything else escaping means the outcome is unknown.

        One export of a Forecast invoice runs at a time, whichever organisation it is for: the database
        allows one open request per invoice (export_jobs.open_key) and one open `export.run` job per
        invoice (jobs.open_key), so two organisations can never each get it.
        """
        return await self._export(job, settings, generation=generation, by=by)

    async def _export(self, job: ExportRequest, settings: WorkspaceSettings, *, generation: int,
                      by: str | None) -> ExportDone:
        tenant = await self._tenant(job)
        done = await self._already_exported(job)
        if done:
            return done
        auth = TenantAuth(tenant.tenant_id, tenant.token_set_id)
        create_sent = False
        try:
            existing = await self.xero.find_invoice_by_number(auth, job.invoice.invoice_reference)
            if existing and existing.invoice_id:
                return await self._link_invoice(job, tenant, existing.invoice_id, existing, by,
                                                outcome=Outcome.FOUND_IN_XERO)
            planned = await self._preflight(auth, job, tenant, settings)
            if planned.tracking is not None and await tracking.create_missing(
                    self.xero, job.team_id, auth, [planned.tracking]):
                await self.reference.refresh_tracking(job.team_id, auth, await self.reference.get(job.team_id, auth))
            contact_id = await self._contact(auth, job, tenant, generation, by)
            invoice = build_invoice(job.invoice, planned, contact_id, settings.export_status)
            key = idempotency_key(job.team_id, tenant.tenant_id, job.forecast_invoice_id, generation)
            create_sent = True
            crash_point("before_xero_create")
            created = (await self.xero.create_invoices(auth, [invoice], idempotency_key=key))[0]
            crash_point("after_xero_create")
            if not created.invoice_id:
                raise XeroError(code="no_created_invoice")
        except XeroError as exc:
            raise _failure(exc, create_sent=create_sent, refused=isinstance(exc, DEFINITE_REFUSALS)) from exc
        return await self._link_invoice(job, tenant, created.invoice_id, created, by, outcome=Outcome.CREATED)

    # ----------------------------------------------------------------- steps

    async def _tenant(self, job: ExportRequest) -> Tenant:
        try:
            return await self.connections.get_tenant(job.team_id, job.tenant_id or "")
        except TenantNotFound:
            raise ExportFailure("not_connected", {"tenant_name": job.tenant_name}) from None

    async def _already_exported(self, job: ExportRequest) -> ExportDone | None:
        for link in await self.links.linked(job.team_id, "invoice", job.forecast_invoice_id):
            if link.xero_id:
                return ExportDone(link.xero_id, link.xero_number, (link.details or {}).get("status"),
                                  self.xero.invoice_url(link.xero_id), outcome=Outcome.ALREADY_LINKED)
        return None

    async def _link_invoice(self, job: ExportRequest, tenant: Tenant, invoice_id: str, invoice: XeroInvoice,
                            by: str | None, *, outcome: Outcome) -> ExportDone:
        await self.links.link(job.team_id, "invoice", job.forecast_invoice_id, tenant.tenant_id,
                              xero_id=invoice_id, xero_number=invoice.invoice_number, linked_by=by,
                              details={"status": invoice.status, "reference": job.reference})
        log.info("export.linked", **fields(team=job.team_id, job=job.job_id, tenant=tenant.tenant_id,
                                           invoice=invoice_id, outcome=outcome))
        return ExportDone(invoice_id, invoice.invoice_number, invoice.status, self.xero.invoice_url(invoice_id),
                          outcome=outcome)

    async def _preflight(self, auth: TenantAuth, job: ExportRequest, tenant: Tenant,
                         settings: WorkspaceSettings) -> Preflight:
        """The invoice as it will be sent, checked as at request time; a failing check is made again with
        fresh reference data once (it may have been fixed in Xero since), then fails the export."""
        account_code, tax_type = settings.line_defaults(tenant.tenant_id)
        connected = {t.tenant_id for t in await self.connections.list_tenants(job.team_id)}
        history = await self.links.history(job.team_id, "invoice", [job.forecast_invoice_id])
        choice = settings.tracking_for(tenant.tenant_id)
        may_create = choice is not None and await self.xero.may_change_settings(auth)
        for refresh in (False, True):
            reference = await self.reference.get(job.team_id, auth, refresh=refresh, tracking=choice is not None)
            if choice is not None and not refresh:  # an option archived since the approval is known before sending
                reference = await self.reference.refresh_tracking(job.team_id, auth, reference)
            plan = tracking.plan(choice, reference, client_name=job.customer.name, project_name=job.project_name,
                                 may_create=may_create)
            check = preflight(job.invoice, tenant.tenant_id, reference, account_code=account_code,
                              tax_type=tax_type, links=history, connected_tenant_ids=connected,
                              allow_duplicate=job.allow_duplicate, tracking=plan)
            if check.exportable:
                return check
            if check.code == "exported_to_removed_org":  # fresh reference data would not change that
                break
        raise _not_exportable(check, tenant, account_code)

    async def _contact(self, auth: TenantAuth, job: ExportRequest, tenant: Tenant, generation: int,
                       by: str | None) -> str:
        customer = job.customer
        link = await self.links.get(job.team_id, "client", customer.id, tenant.tenant_id)
        if link and link.status == "linked" and link.xero_id:
            return link.xero_id
        contact = same_name_contact(await self.xero.find_contacts_by_name(auth, customer.name), customer)
        if contact is None:
            key = contact_idempotency_key(job.team_id, tenant.tenant_id, customer.id, generation)
            contact = await self.xero.create_contact(auth, new_contact(job.customer), idempotency_key=key)
        if not contact.contact_id:
            raise XeroError(code="no_created_contact")
        return await link_client(self.links, job.team_id, tenant.tenant_id, customer, contact, by)


def _not_exportable(check: Preflight, tenant: Tenant, account_code: str | None) -> ExportFailure:
    """The failing check as the failure people are told of (the currency and account ones as before)."""
    data = check.stored_data()
    if check.code == "currency_not_enabled":
        return ExportFailure("currency_missing", {"tenant_name": tenant.name, "currency": data.get("currency"),
                                                  "currencies": sorted(data.get("enabled") or [])})
    if check.code == "account_invalid" and not account_code:
        return ExportFailure("no_revenue_account", {"tenant_name": tenant.name})
    return ExportFailure("preflight_failed", {"tenant_name": tenant.name, "check": check.code, "check_data": data,
                                              "currency": check.currency})


def _failure(exc: XeroError, *, create_sent: bool, refused: bool) -> ExportFailure:
    """Xero's failure as stored on the job: its code and data, and which kind of remedy it needs."""
    if isinstance(exc, XeroAuthError):
        remedy = "reconnect"
    elif isinstance(exc, XeroValidationError):
        remedy = "fix_data"
    elif isinstance(exc, XeroRateLimited):
        remedy = "wait"
    else:
        remedy = "retry"
    return ExportFailure("xero", {"xero_code": exc.code, "xero_data": exc.data, "remedy": remedy},
                         create_sent=create_sent, refused=refused, xero_details=list(exc.details))


# ----------------------------------------------------------------------------- a batch, per organisation


CHUNK_SIZE = MAX_INVOICES_PER_REQUEST
CALLS_PER_CHUNK = 4  # lookup, contact lookup, contact create, invoice create (the worst case)
DAY_RESERVE = 10  # calls left for people's own clicks (lists, single exports) when a batch pauses
NO_CONTACT = ("Xero did not create the contact",)

ExportStatus = Literal["DRAFT", "AUTHORISED"]


@dataclass(frozen=True)
class BatchItem:
    invoice: ForecastInvoice
    customer: ForecastCustomer
    allow_duplicate: bool = False  # an admin chose to export it although a removed organisation has it
    project_name: str | None = None  # for a tracking option named after the project


@dataclass(frozen=True)
class BatchSettings:
    account_code: str | None = None
    tax_type: str | None = None
    status: ExportStatus = "DRAFT"
    tracking: TrackingChoice | None = None
    may_create_options: bool = True  # the connection has accounting.settings (set by BatchExporter)

    @classmethod
    def of(cls, settings: WorkspaceSettings, tenant_id: str) -> BatchSettings:
        """The workspace's export status and this organisation's account, tax and tracking choices."""
        account_code, tax_type = settings.line_defaults(tenant_id)
        return cls(account_code=account_code, tax_type=tax_type, status=settings.export_status,
                   tracking=settings.tracking_for(tenant_id))


@dataclass(frozen=True)
class ItemOutcome:
    forecast_invoice_id: int
    reference: str
    tenant_id: str
    outcome: Outcome
    expected_total: Decimal | None = None
    xero_total: Decimal | None = None
    xero_invoice_id: str | None = None
    xero_number: str | None = None
    xero_status: str | None = None
    messages: tuple[str, ...] = ()  # Xero's own words when it refused the invoice or its contact
    preflight: Preflight | None = None

    @property
    def total_differs(self) -> bool:
        return (self.xero_total is not None and self.expected_total is not None
                and self.xero_total.quantize(CENT) != self.expected_total.quantize(CENT))


class DayBudgetSpent(RetryLater):
    """The organisation's day budget would run out: the rest waits `delay` seconds for Xero's day."""

    def __init__(self, delay: float, tenant_id: str, done: list[ItemOutcome], waiting: list[int]):
        super().__init__(delay, f"Xero's daily call limit for {tenant_id} is nearly used up")
        self.tenant_id = tenant_id
        self.done = done
        self.waiting = waiting  # Forecast invoice ids not tried yet


@dataclass
class _Chunk:
    index: int
    items: list[BatchItem]
    checks: dict[int, Preflight] = field(default_factory=dict)


def batch_key(team_id: str, batch_id: str, tenant_id: str, generation: int, what: str, numbers: Iterable[str]) -> str:
    """A per-request Idempotency-Key: same chunk, same key; ≤ 128 characters."""
    digest = hashlib.sha256("\n".join(sorted(numbers)).encode()).hexdigest()[:24]
    return _bounded_key("fc-batch", f"{team_id}:{batch_id}:{tenant_id}:g{generation}:{what}:{digest}")


class BatchExporter:
    def __init__(self, xero: XeroClient, links: LinkStore, reference: OrgReferenceStore, *,
                 day_reserve: int = DAY_RESERVE):
        self.xero = xero
        self.links = links
        self.reference = reference
        self.day_reserve = day_reserve

    # Before approval ---------------------------------------------------------------
    async def preflight(self, team_id: str, tenant: TenantAuth, items: list[BatchItem], settings: BatchSettings,
                        connected_tenant_ids: set[str]) -> list[Preflight]:
        """The pre-flight result of every item in this organisation: reference data (cached) and one lookup
        of existing numbers per 50 invoices."""
        reference = await self.reference.get(team_id, tenant, tracking=settings.tracking is not None)
        settings = await self._with_scope(tenant, settings)
        existing = await self.xero.find_invoices_by_numbers(tenant, [i.invoice.invoice_reference for i in items])
        history = await self._history(team_id, items)
        return [self._check(item, tenant.tenant_id, reference, settings, existing, history, connected_tenant_ids)
                for item in items]

    # After approval ----------------------------------------------------------------
    async def export(self, team_id: str, batch_id: str, tenant: TenantAuth, items: list[BatchItem],
                     settings: BatchSettings, *, generation: int, connected_tenant_ids: set[str],
                     by: str | None = None) -> list[ItemOutcome]:
        """Export the items into one organisation; one outcome per item, in order.

        Safe to run again after a crash or a `DayBudgetSpent`: what was created is found and linked."""
        outcomes: dict[int, ItemOutcome] = {}
        history = await self._history(team_id, items)
        pending: list[BatchItem] = []
        for item in items:
            live = _live_link(history.get(item.invoice.id, []), tenant.tenant_id)
            if live is not None:
                outcomes[item.invoice.id] = _already_linked(item, tenant.tenant_id, live)
            else:
                pending.append(item)
        if not pending:
            return [outcomes[item.invoice.id] for item in items]
        reference = await self.reference.get(team_id, tenant, tracking=settings.tracking is not None)
        if settings.tracking is not None:  # read now: an option archived since the approval is known before sending
            reference = await self.reference.refresh_tracking(team_id, tenant, reference)
        settings = await self._with_scope(tenant, settings)
        chunks = [_Chunk(n, pending[i:i + CHUNK_SIZE]) for n, i in enumerate(range(0, len(pending), CHUNK_SIZE))]
        for chunk in chunks:
            self._check_budget(tenant.tenant_id, items, outcomes)
            try:
                chunk_outcomes = await self._export_chunk(team_id, batch_id, tenant, chunk, reference, settings,
                                                          generation, history, connected_tenant_ids, by)
            except XeroRateLimited as exc:
                if exc.problem != "day":
                    raise
                raise self._day_spent(tenant.tenant_id, items, outcomes, exc.retry_after) from exc
            for outcome in chunk_outcomes:
                outcomes[outcome.forecast_invoice_id] = outcome
        return [outcomes[item.invoice.id] for item in items]

    def _check_budget(self, tenant_id: str, items: list[BatchItem], outcomes: dict[int, ItemOutcome]) -> None:
        if self.xero.calls_left_today(tenant_id) < CALLS_PER_CHUNK + self.day_reserve:
            raise self._day_spent(tenant_id, items, outcomes, None)

    def _day_spent(self, tenant_id: str, items: list[BatchItem], outcomes: dict[int, ItemOutcome],
                   retry_after: float | None) -> DayBudgetSpent:
        """What is done stays done (linked); the rest waits for Xero's day (Xero's Retry-After when it said)."""
        waiting = [item.invoice.id for item in items if item.invoice.id not in outcomes]
        delay = retry_after if retry_after is not None else self.xero.day_resets_in(tenant_id)
        log.warning("batch_export.day_budget", **fields(tenant=tenant_id, waiting=len(waiting), delay=round(delay)))
        return DayBudgetSpent(delay, tenant_id, [outcomes[i.invoice.id] for i in items if i.invoice.id in outcomes],
                              waiting)

    async def _export_chunk(self, team_id: str, batch_id: str, tenant: TenantAuth, chunk: _Chunk,
                            reference: OrgReference, settings: BatchSettings, generation: int,
                            history: dict[int, list[Link]], connected: set[str], by: str | None) -> list[ItemOutcome]:
        numbers = [item.invoice.invoice_reference for item in chunk.items]
        existing = await self.xero.find_invoices_by_numbers(tenant, numbers)
        outcomes: list[ItemOutcome] = []
        to_create: list[tuple[BatchItem, Preflight]] = []
        for item in chunk.items:
            check = self._check(item, tenant.tenant_id, reference, settings, existing, history, connected)
            if check.code == "already_in_xero" and check.existing is not None:
                outcomes.append(await self._link(team_id, tenant.tenant_id, item, check.existing, check,
                                                 Outcome.LINKED_EXISTING, by))
            elif check.exportable:
                to_create.append((item, check))
            else:
                outcomes.append(ItemOutcome(item.invoice.id, item.invoice.invoice_reference, tenant.tenant_id,
                                            Outcome.NOT_EXPORTABLE, expected_total=check.expected_total,
                                            preflight=check))
        if not to_create:
            return outcomes
        plans = [check.tracking for _, check in to_create if check.tracking is not None]
        if await tracking.create_missing(self.xero, team_id, tenant, plans):
            await self.reference.refresh_tracking(team_id, tenant, reference)
        contacts, contact_errors = await self._contacts(team_id, batch_id, tenant, [i for i, _ in to_create],
                                                        generation, by)
        ready: list[tuple[BatchItem, Preflight, XeroInvoice]] = []
        for item, check in to_create:
            contact_id = contacts.get(item.customer.id)
            if contact_id is None:
                outcomes.append(ItemOutcome(item.invoice.id, item.invoice.invoice_reference, tenant.tenant_id,
                                            Outcome.FAILED, expected_total=check.expected_total, preflight=check,
                                            messages=contact_errors.get(item.customer.id, NO_CONTACT)))
                continue
            ready.append((item, check, build_invoice(item.invoice, check, contact_id, settings.status)))
        if not ready:
            return outcomes
        numbers = [item.invoice.invoice_reference for item, _, _ in ready]
        key = batch_key(team_id, batch_id, tenant.tenant_id, generation, "inv", numbers)
        answers = await self.xero.create_invoice_batch(tenant, [invoice for _, _, invoice in ready],
                                                       idempotency_key=key)
        for position, (item, check, _) in enumerate(ready):
            answer = _answer_for(answers, position, item.invoice.invoice_reference)
            if answer is None or answer.has_errors or answer.validation_errors or not answer.invoice_id:
                messages = tuple(answer.validation_messages) if answer else ("Xero did not answer for this invoice",)
                outcomes.append(ItemOutcome(item.invoice.id, item.invoice.invoice_reference, tenant.tenant_id,
                                            Outcome.FAILED, expected_total=check.expected_total, preflight=check,
                                            messages=messages))
            else:
                outcomes.append(await self._link(team_id, tenant.tenant_id, item, answer, check, Outcome.CREATED, by))
        log.info("batch_export.chunk", **fields(team=team_id, batch=batch_id, tenant=tenant.tenant_id,
                                                chunk=chunk.index, sent=len(ready),
                                                created=sum(o.outcome == Outcome.CREATED for o in outcomes)))
        return outcomes

    # Steps -------------------------------------------------------------------------
    def _check(self, item: BatchItem, tenant_id: str, reference: OrgReference, settings: BatchSettings,
               existing: dict[str, XeroInvoice], history: dict[int, list[Link]], connected: set[str]) -> Preflight:
        plan = tracking.plan(settings.tracking, reference, client_name=item.customer.name,
                             project_name=item.project_name, may_create=settings.may_create_options)
        return preflight(item.invoice, tenant_id, reference, account_code=settings.account_code,
                         tax_type=settings.tax_type, existing=existing.get(item.invoice.invoice_reference),
                         links=history.get(item.invoice.id, []), connected_tenant_ids=connected,
                         allow_duplicate=item.allow_duplicate, tracking=plan)

    async def _with_scope(self, tenant: TenantAuth, settings: BatchSettings) -> BatchSettings:
        if settings.tracking is None:
            return settings
        return replace(settings, may_create_options=await self.xero.may_change_settings(tenant))

    async def _history(self, team_id: str, items: list[BatchItem]) -> dict[int, list[Link]]:
        by_invoice: dict[int, list[Link]] = {}
        for link in await self.links.history(team_id, "invoice", [item.invoice.id for item in items]):
            by_invoice.setdefault(int(link.forecast_id), []).append(link)
        return by_invoice

    async def _contacts(self, team_id: str, batch_id: str, tenant: TenantAuth, items: list[BatchItem],
                        generation: int, by: str | None) -> tuple[dict[int, str], dict[int, tuple[str, ...]]]:
        """Forecast client id -> Xero ContactID, for every client of these items: links, then one lookup of
        the missing names, then one create of those still missing. Also Xero's words for refused ones."""
        customers = {item.customer.id: item.customer for item in items}
        found: dict[int, str] = {}
        for link in await self.links.linked_many(team_id, "client", list(customers), tenant.tenant_id):
            if link.xero_id:
                found[int(link.forecast_id)] = link.xero_id
        missing = [c for cid, c in customers.items() if cid not in found]
        if missing:
            named = await self.xero.find_contacts_by_names(tenant, [c.name for c in missing])
            for customer in missing:
                match = same_name_contact(named, customer)
                if match is not None:
                    found[customer.id] = await link_client(self.links, team_id, tenant.tenant_id, customer, match, by)
        errors: dict[int, tuple[str, ...]] = {}
        to_create = [c for cid, c in customers.items() if cid not in found]
        if to_create:
            key = batch_key(team_id, batch_id, tenant.tenant_id, generation, "contacts", [c.name for c in to_create])
            created = await self.xero.create_contacts(tenant, [new_contact(c) for c in to_create], idempotency_key=key)
            for position, customer in enumerate(to_create):
                made = created[position] if position < len(created) else None
                if made is None or made.has_validation_errors or made.validation_errors or not made.contact_id:
                    errors[customer.id] = tuple(e.message for e in (made.validation_errors or [])) if made else ()
                else:
                    found[customer.id] = await link_client(self.links, team_id, tenant.tenant_id, customer, made, by)
        return found, errors

    async def _link(self, team_id: str, tenant_id: str, item: BatchItem, invoice: XeroInvoice, check: Preflight,
                    outcome: Outcome, by: str | None) -> ItemOutcome:
        total = Decimal(str(invoice.total)) if invoice.total is not None else None
        await self.links.link(team_id, "invoice", item.invoice.id, tenant_id, xero_id=invoice.invoice_id,
                              xero_number=invoice.invoice_number, linked_by=by,
                              details={"status": invoice.status, "reference": item.invoice.invoice_reference,
                                       "total": str(total) if total is not None else None,
                                       "duplicate_allowed": check.duplicate_allowed})
        return ItemOutcome(item.invoice.id, item.invoice.invoice_reference, tenant_id, outcome,
                           expected_total=check.expected_total, xero_total=total, xero_invoice_id=invoice.invoice_id,
                           xero_number=invoice.invoice_number, xero_status=invoice.status, preflight=check)


def build_invoice(invoice: ForecastInvoice, check: Preflight, contact_id: str, status: ExportStatus) -> XeroInvoice:
    """The Xero invoice exactly as pre-flight planned it: every line with its TaxType and account."""
    tracked = check.tracking.on_line() if check.tracking else None
    lines = [XeroLineItem(description=line.description, quantity=line.quantity, unit_amount=line.unit_amount,
                          discount_rate=line.discount_rate, account_code=check.account_code, tax_type=line.tax_type,
                          tracking=tracked)
             for line in check.lines]
    return XeroInvoice(
        type="ACCREC", contact=XeroContact(contact_id=contact_id), invoice_number=invoice.invoice_reference,
        reference=invoice.name or invoice.invoice_reference, date=invoice.created_date,
        due_date=invoice.due_date or invoice.created_date, currency_code=check.currency,
        line_amount_types="Exclusive", status=status, line_items=lines,
    )


async def link_client(links: LinkStore, team_id: str, tenant_id: str, customer: ForecastCustomer,
                      contact: XeroContact, by: str | None) -> str:
    """The Xero contact is the client's in this organisation from now on (found by name or just created)."""
    contact_id = contact.contact_id or ""
    await links.link(team_id, "client", customer.id, tenant_id, xero_id=contact_id, linked_by=by,
                     details={"name": customer.name})
    return contact_id


def same_name_contact(contacts: list[XeroContact], customer: ForecastCustomer) -> XeroContact | None:
    """The Xero contact that is this client by name (exact, any case), an active one first."""
    wanted = customer.name.strip().casefold()
    matches = [c for c in contacts if (c.name or "").strip().casefold() == wanted and c.contact_id]
    return next((c for c in matches if c.contact_status in (None, "ACTIVE")), matches[0] if matches else None)


def new_contact(customer: ForecastCustomer) -> XeroContact:
    address = XeroAddress(address_type="STREET", address_line1=customer.street or None, city=customer.city or None,
                          postal_code=customer.zip or None, country=customer.country or None)
    has_address = any((customer.street, customer.city, customer.zip, customer.country))
    return XeroContact(name=customer.name.strip(), tax_number=customer.vat_number or None,
                       addresses=[address] if has_address else None)


def _answer_for(answers: list[XeroInvoice], position: int, number: str) -> XeroInvoice | None:
    """Xero answers in the order sent; the number is checked too, and searched when it does not match."""
    if position < len(answers) and answers[position].invoice_number in (None, number):
        return answers[position]
    return next((a for a in answers if a.invoice_number == number), None)


def _live_link(links: list[Link], tenant_id: str) -> Link | None:
    return next((link for link in links if link.status == LINKED and link.xero_id), None)


def _already_linked(item: BatchItem, tenant_id: str, link: Link) -> ItemOutcome:
    total = (link.details or {}).get("total")
    return ItemOutcome(item.invoice.id, item.invoice.invoice_reference, link.tenant_id, Outcome.ALREADY_LINKED,
                       expected_total=Decimal(str(item.invoice.total)).quantize(CENT),
                       xero_total=Decimal(total) if total else None, xero_invoice_id=link.xero_id,
                       xero_number=link.xero_number, xero_status=(link.details or {}).get("status"))
