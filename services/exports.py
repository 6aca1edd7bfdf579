"""Exporting Forecast invoices to Xero with an approval step: request, approve, reject, retry.

Knows nothing of Slack: what people must be told goes through `ExportNotifier`, implemented in bot/.
The job's states and history live in `services.export_jobs`; one attempt at Xero in `services.export_xero`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel

from services.connections import ConnectionsService, Tenant
from services.export_jobs import (
    APPROVED,
    EXPORT_LEASE,
    EXPORTED,
    EXPORTING,
    FAILED,
    PENDING,
    REJECTED,
    ExportJob,
    JobStore,
    TenantChoice,
)
from services.export_xero import ExportFailure, XeroInvoiceExporter
from services.forecast import (
    ForecastApi,
    ForecastAuthError,
    ForecastError,
    ForecastNotFound,
)
from services.leases import Leases
from services.links import Link, LinkStore
from services.logfmt import fields
from services.permissions import Permissions
from services.storage import Storage
from services.workspace_settings import WorkspaceSettingsService
from services.xero.client import XeroClient
from services.xero.tokens import utcnow

log = logging.getLogger(__name__)

MAX_REJECT_REASON = 500


# ----------------------------------------------------------------------------- results


class ExportRefused(Exception):
    """The request cannot go ahead; `message` says why and `hint` what to do instead."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class ApprovalChannelUnavailable(Exception):
    """The notifier could not post the approval request (`error` is Slack's code)."""

    def __init__(self, channel: str, error: str):
        super().__init__(f"{channel}: {error}")
        self.channel = channel
        self.error = error


class ExportRequested(BaseModel):
    kind: Literal["requested"] = "requested"
    job: ExportJob


class AlreadyExported(BaseModel):
    kind: Literal["already_exported"] = "already_exported"
    reference: str
    tenant_name: str
    invoice_number: str | None
    url: str


class AlreadyRequested(BaseModel):
    kind: Literal["already_requested"] = "already_requested"
    job: ExportJob


RequestOutcome = ExportRequested | AlreadyExported | AlreadyRequested


class ApproverPolicy(BaseModel):
    users: list[str] = []
    usergroup: str | None = None

    @property
    def admins_only(self) -> bool:
        return not self.users and not self.usergroup


RefusalReason = Literal["not_found", "not_approver", "own_request", "choose_tenant", "unknown_tenant",
                        "already_handled", "not_retryable"]


class Refused(BaseModel):
    """A click that changes nothing, and why (rendered for the clicker only)."""

    kind: Literal["refused"] = "refused"
    reason: RefusalReason
    job: ExportJob | None = None
    approvers: ApproverPolicy | None = None


class Accepted(BaseModel):
    kind: Literal["accepted"] = "accepted"
    job: ExportJob


ClickOutcome = Refused | Accepted


class ExportNotifier(Protocol):
    """How the export tells people what happened (Slack in production, a recorder in unit tests)."""

    async def post_approval_request(self, job: ExportJob) -> tuple[str, str]:
        """Post the request with its buttons; returns (channel, ts). Raises ApprovalChannelUnavailable."""

    async def job_changed(self, job: ExportJob) -> None:
        """Show the job's new state on its approval message."""

    async def export_failed(self, job: ExportJob) -> None:
        """Say loudly what failed, with Xero's words and a Retry button."""

    async def export_done(self, job: ExportJob) -> None:
        """Tell the requester where the invoice is."""

    async def export_rejected(self, job: ExportJob) -> None:
        """Tell the requester who rejected the export, why, and how to ask again."""


# ----------------------------------------------------------------------------- the service


