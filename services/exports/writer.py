"""One export attempt: a Forecast invoice (as approved) into one Xero organisation, at most once.

Order of the steps, each chosen so that a repeat after any failure or crash is safe:
1. an invoice link for this Forecast invoice already exists -> done, nothing created;
2. an invoice with this InvoiceNumber exists in the organisation -> link it, nothing created
   (this covers a crash between Xero's answer and our link write, and a reconnect);
3. the pre-flight check, the batch's own (services/exports/preflight.py) with the organisation's reference data
   cached by services/xero/reference.py (read at request time, so usually no call here): currency,
   account, each line's tax % mapped to a TaxType, totals to the cent; nothing is created if it fails;
4. the contact: the client's link, else an exact name match, else created (and linked at once);
5. the invoice as pre-flight planned it (services/batch_export.build_invoice), created with an
   Idempotency-Key derived from (tenant, Forecast invoice, generation).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from services.connections.service import ConnectionsService, Tenant, TenantNotFound
from services.exports import tracking
from services.exports.batch_writer import build_invoice
from services.exports.preflight import Preflight, preflight
from services.exports.store import ExportRequest
from services.platform.crash_points import crash_point
from services.platform.logfmt import fields
from services.shared.links import LinkStore
from services.shared.settings import WorkspaceSettings
from services.xero.client import MAX_IDEMPOTENCY_KEY_LENGTH, TenantAuth, XeroClient
from services.xero.errors import (
    XeroAuthError,
    XeroError,
    XeroNotFound,
    XeroRateLimited,
    XeroValidationError,
)
from services.xero.models import XeroAddress, XeroContact, XeroInvoice
from services.xero.reference import OrgReferenceStore

log = logging.getLogger(__name__)

# Refusals Xero gives before doing anything: after one of these the create certainly made nothing.
DEFINITE_REFUSALS = (XeroValidationError, XeroAuthError, XeroNotFound)


@dataclass(frozen=True)
class ExportDone:
    invoice_id: str
    invoice_number: str | None
    status: str | None
    url: str
    outcome: str  # created | found_in_xero | already_linked


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
                return await self._link_invoice(job, tenant, existing.invoice_id, existing, by, outcome="found_in_xero")
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
        return await self._link_invoice(job, tenant, created.invoice_id, created, by, outcome="created")

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
                                  self.xero.invoice_url(link.xero_id), outcome="already_linked")
        return None

    async def _link_invoice(self, job: ExportRequest, tenant: Tenant, invoice_id: str, invoice: XeroInvoice,
                            by: str | None, *, outcome: str) -> ExportDone:
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
        wanted = customer.name.strip().casefold()
        matches = [c for c in await self.xero.find_contacts_by_name(auth, customer.name)
                   if (c.name or "").strip().casefold() == wanted and c.contact_id]
        if matches:
            contact = next((c for c in matches if c.contact_status in (None, "ACTIVE")), matches[0])
        else:
            key = contact_idempotency_key(job.team_id, tenant.tenant_id, customer.id, generation)
            contact = await self.xero.create_contact(auth, new_contact(job), idempotency_key=key)
        if not contact.contact_id:
            raise XeroError(code="no_created_contact")
        await self.links.link(job.team_id, "client", customer.id, tenant.tenant_id, xero_id=contact.contact_id,
                              linked_by=by, details={"name": customer.name})
        return contact.contact_id


def new_contact(job: ExportRequest) -> XeroContact:
    customer = job.customer
    address = XeroAddress(address_type="STREET", address_line1=customer.street or None, city=customer.city or None,
                          postal_code=customer.zip or None, country=customer.country or None)
    has_address = any((customer.street, customer.city, customer.zip, customer.country))
    return XeroContact(name=customer.name.strip(), tax_number=(customer.vat_number or None),
                       addresses=[address] if has_address else None)


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
