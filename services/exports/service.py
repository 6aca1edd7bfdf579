"""Exporting Forecast invoices to Xero with an approval step: request, approve, reject, retry.

Knows nothing of Slack. Every state change is saved first; what people must be told follows from the
saved state through the `slack.redraw_export` job (the outbox, in bot/outbox/exports.py). The export itself
runs in an `export.run` job (services/platform/jobs.py), never inside a click's request, so a process that dies
mid-export leaves a job that any process takes over when its lease expires.
The job's states and history live in `services.exports.store`; one attempt at Xero in `services.exports.writer`.
One invoice is a batch of one: it is pre-flight checked with the batch's own code (`BatchExporter.preflight`)
before anyone approves, and Approve is refused while the check says it would not go into Xero as it is.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from services.connections.service import ConnectionsService, Tenant
from services.exports import rules, tracking
from services.exports.preflight import EXPORTABLE
from services.exports.states import APPROVED, EXPORTED, EXPORTING, FAILED, PENDING, REJECTED
from services.exports.store import Approval, ExportRequest, ExportStore, PostedMessage, TenantChoice
from services.exports.writer import BatchExporter, BatchItem, BatchSettings, ExportFailure, XeroInvoiceExporter
from services.forecast import (
    ForecastApi,
    ForecastAuthError,
    ForecastError,
    ForecastNotFound,
)
from services.platform.crash_points import crash_point
from services.platform.jobs import Job, JobQueue, JobRunner
from services.platform.logfmt import fields
from services.platform.storage import Storage
from services.shared.links import Link, LinkStore
from services.shared.permissions import Permissions
from services.shared.settings import WorkspaceSettings, WorkspaceSettingsService
from services.xero.client import TenantAuth, XeroClient
from services.xero.errors import XeroError
from services.xero.reference import OrgReferenceStore
from services.xero.tokens import utcnow

log = logging.getLogger(__name__)

MAX_REJECT_REASON = 500


# ----------------------------------------------------------------------------- results


# What every export request needs first: the settings, the Forecast key, the organisations.
Ready = tuple[WorkspaceSettings, str, list[Tenant]]


class ExportRefused(Exception):
    """The request cannot go ahead: `code` says why and `data` gives the particulars (bot/blocks/exports.py
    words them). A failure from Forecast comes as `data["error"]`."""

    def __init__(self, code: str, **data: Any):
        super().__init__(code)
        self.code = code
        self.data = data

    def __str__(self) -> str:
        return f"{self.code} {self.data}"


class ExportRequested(BaseModel):
    kind: Literal["requested"] = "requested"
    job: ExportRequest


class AlreadyExported(BaseModel):
    kind: Literal["already_exported"] = "already_exported"
    reference: str
    tenant_name: str
    invoice_number: str | None
    url: str


class AlreadyRequested(BaseModel):
    kind: Literal["already_requested"] = "already_requested"
    job: ExportRequest


RequestOutcome = ExportRequested | AlreadyExported | AlreadyRequested


class ApproverPolicy(BaseModel):
    users: list[str] = []
    usergroup: str | None = None

    @property
    def admins_only(self) -> bool:
        return not self.users and not self.usergroup


RefusalReason = Literal["not_found", "not_approver", "own_request", "choose_tenant", "unknown_tenant",
                        "tenant_removed", "already_handled", "not_retryable", "reopened_elsewhere",
                        "not_exportable", "not_admin", "already_approved_by_you", "needs_named"]


class Refused(BaseModel):
    """A click that changes nothing, and why (rendered for the clicker only)."""

    kind: Literal["refused"] = "refused"
    reason: RefusalReason
    job: ExportRequest | None = None
    approvers: ApproverPolicy | None = None
    needed: list[str] = []  # needs_named: the people a rule names, one of whom must approve


class Accepted(BaseModel):
    kind: Literal["accepted"] = "accepted"
    job: ExportRequest
    recorded: bool = False  # an approval was recorded; a rule asks for another before it is exported


ClickOutcome = Refused | Accepted


NOT_CHECKED = "not_checked"  # the pre-flight check's result when Xero could not be asked (as a batch's line)
UNCHECKED: dict[str, Any] = {"check": None, "check_data": {}, "check_tenant_id": None, "check_tenant_name": None}


def blocks_export(check: str | None) -> bool:
    """A pre-flight result that stops Approve: Xero would refuse it or make it differ (not_checked goes, and
    is checked when it is exported)."""
    return check is not None and check != NOT_CHECKED and check not in EXPORTABLE


EXPORT_RUN = "export.run"  # job kinds; the outbox kind is handled in bot/ (it renders and posts)
REDRAW_EXPORT = "slack.redraw_export"
REDRAW_MAX_ATTEMPTS = 20  # Slack may be away for a while; the sweep starts a new one after that anyway
FIRST_POST_GRACE_SECONDS = 5.0  # a new request's approval message is posted by its request, else by then
ANSWER_WITHIN_SECONDS = 2.0  # the requester's answer waits no longer for Slack to take the approval message


def redraw_key(job_id: str) -> str:
    """One open outbox job per export request: changes made while it waits are drawn by the same run."""
    return f"redraw:{job_id}"


def export_run_key(team_id: str, forecast_invoice_id: int) -> str:
    return f"export:{team_id}:{forecast_invoice_id}"


EXPORT_BATCH = "export.batch"  # the invoices of a batch in one organisation (services/exports/batches.py)


def batch_run_key(team_id: str, batch_id: str, tenant_id: str) -> str:
    return f"batch:{team_id}:{batch_id}:{tenant_id}"


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
        queue: JobQueue,
        runner: JobRunner | None = None,
        reference: OrgReferenceStore | None = None,
        routing_changed: Callable[[str, str, list[str]], Awaitable[object]] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.requests = ExportStore(storage, clock=clock)
        self.forecast = forecast
        self.xero = xero
        self.connections = connections
        self.links = links
        self.settings = workspace_settings
        self.permissions = permissions
        self.queue = queue
        self.runner = runner  # runs a new request's outbox job at once (`_post_approval_message`)
        self.clock = clock
        self.reference = reference or OrgReferenceStore(storage, xero)
        self.checker = BatchExporter(xero, links, self.reference)  # a single invoice is checked as a batch of one
        self.exporter = XeroInvoiceExporter(xero, connections, links, self.reference)
        # (team, batch, exports): redraw_pending routed a pending batch's invoices again. BatchExportService
        # listens (services/exports/batches.py imports this module, so this one only announces).
        self.routing_changed = routing_changed

    # Request -----------------------------------------------------------------------
    async def ready_to_request(self, team_id: str) -> Ready:
        """What any export request needs first: a Forecast key, an organisation, an approval channel.
        Raises ExportRefused naming the first that is missing."""
        # Read at once, not one after the other: /xero export waits on these before Slack gets its ack.
        settings, api_key, tenants = await asyncio.gather(
            self.settings.get(team_id), self.settings.forecast_api_key(team_id), self.connections.list_tenants(team_id))
        if not api_key:
            raise ExportRefused("no_api_key")
        if not tenants:
            raise ExportRefused("no_organisation")
        if not settings.approval_channel:
            raise ExportRefused("no_approval_channel")
        return settings, api_key, tenants

    async def request_export(self, team_id: str, user_id: str, channel_id: str | None,
                             reference: str, *, ready: Ready | None = None) -> RequestOutcome:
        """Read the invoice, decide where it goes and ask for approval. Raises ExportRefused.
        `ready`: what ready_to_request returned, when the caller already asked."""
        settings, api_key, tenants = ready or await self.ready_to_request(team_id)
        invoice, customer = await self._read_forecast(api_key, reference)

        existing = await self._live_invoice_link(team_id, invoice.id)
        if existing and existing.xero_id:
            tenant_name = next((t.name for t in tenants if t.tenant_id == existing.tenant_id), existing.tenant_id)
            return AlreadyExported(reference=invoice.invoice_reference, tenant_name=tenant_name,
                                   invoice_number=existing.xero_number, url=self.xero.invoice_url(existing.xero_id))
        open_job = await self.requests.open_job_for(team_id, invoice.id)
        if open_job:
            return AlreadyRequested(job=open_job)

        job = ExportRequest(
            job_id=uuid.uuid4().hex, team_id=team_id, reference=invoice.invoice_reference,
            forecast_invoice_id=invoice.id, invoice=invoice, customer=customer, requested_by=user_id,
            requested_in=channel_id, requested_at=self.clock(), updated_at=self.clock(),
            approval_channel=settings.approval_channel, notify_channel=settings.notify_channel,
            project_name=await tracking.project_name(self.forecast, api_key, invoice, settings),
            **await self._route(team_id, customer.id, tenants),
        )
        job.rules = list(rules.requirement(settings.approval_rules, job, job.tenant_id).rules)
        if await self.requests.create(job, by=user_id) is None:  # another request (maybe another process) won
            open_job = await self.requests.open_job_for(team_id, invoice.id)
            if open_job:
                return AlreadyRequested(job=open_job)
            raise ExportRefused("handled_elsewhere", reference=invoice.invoice_reference)
        if job.tenant_id:  # checked by the request that won only; else once an organisation is picked
            job = await self.requests.save_check(job, await self._check(job, job.tenant_id, tenants))
        log.info("export.requested", **fields(team=team_id, user=user_id, job=job.job_id, invoice=invoice.id,
                                              tenant=job.tenant_id))
        job = await self._post_approval_message(job)
        if job.withdrawn:
            raise ExportRefused("approval_channel_unavailable", error=job.withdrawn)
        return ExportRequested(job=job)

    async def _post_approval_message(self, job: ExportRequest) -> ExportRequest:
        """Its outbox job runs here and now, so a channel the bot cannot post in is answered right away. The
        job is due only a little later: should this process die first, any process posts it then. If Slack
        is away, the answer goes out anyway; the outbox keeps trying and tells the requester."""
        await self.redraw(job, delay=FIRST_POST_GRACE_SECONDS)
        if self.runner is None or not await self.runner.run_now(redraw_key(job.job_id), within=ANSWER_WITHIN_SECONDS):
            return job
        return await self.requests.current(job)

    async def approval_channel_refused(self, job: ExportRequest, error: str) -> bool:
        """The approval message cannot be posted (no such channel, not a member): the request is withdrawn,
        so the invoice can be asked for again once the channel is fixed. False when it moved on meanwhile
        (an approver decided it on the App Home: only a pending request is withdrawn)."""
        if job.state != PENDING:
            return False
        return await self.requests.transition(job, REJECTED, by=None, note=f"approval channel unavailable: {error}",
                                          finished_at=self.clock(), withdrawn=error) is not None

    async def _read_forecast(self, api_key: str, reference: str):
        try:
            invoice = await self.forecast.find_invoice(api_key, reference)
        except ForecastNotFound as exc:
            raise ExportRefused("no_such_invoice", error=exc) from None
        except ForecastAuthError as exc:
            raise ExportRefused("forecast_refused_key", error=exc) from None
        except ForecastError as exc:
            raise ExportRefused("invoice_unreadable", error=exc) from None
        ref = invoice.invoice_reference
        if not invoice.entries:
            raise ExportRefused("no_lines", reference=ref)
        if invoice.client_id is None:
            raise ExportRefused("no_client", reference=ref)
        try:
            customer = await self.forecast.get_customer(api_key, invoice.client_id)
        except ForecastError as exc:
            raise ExportRefused("client_unreadable", reference=ref, error=exc) from None
        return invoice, customer

    async def _route(self, team_id: str, client_id: int, tenants: list[Tenant], *, ask: bool = False) -> dict:
        """The client's organisation; the only one (unless `ask`: the request's organisation went, so the
        approver chooses even when one is left); or a choice the approver must make."""
        connected = {t.tenant_id: t for t in tenants}
        linked = [connected[link.tenant_id] for link in await self.links.linked(team_id, "client", client_id)
                  if link.tenant_id in connected]
        if len(linked) == 1:
            return {"tenant_id": linked[0].tenant_id, "tenant_name": linked[0].name}
        if not linked and len(tenants) == 1 and not ask:
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
            return await self.permissions.is_admin(team_id, user_id)
        if user_id in policy.users:
            return True
        if policy.usergroup:
            return user_id in await self.permissions.directory.usergroup_members(team_id, policy.usergroup)
        return False

    async def _check_clicker(self, team_id: str, job_id: str, user_id: str) -> ExportRequest | Refused:
        job = await self.requests.get(team_id, job_id)
        if job is None:
            return Refused(reason="not_found")
        if not await self.is_approver(team_id, user_id):
            return Refused(reason="not_approver", job=job, approvers=await self.approver_policy(team_id))
        return job

    async def clicked_on(self, team_id: str, job_id: str, channel: str | None, ts: str | None) -> None:
        """A click came from this message. A copy of the approval message that a crash left unrecorded
        (posted, then the process died before saving its ts) is recorded, so it is redrawn from now on."""
        job = await self.requests.get(team_id, job_id)
        if job is None or not channel or not ts or channel != job.approval_channel or ts == job.approval_ts:
            return
        if job.approval_ts is None or any(m.ts == ts for m in [*job.approval_copies, *job.notices]):
            return
        copies = [*job.approval_copies, PostedMessage(channel=channel, ts=ts, about="approval copy")]
        await self.requests.save_messages(job, approval_copies=copies)
        await self.redraw(job)

    # Approve -----------------------------------------------------------------------
    async def approve(self, team_id: str, job_id: str, user_id: str,
                      chosen_tenant_id: str | None = None) -> ClickOutcome:
        """pending -> approved, and the export job is enqueued (it runs approved -> exporting -> exported | failed)."""
        found = await self.requests.get(team_id, job_id)
        if found is None:
            return Refused(reason="not_found")
        job = found
        settings = await self.settings.get(team_id)
        approver = await self.is_approver(team_id, user_id)
        named = rules.requirement(settings.approval_rules, job, job.tenant_id or chosen_tenant_id).named
        if not approver and user_id not in named:
            return Refused(reason="not_approver", job=job, approvers=await self.approver_policy(team_id))
        if user_id == job.requested_by:
            return Refused(reason="own_request", job=job)
        if job.state != PENDING:
            return Refused(reason="already_handled", job=job)
        checked = await self._checked_at_target(job, chosen_tenant_id)
        if isinstance(checked, Refused):
            return checked
        target, job = checked
        if blocks_export(job.check):
            return Refused(reason="not_exportable", job=job)
        need = rules.requirement(settings.approval_rules, job, target.tenant_id)
        if not approver and user_id not in need.named:
            return Refused(reason="not_approver", job=job, approvers=await self.approver_policy(team_id))
        verdict = need.decide([a.user for a in job.approvals], user_id)
        if verdict == "already_approved":
            return Refused(reason="already_approved_by_you", job=job)
        if verdict == "needs_named":
            return Refused(reason="needs_named", job=job, needed=sorted({u for r in need.unmet(
                [a.user for a in job.approvals]) for u in r.approvers}))
        approvals = [*job.approvals, Approval(user=user_id, at=self.clock())]
        if verdict == "record":
            return await self._record_approval(job, user_id, approvals, need)
        approved = await self.requests.transition(job, APPROVED, by=user_id, approved_by=user_id,
                                              approved_at=self.clock(), tenant_id=target.tenant_id,
                                              tenant_name=target.name, approvals=approvals, rules=list(need.rules))
        if approved is None:  # someone else clicked first
            return Refused(reason="already_handled", job=await self.requests.get(team_id, job_id))
        log.info("export.approved", **fields(team=team_id, user=user_id, job=job_id, tenant=target.tenant_id))
        await self._start_export(approved)
        return Accepted(job=approved)

    async def _record_approval(self, job: ExportRequest, user_id: str, approvals: list[Approval],
                               need: rules.Requirement) -> ClickOutcome:
        """A first approval where a rule asks for two: saved on the request (compare-and-swap on its version, so
        of two clicks at once one records and the other reads it), which stays pending and is redrawn."""
        moved = await self.requests.transition(job, PENDING, by=user_id, note="approval recorded",
                                               approvals=approvals, rules=list(need.rules))
        if moved is None:
            latest = await self.requests.get(job.team_id, job.job_id)
            return Refused(reason="already_handled", job=latest)
        log.info("export.approval_recorded", **fields(team=job.team_id, user=user_id, job=job.job_id,
                                                      approvals=len(approvals)))
        await self.redraw(moved)
        return Accepted(job=moved, recorded=True)

    async def _target(self, job: ExportRequest, chosen_tenant_id: str | None) -> TenantChoice | Refused:
        if not job.tenant_id and not chosen_tenant_id:  # picked on the message earlier (and checked then)
            chosen_tenant_id = job.check_tenant_id
        if job.tenant_id and not chosen_tenant_id:
            choice = TenantChoice(tenant_id=job.tenant_id, name=job.tenant_name or job.tenant_id)
        elif not chosen_tenant_id:
            return Refused(reason="choose_tenant", job=job)
        else:
            choice = TenantChoice(tenant_id=chosen_tenant_id, name="")
        connected = {t.tenant_id for t in await self.connections.list_tenants(job.team_id)}
        if choice.tenant_id not in connected:  # removed since the request was made (a stale picker)
            return Refused(reason="tenant_removed", job=job)
        if chosen_tenant_id:
            allowed = job.tenant_choices or ([TenantChoice(tenant_id=job.tenant_id, name=job.tenant_name or "")]
                                             if job.tenant_id else [])
            allowed_choice = next((c for c in allowed if c.tenant_id == chosen_tenant_id), None)
            if allowed_choice is None:
                return Refused(reason="unknown_tenant", job=job)
            return allowed_choice
        return choice

    # Pre-flight ----------------------------------------------------------------------
    async def _check(self, job: ExportRequest, tenant_id: str, tenants: list[Tenant] | None = None, *,
                     refresh: bool = False) -> dict[str, Any]:
        """The batch's pre-flight check of this one invoice in this organisation, as the job's `check` fields
        (`not_checked` when Xero cannot be asked). `refresh`: read the organisation's reference data again."""
        connected = {t.tenant_id: t for t in tenants or await self.connections.list_tenants(job.team_id)}
        tenant = connected.get(tenant_id)
        result: dict[str, Any] = {"check": NOT_CHECKED, "check_data": {}, "check_tenant_id": tenant_id,
                                  "check_tenant_name": tenant.name if tenant else job.tenant_name}
        if tenant is None:
            return result
        settings = await self.settings.get(job.team_id)
        try:
            if refresh:
                await self.reference.forget(job.team_id, tenant_id)
            [check] = await self.checker.preflight(
                job.team_id, TenantAuth(tenant_id, tenant.token_set_id),
                [BatchItem(job.invoice, job.customer, allow_duplicate=job.allow_duplicate,
                           project_name=job.project_name)],
                BatchSettings.of(settings, tenant_id), set(connected))
        except XeroError as exc:  # the request stands; Approve checks again
            log.warning("export.preflight_failed", **fields(team=job.team_id, job=job.job_id, tenant=tenant_id,
                                                            error=str(exc)))
            return result
        return {**result, "check": check.code, "check_data": check.stored_data()}

    async def _checked_at_target(self, job: ExportRequest,
                                 chosen_tenant_id: str | None) -> tuple[TenantChoice, ExportRequest] | Refused:
        """The job checked again in the organisation it would go to (the one chosen, else its route)."""
        target = await self._target(job, chosen_tenant_id)
        if isinstance(target, Refused):
            return target
        checked = await self._checked_for(job, target)
        if checked is None:
            return Refused(reason="already_handled", job=await self.requests.get(job.team_id, job.job_id))
        return target, checked

    async def _checked_for(self, job: ExportRequest, target: TenantChoice) -> ExportRequest | None:
        """The job with a pre-flight result for `target`, checked now unless it was found exportable there
        already. A blocking result is checked again from fresh reference data (it may have been fixed in
        Xero since). A changed result is saved and redrawn; None when the job is no longer pending."""
        for _ in range(3):  # a pick and an Approve clicked together both check: the later one reads again
            if job.check_tenant_id == target.tenant_id and job.check in EXPORTABLE:
                return job
            again = job.check_tenant_id == target.tenant_id and blocks_export(job.check)
            checked = await self._check(job, target.tenant_id, refresh=again)
            if not checked["check_tenant_name"]:
                checked["check_tenant_name"] = target.name or None
            if all(getattr(job, name) == value for name, value in checked.items()):
                return job
            moved = await self.requests.transition(job, PENDING, by=None, note="checked", **checked)
            if moved is not None:
                await self.redraw(moved)
                return moved
            latest = await self.requests.get(job.team_id, job.job_id)
            if latest is None or latest.state != PENDING:
                return None
            job = latest
        return job

    async def pick_tenant(self, team_id: str, job_id: str, user_id: str, tenant_id: str) -> ClickOutcome:
        """An approver picked the organisation on the message: checked there now, and the message redrawn."""
        job = await self._check_clicker(team_id, job_id, user_id)
        if isinstance(job, Refused):
            return job
        if job.state != PENDING or job.tenant_id:
            return Refused(reason="already_handled", job=job)
        checked = await self._checked_at_target(job, tenant_id)
        return checked if isinstance(checked, Refused) else Accepted(job=checked[1])

    async def allow_duplicate(self, team_id: str, job_id: str, user_id: str) -> ClickOutcome:
        """An admin chose to export again an invoice exported before to an organisation since removed."""
        job = await self.requests.get(team_id, job_id)
        if job is None:
            return Refused(reason="not_found")
        if not await self.permissions.is_admin(team_id, user_id):
            return Refused(reason="not_admin", job=job)
        if job.state != PENDING:
            return Refused(reason="already_handled", job=job)
        tenant_id = job.tenant_id or job.check_tenant_id
        if not tenant_id:
            return Refused(reason="choose_tenant", job=job)
        allowed = job.model_copy(update={"allow_duplicate": True})
        moved = await self.requests.transition(job, PENDING, by=user_id, note="export again allowed",
                                               allow_duplicate=True, **await self._check(allowed, tenant_id))
        if moved is None:
            return Refused(reason="already_handled", job=await self.requests.get(team_id, job_id))
        log.info("export.duplicate_allowed", **fields(team=team_id, user=user_id, job=job_id))
        await self.redraw(moved)
        return Accepted(job=moved)

    # Reject ------------------------------------------------------------------------
    async def can_reject(self, team_id: str, job_id: str, user_id: str) -> ClickOutcome:
        """Checked before the reason modal opens, so nobody types a reason for nothing."""
        job = await self._check_clicker(team_id, job_id, user_id)
        if isinstance(job, Refused):
            return job
        if job.state != PENDING:
            return Refused(reason="already_handled", job=job)
        return Accepted(job=job)

    async def reject(self, team_id: str, job_id: str, user_id: str, reason: str | None) -> ClickOutcome:
        allowed = await self.can_reject(team_id, job_id, user_id)
        if isinstance(allowed, Refused):
            return allowed
        job = allowed.job
        reason = " ".join((reason or "").split())[:MAX_REJECT_REASON] or None
        rejected = await self.requests.transition(job, REJECTED, by=user_id, note=reason, rejected_by=user_id,
                                              rejected_at=self.clock(), reject_reason=reason,
                                              finished_at=self.clock())
        if rejected is None:
            return Refused(reason="already_handled", job=await self.requests.get(team_id, job_id))
        log.info("export.rejected", **fields(team=team_id, user=user_id, job=job_id))
        await self.redraw(rejected)
        return Accepted(job=rejected)

    # Retry -------------------------------------------------------------------------
    async def retry(self, team_id: str, job_id: str, user_id: str) -> ClickOutcome:
        """At once, on a failed job or one whose export job is gone (abandoned): idempotently again."""
        job = await self._check_clicker(team_id, job_id, user_id)
        if isinstance(job, Refused):
            return job
        if job.state in (APPROVED, EXPORTING):
            running = await self.queue.open_job(export_run_key(team_id, job.forecast_invoice_id))
            if running is not None:
                return Refused(reason="not_retryable", job=job)
            await self._start_export(job)  # abandoned: nothing is running it
            return Accepted(job=job)
        if job.state != FAILED:
            return Refused(reason="not_retryable", job=job)
        reopened = await self.requests.transition(job, APPROVED, by=user_id, note="retry", exporting_by=user_id,
                                              error_code=None, error_data={},
                                              error_details=[], error=None, error_hint=None)
        if reopened is None:
            latest = await self.requests.get(team_id, job_id)
            if latest is not None and latest.state == FAILED:  # a newer request of the invoice is open
                return Refused(reason="reopened_elsewhere", job=latest)
            return Refused(reason="already_handled", job=latest)
        log.info("export.retry", **fields(team=team_id, user=user_id, job=job_id))
        await self._start_export(reopened)
        return Accepted(job=reopened)

    # The export itself, in a job -------------------------------------------------------
    async def _start_export(self, job: ExportRequest) -> None:
        await self.queue.enqueue(EXPORT_RUN, {"team_id": job.team_id, "job_id": job.job_id},
                                 key=export_run_key(job.team_id, job.forecast_invoice_id))

    async def run_export_job(self, queued: Job) -> None:
        """The `export.run` handler: approved -> exporting -> exported | failed. Run again after a crash, it
        resumes: the attempt generation and the InvoiceNumber look-up find what the dead attempt did."""
        job = await self.requests.get(queued.payload["team_id"], queued.payload["job_id"])
        if job is None:
            return
        job, generation, fresh = await self.requests.begin_attempt(job)
        await self.redraw(job)
        if job.state != EXPORTING:  # already finished (a crash after the state was saved): just tell people
            return
        by = job.exporting_by or job.approved_by
        settings = await self.settings.get(job.team_id)
        crash_point("export_attempt")
        try:
            done = await self.exporter.export(job, settings, generation=generation, by=by)
        except ExportFailure as failure:
            await self._failed(job, generation, failure, created_nothing=failure.created_nothing(fresh))
            return
        # Anything else: the outcome at Xero is unknown; the job runner tries again (same generation and
        # key, so Xero answers with what it did) and, when attempts run out, on_export_gave_up says so.
        exported = await self.requests.finish(
            job, EXPORTED, generation=generation, created_nothing=False, note=done.outcome, by=by,
            outcome=done.outcome, xero_invoice_id=done.invoice_id, xero_invoice_number=done.invoice_number,
            xero_status=done.status, xero_url=done.url)
        log.info("export.done", **fields(team=job.team_id, job=job.job_id, outcome=done.outcome))
        await self.redraw(exported)
        await self.redraw_pending(job.team_id)  # the client is linked now: its other pending requests go there

    async def on_export_gave_up(self, queued: Job, error: str) -> None:
        """The job runner stopped trying (errors every time, or the process died during every attempt)."""
        job = await self.requests.get(queued.payload["team_id"], queued.payload["job_id"])
        if job is None or job.state not in (APPROVED, EXPORTING):
            return
        log.warning("export.gave_up", **fields(team=job.team_id, job=job.job_id, error=error))
        failure = ExportFailure("gave_up", create_sent=True)
        await self._failed(job, job.generation or 0, failure, created_nothing=False, record_attempt=False)

    async def _failed(self, job: ExportRequest, generation: int, failure: ExportFailure, *,
                      created_nothing: bool, record_attempt: bool = True) -> ExportRequest:
        failed = await self.requests.finish(
            job, FAILED, generation=generation, note=str(failure), by=job.exporting_by,
            created_nothing=created_nothing if record_attempt else None, error_code=failure.code,
            error_data=failure.data, error_details=failure.xero_details, failed_by=job.exporting_by,
            failures=job.failures + 1)
        log.warning("export.failed", **fields(team=job.team_id, job=job.job_id, error=str(failure),
                                              created_nothing=created_nothing))
        await self.redraw(failed)
        return failed

    # Telling people: the outbox ---------------------------------------------------------
    async def redraw(self, job: ExportRequest, *, delay: float = 0.0) -> None:
        """Slack will show the job's saved state: one outbox job per export job, so changes coalesce.
        Never raises: the state is saved, and the sweep enqueues it again if this enqueue is lost."""
        try:
            await self.queue.enqueue(REDRAW_EXPORT, {"team_id": job.team_id, "job_id": job.job_id},
                                     key=redraw_key(job.job_id), delay=delay, max_attempts=REDRAW_MAX_ATTEMPTS)
        except Exception:
            log.exception("export.sync_enqueue_failed", **fields(team=job.team_id, job=job.job_id))

    async def redraw_pending(self, team_id: str) -> None:
        """Routing changed (a client linked, an organisation removed or connected): each pending request
        is routed again, and its approval message redrawn when that changes where it goes or the choices."""
        tenants = await self.connections.list_tenants(team_id)
        if not tenants:
            return  # nowhere to route to: an approval is refused with the reason
        rerouted: dict[str, list[str]] = {}  # batch id -> its invoices routed again
        connected = {t.tenant_id for t in tenants}
        for job in await self.requests.in_states((PENDING,), team_id=team_id, limit=10_000):
            # Never moved silently to the one organisation left: a request whose organisation was removed, or
            # one already waiting for a choice, keeps asking the approver.
            ask = bool(job.tenant_id and job.tenant_id not in connected) or bool(job.tenant_choices
                                                                               and not job.tenant_id)
            route = {"tenant_id": None, "tenant_name": None, "tenant_choices": [],
                     **await self._route(team_id, job.customer.id, tenants, ask=ask)}
            chosen = job.tenant_id if job.tenant_choices else None  # an approver picked it (a batch's line)
            if route["tenant_id"] is None and any(c.tenant_id == chosen for c in route["tenant_choices"]):
                route.update(tenant_id=job.tenant_id, tenant_name=job.tenant_name)  # the choice stands
            current = {"tenant_id": job.tenant_id, "tenant_name": job.tenant_name,
                       "tenant_choices": job.tenant_choices}
            if route != current:
                check = {} if job.batch_id else UNCHECKED  # a batch's lines are its own (services/exports/batches.py)
                if not job.batch_id and route["tenant_id"]:
                    check = await self._check(job, route["tenant_id"], tenants)
                moved = await self.requests.transition(job, PENDING, by=None, note="routed again", **route, **check)
                await self.redraw(job)
                if moved is not None and job.batch_id:
                    rerouted.setdefault(job.batch_id, []).append(job.job_id)
        for batch_id, job_ids in rerouted.items():
            if self.routing_changed is None:
                continue
            try:
                await self.routing_changed(team_id, batch_id, job_ids)
            except Exception:  # the routes are saved; the lines keep their last check until Approve all
                log.exception("export.batch_recheck_failed", **fields(team=team_id, batch=batch_id))

    async def recheck_pending(self, team_id: str, tenant_ids: list[str]) -> None:
        """A setting that shapes the lines changed for these organisations (their tracking choice): each
        pending request going there is checked again and its approval message redrawn."""
        tenants = await self.connections.list_tenants(team_id)
        batches: dict[str, list[str]] = {}
        for job in await self.requests.in_states((PENDING,), team_id=team_id):
            tenant_id = job.tenant_id or job.check_tenant_id
            if tenant_id not in tenant_ids:
                continue
            if job.batch_id:
                batches.setdefault(job.batch_id, []).append(job.job_id)
                continue
            moved = await self.requests.transition(job, PENDING, by=None, note="settings changed",
                                                   **await self._check(job, tenant_id, tenants))
            await self.redraw(moved or job)
        for batch_id, job_ids in batches.items():
            if self.routing_changed is not None:
                await self.routing_changed(team_id, batch_id, job_ids)

    async def rules_changed(self, team_id: str) -> None:
        """The approval rules changed: each pending request's message shows the rules that now apply."""
        settings = await self.settings.get(team_id)
        batches: set[str] = set()
        for job in await self.requests.in_states((PENDING,), team_id=team_id):
            now = list(rules.requirement(settings.approval_rules, job, job.tenant_id or job.check_tenant_id).rules)
            if now == job.rules:
                continue
            moved = await self.requests.transition(job, PENDING, by=None, note="approval rules changed", rules=now)
            if moved is None:
                continue
            if job.batch_id:
                batches.add(job.batch_id)
            else:
                await self.redraw(moved)
        for batch_id in batches:
            if self.routing_changed is not None:
                await self.routing_changed(team_id, batch_id, [])

    async def sweep(self) -> None:
        """Heals what a crash between saving a state and enqueueing its job left behind (every process
        runs it every lease period): an approved or exporting job with nothing running it gets its
        export job; a job whose Slack messages lag behind its state gets its outbox job."""
        for job in await self.requests.in_states((APPROVED, EXPORTING)):
            if job.batch_id and job.tenant_id:  # its organisation's `export.batch` job runs it
                key = batch_run_key(job.team_id, job.batch_id, job.tenant_id)
                if await self.queue.open_job(key) is None:
                    await self.queue.enqueue(EXPORT_BATCH, {"team_id": job.team_id, "batch_id": job.batch_id,
                                                            "tenant_id": job.tenant_id}, key=key)
            elif await self.queue.open_job(export_run_key(job.team_id, job.forecast_invoice_id)) is None:
                await self._start_export(job)
        for job in await self.requests.needing_sync():
            if await self.queue.open_job(redraw_key(job.job_id)) is None:
                await self.redraw(job)

    # Reading -------------------------------------------------------------------------
    async def waiting_in(self, team_id: str, tenant_id: str) -> int:
        """How many requests wait for approval to go to this organisation (the remove confirmation counts them)."""
        return await self.requests.count_waiting_in(team_id, tenant_id)

    async def get_job(self, team_id: str, job_id: str) -> ExportRequest | None:
        return await self.requests.get(team_id, job_id)