class ExportService:
    def __init__(
        self,
        storage: Storage,
        *,
        forecast: ForecastApi,
        xero: XeroClient,
        connections: ConnectionsService,
        links: LinkStore,
        workspace_settings: WorkspaceSettingsService,
        permissions: Permissions,
        notifier: ExportNotifier,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.jobs = JobStore(storage, clock=clock)
        self.forecast = forecast
        self.xero = xero
        self.connections = connections
        self.links = links
        self.settings = workspace_settings
        self.permissions = permissions
        self.notifier = notifier
        self.clock = clock
        self.exporter = XeroInvoiceExporter(xero, connections, links, Leases(storage.leases, clock=clock))

    # Request -----------------------------------------------------------------------
    async def request_export(self, team_id: str, user_id: str, channel_id: str | None,
                             reference: str) -> RequestOutcome:
        """Read the invoice, decide where it goes and ask for approval. Raises ExportRefused."""
        settings = await self.settings.get(team_id)
        api_key = await self.settings.forecast_api_key(team_id)
        if not api_key:
            raise ExportRefused("No Forecast API key is set, so I cannot read invoices.",
                                "An admin can add one with `/xero settings`.")
        tenants = await self.connections.list_tenants(team_id)
        if not tenants:
            raise ExportRefused("No Xero organisation is connected, so there is nowhere to export to.",
                                "An admin can connect one with `/xero connect`.")
        if not settings.approval_channel:
            raise ExportRefused("No approval channel is set, so nobody could approve this export.",
                                "An admin must choose an approval channel with `/xero settings`.")
        invoice, customer = await self._read_forecast(api_key, reference)

        existing = await self._live_invoice_link(team_id, invoice.id)
        if existing:
            tenant_name = next((t.name for t in tenants if t.tenant_id == existing.tenant_id), existing.tenant_id)
            return AlreadyExported(reference=invoice.invoice_reference, tenant_name=tenant_name,
                                   invoice_number=existing.xero_number, url=self.xero.invoice_url(existing.xero_id))
        open_job = await self.jobs.open_job_for(team_id, invoice.id)
        if open_job:
            return AlreadyRequested(job=open_job)

        job = ExportJob(
            job_id=uuid.uuid4().hex, team_id=team_id, reference=invoice.invoice_reference,
            forecast_invoice_id=invoice.id, invoice=invoice, customer=customer, requested_by=user_id,
            requested_in=channel_id, requested_at=self.clock(), updated_at=self.clock(),
            approval_channel=settings.approval_channel, notify_channel=settings.notify_channel,
            **await self._route(team_id, customer.id, tenants),
        )
        await self.jobs.create(job, by=user_id)
        try:
            channel, ts = await self.notifier.post_approval_request(job)
        except ApprovalChannelUnavailable as exc:
            await self.jobs.discard(job.job_id)
            raise ExportRefused(
                f"I could not post the approval request in the approval channel ({exc.error}).",
                "Invite me to that channel (`/invite @Ledgerline`), "
                "or an admin can choose another with `/xero settings`.",
            ) from None
        job = await self.jobs.set_message(job, channel, ts)
        log.info("export.requested", **fields(team=team_id, user=user_id, job=job.job_id, invoice=invoice.id,
                                              tenant=job.tenant_id))
        return ExportRequested(job=job)

    async def _read_forecast(self, api_key: str, reference: str):
        try:
            invoice = await self.forecast.find_invoice(api_key, reference)
        except ForecastNotFound as exc:
            raise ExportRefused(
                str(exc), "Type the reference as Forecast shows it, e.g. `/xero export INV-123`.") from None
        except ForecastAuthError as exc:
            raise ExportRefused(str(exc), "Nothing was exported.") from None
        except ForecastError as exc:
            raise ExportRefused(f"I could not read the invoice from Forecast: {exc}", "Nothing was exported.") from None
        ref = invoice.invoice_reference
        if not invoice.entries:
            raise ExportRefused(f"{ref} has no lines in Forecast, so there is nothing to export.",
                                "Add lines to the invoice in Forecast, then export it again.")
        if invoice.client_id is None:
            raise ExportRefused(f"{ref} has no client in Forecast, so I cannot tell who to bill.",
                                "Choose a client for the invoice in Forecast, then export it again.")
        try:
            customer = await self.forecast.get_customer(api_key, invoice.client_id)
        except ForecastError as exc:
            raise ExportRefused(f"I could not read the client of {ref} from Forecast: {exc}",
                                "Nothing was exported.") from None
        return invoice, customer

    async def _route(self, team_id: str, client_id: int, tenants: list[Tenant]) -> dict:
        """The client's organisation; the only one; or a choice the approver must make."""
        connected = {t.tenant_id: t for t in tenants}
        linked = [connected[link.tenant_id] for link in await self.links.linked(team_id, "client", client_id)
                  if link.tenant_id in connected]
        if len(linked) == 1:
            return {"tenant_id": linked[0].tenant_id, "tenant_name": linked[0].name}
        if not linked and len(tenants) == 1:
            return {"tenant_id": tenants[0].tenant_id, "tenant_name": tenants[0].name}
        candidates = linked or tenants
        return {"tenant_choices": [TenantChoice(tenant_id=t.tenant_id, name=t.name) for t in candidates]}

    async def _live_invoice_link(self, team_id: str, forecast_invoice_id: int) -> Link | None:
        return next((link for link in await self.links.linked(team_id, "invoice", forecast_invoice_id)
                     if link.xero_id), None)

    # Approvers ---------------------------------------------------------------------
    async def approver_policy(self, team_id: str) -> ApproverPolicy:
        settings = await self.settings.get(team_id)
        return ApproverPolicy(users=settings.approver_users, usergroup=settings.approver_usergroup)

    async def is_approver(self, team_id: str, user_id: str) -> bool:
        policy = await self.approver_policy(team_id)
        if policy.admins_only:
            return await self.permissions.is_admin(user_id)
        if user_id in policy.users:
            return True
        if policy.usergroup:
            return user_id in await self.permissions.directory.usergroup_members(policy.usergroup)
        return False

    async def _check_clicker(self, team_id: str, job_id: str, user_id: str) -> tuple[ExportJob | None, Refused | None]:
        job = await self.jobs.get(team_id, job_id)
        if job is None:
            return None, Refused(reason="not_found")
        if not await self.is_approver(team_id, user_id):
            return job, Refused(reason="not_approver", job=job, approvers=await self.approver_policy(team_id))
        return job, None

    # Approve -----------------------------------------------------------------------
    async def approve(self, team_id: str, job_id: str, user_id: str,
                      chosen_tenant_id: str | None = None) -> ClickOutcome:
        """pending -> approved -> exporting -> exported | failed; runs the export before returning."""
        job, refusal = await self._check_clicker(team_id, job_id, user_id)
        if refusal:
            return refusal
        if user_id == job.requested_by:
            return Refused(reason="own_request", job=job)
        if job.state != PENDING:
            return Refused(reason="already_handled", job=job)
        target = await self._target(job, chosen_tenant_id)
        if isinstance(target, Refused):
            return target
        approved = await self.jobs.transition(job, APPROVED, by=user_id, approved_by=user_id,
                                              approved_at=self.clock(), tenant_id=target.tenant_id,
                                              tenant_name=target.name)
        if approved is None:  # someone else clicked first
            return Refused(reason="already_handled", job=await self.jobs.get(team_id, job_id))
        log.info("export.approved", **fields(team=team_id, user=user_id, job=job_id, tenant=target.tenant_id))
        return Accepted(job=await self._run(approved, by=user_id))

    async def _target(self, job: ExportJob, chosen_tenant_id: str | None) -> TenantChoice | Refused:
        if job.tenant_id and not chosen_tenant_id:
            return TenantChoice(tenant_id=job.tenant_id, name=job.tenant_name or job.tenant_id)
        if not chosen_tenant_id:
            return Refused(reason="choose_tenant", job=job)
        allowed = job.tenant_choices or ([TenantChoice(tenant_id=job.tenant_id, name=job.tenant_name or "")]
                                         if job.tenant_id else [])
        choice = next((c for c in allowed if c.tenant_id == chosen_tenant_id), None)
        if choice is None:
            return Refused(reason="unknown_tenant", job=job)
        return choice

    # Reject ------------------------------------------------------------------------
    async def can_reject(self, team_id: str, job_id: str, user_id: str) -> ClickOutcome:
        """Checked before the reason modal opens, so nobody types a reason for nothing."""
        job, refusal = await self._check_clicker(team_id, job_id, user_id)
        if refusal:
            return refusal
        if job.state != PENDING:
            return Refused(reason="already_handled", job=job)
        return Accepted(job=job)

    async def reject(self, team_id: str, job_id: str, user_id: str, reason: str | None) -> ClickOutcome:
        job, refusal = await self._check_clicker(team_id, job_id, user_id)
        if refusal:
            return refusal
        if job.state != PENDING:
            return Refused(reason="already_handled", job=job)
        reason = " ".join((reason or "").split())[:MAX_REJECT_REASON] or None
        rejected = await self.jobs.transition(job, REJECTED, by=user_id, note=reason, rejected_by=user_id,
                                              rejected_at=self.clock(), reject_reason=reason,
                                              finished_at=self.clock())
        if rejected is None:
            return Refused(reason="already_handled", job=await self.jobs.get(team_id, job_id))
        log.info("export.rejected", **fields(team=team_id, user=user_id, job=job_id))
        await self._tell("job_changed", rejected)
        await self._tell("export_rejected", rejected)
        return Accepted(job=rejected)

    # Retry -------------------------------------------------------------------------
    async def retry(self, team_id: str, job_id: str, user_id: str) -> ClickOutcome:
        """A failed job (or one whose attempt died with its process) runs again, idempotently."""
        job, refusal = await self._check_clicker(team_id, job_id, user_id)
        if refusal:
            return refusal
        stale = job.state == EXPORTING and job.exporting_until is not None and job.exporting_until < self.clock()
        if job.state != FAILED and not stale:
            return Refused(reason="not_retryable", job=job)
        log.info("export.retry", **fields(team=team_id, user=user_id, job=job_id, state=job.state))
        return Accepted(job=await self._run(job, by=user_id, note="retry"))

    # The export itself ---------------------------------------------------------------
    async def _run(self, job: ExportJob, *, by: str, note: str | None = None) -> ExportJob:
        exporting = await self.jobs.transition(
            job, EXPORTING, by=by, note=note, exporting_by=by, exporting_until=self.clock() + EXPORT_LEASE,
            attempts=job.attempts + 1, error=None, error_details=[], error_hint=None,
        )
        if exporting is None:  # another click took it
            return await self.jobs.get(job.team_id, job.job_id)
        await self._tell("job_changed", exporting)
        generation, fresh = await self.jobs.start_attempt(exporting)
        settings = await self.settings.get(job.team_id)
        try:
            done = await self.exporter.export(exporting, settings, generation=generation, by=by)
        except ExportFailure as failure:
            return await self._failed(exporting, generation, failure, created_nothing=failure.created_nothing(fresh))
        except Exception:  # the outcome at Xero is unknown: keep the generation (and the key)
            log.exception("export.crashed", **fields(team=job.team_id, job=job.job_id))
            failure = ExportFailure("Something went wrong on our side while exporting", create_sent=True,
                                    hint="Click Retry: it checks Xero first, so no duplicate can be created.")
            return await self._failed(exporting, generation, failure, created_nothing=False)
        await self.jobs.finish_attempt(exporting, generation=generation, created_nothing=False, note=done.outcome)
        exported = await self.jobs.transition(
            exporting, EXPORTED, by=by, note=done.outcome, generation=generation, outcome=done.outcome,
            xero_invoice_id=done.invoice_id, xero_invoice_number=done.invoice_number, xero_status=done.status,
            xero_url=done.url, finished_at=self.clock(), exporting_until=None,
        )
        exported = exported or await self.jobs.get(job.team_id, job.job_id)
        log.info("export.done", **fields(team=job.team_id, job=job.job_id, outcome=done.outcome))
        await self._tell("job_changed", exported)
        await self._tell("export_done", exported)
        return exported

    async def _failed(self, job: ExportJob, generation: int, failure: ExportFailure, *,
                      created_nothing: bool) -> ExportJob:
        await self.jobs.finish_attempt(job, generation=generation, created_nothing=created_nothing,
                                       note=failure.message)
        failed = await self.jobs.transition(
            job, FAILED, by=job.exporting_by, note=failure.message, generation=generation, error=failure.message,
            error_details=failure.details, error_hint=failure.hint, failed_by=job.exporting_by,
            finished_at=self.clock(), exporting_until=None,
        )
        failed = failed or await self.jobs.get(job.team_id, job.job_id)
        log.warning("export.failed", **fields(team=job.team_id, job=job.job_id, error=failure.message,
                                              created_nothing=created_nothing))
        await self._tell("job_changed", failed)
        await self._tell("export_failed", failed)
        return failed

    async def _tell(self, what: str, job: ExportJob) -> None:
        """Telling people must never break the job: its state is already saved."""
        try:
            await getattr(self.notifier, what)(job)
        except Exception:
            log.exception("export.notify_failed", **fields(team=job.team_id, job=job.job_id, what=what))
