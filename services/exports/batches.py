"""Month-end in one go: several invoices requested together, approved with one message, exported per organisation.

Each invoice of a batch is an ordinary `ExportRequest` (services/exports/store.py) carrying the batch's id, so one
open request per invoice, its states and its history stay as they are. `export_batches` (owned by
`BatchStore`) holds the batch: who asked, its jobs, each line's pre-flight result, the approval message and
whether it waits for Xero's day budget. What Slack shows follows from the saved state through the
`slack.redraw_batch` outbox job (bot/outbox/batches.py). Approving enqueues one `export.batch` job per
organisation, which runs `BatchExporter.export` and records each invoice's outcome on its ExportRequest; run
again after a crash, it creates nothing twice (Xero's InvoiceNumbers look-up and stable Idempotency-Keys).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.exports import rules, tracking
from services.exports.batch_view import BatchView, batch_view
from services.exports.preflight import Preflight
from services.exports.refs import ExportRequestArgs
from services.exports.selection import Refusal, Selected, Selection, select_references, select_unexported
from services.exports.service import (
    EXPORT_BATCH,
    MAX_REJECT_REASON,
    ExportRefused,
    ExportService,
    Ready,
    batch_run_key,
)
from services.exports.states import (
    APPROVED,
    EXPORTED,
    EXPORTING,
    FAILED,
    IN_XERO,
    PENDING,
    REJECTED,
    BatchDecision,
    Outcome,
    check_batch_move,
)
from services.exports.store import AUTO_REQUESTER, Approval, ExportRequest
from services.exports.writer import BatchExporter, BatchItem, BatchSettings, DayBudgetSpent, ItemOutcome
from services.forecast import ForecastError
from services.platform.hooks import Hook
from services.platform.jobs import Job, RetryLater
from services.platform.logfmt import fields
from services.platform.storage import Storage
from services.xero.client import TenantAuth
from services.xero.errors import XeroError
from services.xero.reference import OrgReferenceStore

log = logging.getLogger(__name__)

REDRAW_BATCH = "slack.redraw_batch"
READY_CODES = ("ready", "already_in_xero")
NO_ORGANISATION = "choose_organisation"  # the line's check when the client's organisation is not known
NOT_CHECKED = "not_checked"  # Xero could not be asked when the batch was requested
GENERATION = 1  # one generation per batch: a rerun of the same chunk replays Xero's answer

@dataclass
class Batch:
    batch_id: str
    team_id: str
    requested_by: str
    job_ids: list[str]
    lines: dict[str, dict[str, Any]]  # job id -> {check, check_data, currency, total}
    export_status: str = "DRAFT"
    approval_channel: str | None = None
    approval_ts: str | None = None
    decision: BatchDecision = BatchDecision.PENDING
    decided_by: str | None = None
    waiting_until: datetime | None = None  # when Xero's day budget comes back
    requester_dm: dict[str, str] | None = None
    reject_reason: str | None = None
    posting: dict[str, datetime] = field(default_factory=dict)  # "approval" / "dm" -> its last post attempt
    origins: dict[str, dict[str, str]] = field(default_factory=dict)  # asked by Forecast: reference -> status, by

    @classmethod
    def from_doc(cls, doc: dict) -> Batch:
        return cls(batch_id=doc["_id"], team_id=doc["team_id"], requested_by=doc["requested_by"],
                   job_ids=list(doc.get("job_ids") or []), lines=dict(doc.get("lines") or {}),
                   export_status=doc.get("export_status") or "DRAFT", approval_channel=doc.get("approval_channel"),
                   approval_ts=doc.get("approval_ts"),
                   decision=BatchDecision(doc.get("decision") or BatchDecision.PENDING),
                   decided_by=doc.get("decided_by"), waiting_until=doc.get("waiting_until"),
                   requester_dm=doc.get("requester_dm"), reject_reason=doc.get("reject_reason"),
                   posting=dict(doc.get("posting") or {}), origins=dict(doc.get("origins") or {}))


class BatchStore:
    """Owns `export_batches`."""

    def __init__(self, storage: Storage):
        self.batches = storage.export_batches

    async def create(self, batch: Batch) -> None:
        await self.batches.insert_one({
            "_id": batch.batch_id, "team_id": batch.team_id, "requested_by": batch.requested_by,
            "job_ids": batch.job_ids, "lines": batch.lines, "export_status": batch.export_status,
            "approval_channel": batch.approval_channel, "decision": batch.decision, "origins": batch.origins})

    async def get(self, team_id: str, batch_id: str) -> Batch | None:
        doc = await self.batches.find_one({"_id": batch_id, "team_id": team_id})
        return Batch.from_doc(doc) if doc else None

    async def decide(self, batch: Batch, decision: BatchDecision, by: str, **values: Any) -> bool:
        """pending -> approved | rejected, once (of two clicks together one wins)."""
        check_batch_move(BatchDecision.PENDING, decision)
        won = await self.batches.find_one_and_update({"_id": batch.batch_id, "decision": BatchDecision.PENDING},
                                                     {"$set": {"decision": decision, "decided_by": by, **values}})
        return won is not None

    async def set_lines(self, batch_id: str, lines: dict[str, dict[str, Any]]) -> None:
        """Some lines' pre-flight results, each on its own path: two choices at once lose neither."""
        if lines:
            await self.batches.update_one({"_id": batch_id},
                                          {"$set": {f"lines.{job_id}": line for job_id, line in lines.items()}})

    async def set(self, batch: Batch, **values: Any) -> None:
        await self.batches.update_one({"_id": batch.batch_id}, {"$set": values})

    async def mark_posting(self, batch: Batch, key: str) -> None:
        """Saved before the batch's approval message or DM is posted: a run after a crash looks for it first."""
        batch.posting = {**batch.posting, key: datetime.now(UTC)}
        await self.batches.update_one({"_id": batch.batch_id}, {"$set": {"posting": batch.posting}})


@dataclass
class BatchRequested:
    batch: Batch | None
    jobs: list[ExportRequest]
    refused: list[Refusal] = field(default_factory=list)
    requested: int = 0
    view: BatchView | None = None  # the batch as its approval message shows it


class BatchExportService:
    def __init__(self, storage: Storage, exports: ExportService, reference: OrgReferenceStore, *,
                 routing_changed: Hook[[str, str, list[str]]] | None = None):
        self.store = BatchStore(storage)
        self.exports = exports
        self.exporter = BatchExporter(exports.xero, exports.links, reference)
        if routing_changed is not None:  # ExportService announces it
            routing_changed.listen(self.recheck_routed)

    # Request -----------------------------------------------------------------------
    async def request(self, team_id: str, user_id: str, channel_id: str | None,
                      asked: ExportRequestArgs, *, ready: Ready | None = None,
                      origins: dict[str, dict[str, str]] | None = None) -> BatchRequested:
        """Several references (or every unexported invoice) for approval as one batch. Raises ExportRefused.
        `ready`: what ready_to_request returned, when the caller already asked; `origins`: why the bot asked by
        itself (services/exports/auto_requests.py), per reference."""
        exports = self.exports
        settings, api_key, tenants = ready or await exports.ready_to_request(team_id)
        try:
            selection = await self._select(api_key, team_id, asked)
        except ForecastError as exc:
            raise ExportRefused("invoices_unreadable", error=exc) from None
        names = {t.tenant_id: t.name for t in tenants}
        refused = [_named(r, names) for r in selection.refused]
        batch = Batch(batch_id=uuid.uuid4().hex, team_id=team_id, requested_by=user_id, job_ids=[], lines={},
                      export_status=settings.export_status, approval_channel=settings.approval_channel,
                      origins=origins or {})
        if selection.selected:  # first, so a crash while its jobs are made leaves them findable (sweep)
            await self.store.create(batch)
        batch_id = batch.batch_id
        jobs: list[ExportRequest] = []
        routes: dict[int, dict] = {}  # client id -> where its invoices go: one look-up per client, not per invoice
        projects: dict[int, str | None] = {}  # project id -> its name (for tracking), read once per project
        for chosen in selection.selected:
            client_id = chosen.customer.id
            if client_id not in routes:
                routes[client_id] = await self.exports._route(team_id, client_id, tenants)
            project = await tracking.project_name(self.exports.forecast, api_key, chosen.invoice, settings, projects)
            job = await self._create_job(team_id, user_id, channel_id, batch_id, chosen, settings,
                                         {**routes[client_id], "project_name": project})
            if job is None:
                refused.append(Refusal(chosen.invoice.invoice_reference, "already_requested"))
            else:
                jobs.append(job)
        requested = len(selection.selected) + len(selection.refused)
        if not jobs:
            if selection.selected:
                await self.store.batches.delete_one({"_id": batch_id})
            return BatchRequested(None, [], refused, requested)
        batch.job_ids = [j.job_id for j in jobs]
        await self.store.set(batch, job_ids=batch.job_ids)
        batch.lines = await self._preflight(team_id, jobs, settings, tenants)
        await self.store.set(batch, lines=batch.lines)
        await self.redraw(batch)
        log.info("export.batch_requested", **fields(team=team_id, user=user_id, batch=batch_id, invoices=len(jobs)))
        return BatchRequested(batch, jobs, refused, requested, batch_view(batch, jobs, datetime.now(UTC)))

    async def _select(self, api_key: str, team_id: str, asked: ExportRequestArgs) -> Selection:
        forecast, links = self.exports.forecast, self.exports.links
        if asked.unexported:
            return await select_unexported(forecast, api_key, links, team_id, asked.client_name)
        return await select_references(forecast, api_key, links, team_id, list(asked.references))

    async def _create_job(self, team_id: str, user_id: str, channel_id: str | None, batch_id: str,
                          chosen: Selected, settings, route: dict) -> ExportRequest | None:
        exports = self.exports
        now = exports.clock()
        job = ExportRequest(
            job_id=uuid.uuid4().hex, team_id=team_id, reference=chosen.invoice.invoice_reference,
            forecast_invoice_id=chosen.invoice.id, invoice=chosen.invoice, customer=chosen.customer,
            requested_by=user_id, requested_in=channel_id, requested_at=now, updated_at=now,
            approval_channel=settings.approval_channel, notify_channel=settings.notify_channel, batch_id=batch_id,
            **route,
        )
        job.rules = list(rules.requirement(settings.approval_rules, job, job.tenant_id).rules)
        return await exports.requests.create(job, by=user_id)

    async def _preflight(self, team_id: str, jobs: list[ExportRequest], settings, tenants) -> dict[str, dict]:
        """Each line's pre-flight result, per organisation in one pass (one number look-up per 50)."""
        connected = {t.tenant_id: t for t in tenants}
        lines: dict[str, dict] = {}
        for tenant_id in dict.fromkeys(j.tenant_id for j in jobs if j.tenant_id):
            mine = [j for j in jobs if j.tenant_id == tenant_id]
            tenant = connected.get(tenant_id)
            if tenant is None:  # removed meanwhile: Approve all reports it (or redraw_pending routes it again)
                lines.update({job.job_id: _unchecked(job) for job in mine})
                continue
            try:
                checks = await self.exporter.preflight(
                    team_id, TenantAuth(tenant_id, tenant.token_set_id), [_item(j) for j in mine],
                    BatchSettings.of(settings, tenant_id), set(connected))
            except XeroError as exc:  # the request stands; Approve all checks again when it exports
                log.warning("export.batch_preflight_failed", **fields(team=team_id, tenant=tenant_id, error=str(exc)))
                lines.update({job.job_id: _unchecked(job) for job in mine})
                continue
            for job, check in zip(mine, checks, strict=True):
                lines[job.job_id] = checked_line(check)
        for job in jobs:
            lines.setdefault(job.job_id, {"check": NO_ORGANISATION, "currency": job.invoice.currency,
                                          "total": str(job.invoice.total), "check_data": {}})
        return lines

    # Routing a line ------------------------------------------------------------------
    async def choose_organisation(self, team_id: str, batch_id: str, user_id: str, tenant_id: str, *,
                                  job_id: str | None = None, client_id: int | None = None) -> str | None:
        """An approver picks the organisation of one line (`job_id`) or of every line of a client whose
        organisation is to be chosen (`client_id`). Those lines are routed there and checked again.
        None when done, else a refusal code (not_found, not_approver, own_request, already_handled,
        unknown_tenant, tenant_removed, line_changed)."""
        batch = await self._pending_for(team_id, batch_id, user_id)
        if isinstance(batch, str):
            return batch
        jobs = [job for job in await self.jobs_of(batch)
                if job.job_id == job_id or (client_id is not None and job.customer.id == client_id
                                             and job.tenant_choices)]
        if not jobs:
            return "not_found"
        if any(job.state != PENDING for job in jobs):
            return "already_handled"
        choice = next((c for c in jobs[0].tenant_choices if c.tenant_id == tenant_id), None)
        if choice is None or any(all(c.tenant_id != tenant_id for c in job.tenant_choices) for job in jobs):
            return "unknown_tenant"
        tenants = await self.exports.connections.list_tenants(team_id)
        if tenant_id not in {t.tenant_id for t in tenants}:  # a stale picker: removed since it was drawn
            return "tenant_removed"
        routed: list[ExportRequest] = []
        for job in jobs:
            if job.tenant_id == tenant_id:
                routed.append(job)
                continue
            moved = await self.exports.requests.transition(job, PENDING, by=user_id, note="organisation chosen",
                                                       tenant_id=tenant_id, tenant_name=choice.name)
            if moved is None:  # changed meanwhile (another choice, a decision): the message shows what won
                await self.redraw(batch)
                return "line_changed"
            routed.append(moved)
        log.info("export.batch_routed", **fields(team=team_id, user=user_id, batch=batch_id, tenant=tenant_id,
                                                 invoices=len(routed)))
        await self.recheck(batch, routed, tenants)
        return None

    async def recheck_routed(self, team_id: str, batch_id: str, job_ids: list[str]) -> None:
        """The `routing_changed` hook (ExportService.redraw_pending): these invoices of a pending batch were
        routed again (a client linked, an organisation removed or connected), so their lines are checked again
        and redrawn."""
        batch = await self.store.get(team_id, batch_id)
        if batch is None or batch.decision != BatchDecision.PENDING:
            return
        pending = [job for job in await self.jobs_of(batch) if job.state == PENDING and job.job_id in job_ids]
        await self.recheck(batch, pending, await self.exports.connections.list_tenants(team_id))

    async def recheck(self, batch: Batch, jobs: list[ExportRequest], tenants) -> None:
        settings = await self.exports.settings.get(batch.team_id)
        await self.store.set_lines(batch.batch_id, await self._preflight(batch.team_id, jobs, settings, tenants))
        await self.redraw(batch)

    # Approve / reject ----------------------------------------------------------------
    async def approve(self, team_id: str, batch_id: str, user_id: str, *, only_ready: bool,
                      duplicates: list[str]) -> str | None:
        """None when accepted, else a refusal code (not_found, not_approver, own_request, already_handled,
        not_admin)."""
        settings = await self.exports.settings.get(team_id)
        batch = await self._pending_for(team_id, batch_id, user_id, rules_named=lambda jobs: {
            u for job in jobs for u in rules.requirement(settings.approval_rules, job, job.tenant_id).named})
        if isinstance(batch, str):
            return batch
        if duplicates and not await self.exports.permissions.is_admin(team_id, user_id):
            return "not_admin"
        approver = await self.exports.is_approver(team_id, user_id)
        # Each invoice is decided by its own atomic transition, the batch afterwards: a crash in between
        # leaves the rest pending and the buttons on the message; the approved ones are exported (sweep).
        # An invoice whose approval rule this click does not meet stays pending, its line saying why, and the
        # batch stays open for the approver who can.
        wanted = {ref.casefold() for ref in duplicates}
        tenants: set[str] = set()
        decided = 0
        held: dict[str, dict[str, Any]] = {}
        for job in await self.jobs_of(batch):
            if job.state != PENDING:
                continue
            line = batch.lines.get(job.job_id, {})
            chosen = job.reference.casefold() in wanted
            goes = job.tenant_id is not None and (not only_ready or line.get("check") in READY_CODES or chosen)
            if goes:
                need = rules.requirement(settings.approval_rules, job, job.tenant_id)
                verdict = need.decide([a.user for a in job.approvals], user_id) if approver or user_id in need.named \
                    else "not_approver"
                approvals = [*job.approvals, Approval(user=user_id, at=self.exports.clock())]
                if verdict != "approve":
                    recorded = verdict == "record" and await self.exports.requests.transition(
                        job, PENDING, by=user_id, note="approval recorded", approvals=approvals,
                        rules=list(need.rules)) is not None
                    decided += recorded
                    held[job.job_id] = {**line, "held": _hold(verdict, need, approvals if recorded else job.approvals)}
                    continue
                moved = await self.exports.requests.transition(
                    job, APPROVED, by=user_id, approved_by=user_id, approved_at=self.exports.clock(),
                    exporting_by=user_id, allow_duplicate=chosen, approvals=approvals, rules=list(need.rules))
                if moved is not None and job.tenant_id:
                    tenants.add(job.tenant_id)
                    decided += 1
            else:
                left = await self.exports.requests.transition(job, REJECTED, by=user_id, note="left out of the batch",
                                                          left_out=True, finished_at=self.exports.clock())
                decided += left is not None
        await self.store.set_lines(batch.batch_id, held)
        if not decided:  # another approver (or a reject) decided every invoice first, or rules held them all
            if held:
                await self.redraw(batch)
                return "held_by_rules"
            return "already_handled"
        if not held:
            await self.store.decide(batch, BatchDecision.APPROVED, user_id)
        for tenant_id in sorted(tenants):
            await self._start(batch, tenant_id)
        log.info("export.batch_approved", **fields(team=team_id, user=user_id, batch=batch_id,
                                                   organisations=len(tenants)))
        await self.redraw(batch)
        return None

    async def can_reject(self, team_id: str, batch_id: str, user_id: str) -> str | None:
        """Checked before the reason modal opens, so nobody types a reason for nothing."""
        batch = await self._pending_for(team_id, batch_id, user_id)
        return batch if isinstance(batch, str) else None

    async def reject(self, team_id: str, batch_id: str, user_id: str, reason: str | None = None) -> str | None:
        """Every pending invoice of the batch is rejected, with the approver's reason (kept on each)."""
        batch = await self._pending_for(team_id, batch_id, user_id)
        if isinstance(batch, str):
            return batch
        reason = " ".join((reason or "").split())[:MAX_REJECT_REASON] or None
        decided = 0
        for job in await self.jobs_of(batch):
            if job.state == PENDING:
                rejected = await self.exports.requests.transition(
                    job, REJECTED, by=user_id, note=reason, rejected_by=user_id, rejected_at=self.exports.clock(),
                    reject_reason=reason, finished_at=self.exports.clock())
                decided += rejected is not None
        if not decided:
            return "already_handled"
        await self.store.decide(batch, BatchDecision.REJECTED, user_id, reject_reason=reason)
        log.info("export.batch_rejected", **fields(team=team_id, user=user_id, batch=batch_id))
        await self.redraw(batch)
        return None

    async def after_withdrawal(self, team_id: str, batch_id: str) -> None:
        """Some pending invoices were withdrawn (back in Draft, or deleted, in Forecast): when none is left to
        decide, the batch is closed; its message is redrawn either way."""
        batch = await self.store.get(team_id, batch_id)
        if batch is None:
            return
        if batch.decision == BatchDecision.PENDING and not any(
                job.state == PENDING for job in await self.jobs_of(batch)):
            await self.store.decide(batch, BatchDecision.REJECTED, AUTO_REQUESTER,
                                    reject_reason="withdrawn in Forecast")
        await self.redraw(batch)

    async def withdraw(self, batch: Batch, error: str) -> None:
        """The approval message cannot be posted: every invoice is withdrawn, to be asked for again later."""
        await self.store.decide(batch, BatchDecision.REJECTED, "")
        for job in await self.jobs_of(batch):
            if job.state == PENDING:
                await self.exports.requests.transition(job, REJECTED, by=None, withdrawn=error,
                                                   note=f"approval channel unavailable: {error}",
                                                   finished_at=self.exports.clock())

    async def _pending_for(self, team_id: str, batch_id: str, user_id: str,
                           rules_named: Callable[[list[ExportRequest]], set[str]] | None = None) -> Batch | str:
        """The batch, still to be decided, if this person may decide it (an approver, or someone an approval
        rule of its invoices names, when `rules_named` says who they are); else the refusal code."""
        batch = await self.store.get(team_id, batch_id)
        if batch is None:
            return "not_found"
        if not await self.exports.is_approver(batch.team_id, user_id) and (
                rules_named is None or user_id not in rules_named(
                    [j for j in await self.jobs_of(batch) if j.state == PENDING])):
            return "not_approver"
        if user_id == batch.requested_by:
            return "own_request"
        return "already_handled" if batch.decision != BatchDecision.PENDING else batch

    async def _start(self, batch: Batch, tenant_id: str) -> None:
        await self.exports.queue.enqueue(EXPORT_BATCH, {"team_id": batch.team_id, "batch_id": batch.batch_id,
                                                        "tenant_id": tenant_id},
                                         key=batch_run_key(batch.team_id, batch.batch_id, tenant_id))

    # The export, in a job per organisation ---------------------------------------------
    async def run_batch_job(self, queued: Job) -> None:
        """approved -> exporting -> exported | failed for the batch's invoices in one organisation. Run again
        after a crash, what the dead run created is found in Xero and linked, not created again."""
        team_id, tenant_id = queued.payload["team_id"], queued.payload["tenant_id"]
        batch = await self.store.get(team_id, queued.payload["batch_id"])
        if batch is None:
            return
        jobs = [j for j in await self.jobs_of(batch) if j.tenant_id == tenant_id and j.state in (APPROVED, EXPORTING)]
        if not jobs:
            await self.redraw(batch)
            return
        tenant = next((t for t in await self.exports.connections.list_tenants(team_id) if t.tenant_id == tenant_id),
                      None)
        connected = {t.tenant_id for t in await self.exports.connections.list_tenants(team_id)}
        running: list[ExportRequest] = []
        for job in jobs:
            if job.state == APPROVED:
                moved = await self.exports.requests.transition(job, EXPORTING, by=job.approved_by,
                                                               attempts=job.attempts + 1)
                job = moved or await self.exports.requests.current(job)
            if job.state == EXPORTING:  # else moved on meanwhile: not this run's to export
                running.append(job)
        if tenant is None:
            for job in running:
                await self._record(job, None, "organisation_removed")
            await self.redraw(batch)
            return
        settings = await self.exports.settings.get(team_id)
        try:
            outcomes = await self.exporter.export(
                team_id, batch.batch_id, TenantAuth(tenant_id, tenant.token_set_id), [_item(j) for j in running],
                BatchSettings.of(settings, tenant_id),
                generation=GENERATION, connected_tenant_ids=connected, by=batch.decided_by)
        except DayBudgetSpent as waiting:
            done = {o.forecast_invoice_id: o for o in waiting.done}
            for job in running:
                if job.forecast_invoice_id in done:
                    await self._record(job, done[job.forecast_invoice_id])
            await self.store.set(batch, waiting_until=self.exports.clock() + timedelta(seconds=waiting.delay))
            await self.redraw(batch)
            raise RetryLater(waiting.delay, waiting.reason) from None
        by_invoice = {o.forecast_invoice_id: o for o in outcomes}
        for job in running:
            await self._record(job, by_invoice.get(job.forecast_invoice_id))
        await self.store.set(batch, waiting_until=None)
        log.info("export.batch_done", **fields(team=team_id, batch=batch.batch_id, tenant=tenant_id,
                                               invoices=len(running)))
        await self.redraw(batch)
        await self.exports.redraw_pending(team_id)  # its clients are linked now: their other requests go there

    async def on_batch_gave_up(self, queued: Job, error: str) -> None:
        """The job runner stopped trying: the organisation's unfinished invoices are failed, so the sweep does
        not start them again, and they can be asked for again (the number look-up links what Xero has)."""
        batch = await self.store.get(queued.payload["team_id"], queued.payload["batch_id"])
        if batch is None:
            return
        log.warning("export.batch_gave_up", **fields(team=batch.team_id, batch=batch.batch_id, error=error))
        for job in await self.jobs_of(batch):
            if job.tenant_id == queued.payload["tenant_id"] and job.state in (APPROVED, EXPORTING):
                await self._record(job, None, "gave_up")
        await self.redraw(batch)

    async def _record(self, job: ExportRequest, outcome: ItemOutcome | None, error_code: str | None = None) -> None:
        jobs, now = self.exports.requests, self.exports.clock()
        if outcome is not None and outcome.outcome in IN_XERO:
            url = self.exports.xero.invoice_url(outcome.xero_invoice_id) if outcome.xero_invoice_id else None
            await jobs.transition(job, EXPORTED, by=job.approved_by, note=outcome.outcome, generation=GENERATION,
                                  outcome=outcome.outcome, xero_invoice_id=outcome.xero_invoice_id,
                                  xero_invoice_number=outcome.xero_number, xero_status=outcome.xero_status,
                                  xero_url=url, finished_at=now,
                                  xero_total=str(outcome.xero_total) if outcome.xero_total is not None else None,
                                  total_differs=outcome.total_differs)
            return
        error_data: dict = {}
        if outcome is not None and outcome.outcome == Outcome.NOT_EXPORTABLE:
            error_code = "preflight_failed"
            if outcome.preflight is not None:
                await self._line_check(job, outcome)
                check = outcome.preflight  # kept on the request too: Home and the DM say why, as the line does
                error_data = {"tenant_name": job.tenant_name, "check": check.code,
                              "check_data": check.stored_data(), "currency": check.currency}
        details = list(outcome.messages) if outcome is not None else []
        error_code = error_code or "xero_refused"
        await jobs.transition(job, FAILED, by=job.approved_by, note=error_code,
                              error_code=error_code, error_data=error_data, error_details=details, finished_at=now,
                              outcome=outcome.outcome if outcome is not None else Outcome.FAILED,
                              failures=job.failures + 1)

    async def _line_check(self, job: ExportRequest, outcome: ItemOutcome) -> None:
        check = outcome.preflight
        if check is None or not job.batch_id:
            return
        await self.store.batches.update_one({"_id": job.batch_id}, {"$set": {
            f"lines.{job.job_id}.check": check.code, f"lines.{job.job_id}.check_data": check.stored_data()}})

    # Reading and telling ------------------------------------------------------------------
    async def jobs_of(self, batch: Batch) -> list[ExportRequest]:
        """In the order requested (a job a crash left out of `job_ids` comes last)."""
        found = await self.exports.requests.of_batch(batch.team_id, batch.batch_id)
        order = {job_id: n for n, job_id in enumerate(batch.job_ids)}
        return sorted(found, key=lambda job: order.get(job.job_id, len(order)))

    async def view(self, team_id: str, batch_id: str) -> BatchView | None:
        """The batch as its messages show it now; None when there is no such batch."""
        batch = await self.store.get(team_id, batch_id)
        return await self.view_of(batch) if batch is not None else None

    async def view_of(self, batch: Batch) -> BatchView:
        return batch_view(batch, await self.jobs_of(batch), datetime.now(UTC))

    async def sync_of(self, job: ExportRequest) -> None:
        """A batch's invoice needs Slack to catch up (the sweep found it): its batch's message is redrawn."""
        batch = await self.store.get(job.team_id, job.batch_id or "")
        if batch is not None:
            await self.redraw(batch)

    async def redraw(self, batch: Batch) -> None:
        """Slack will show the batch's saved state (one outbox job per batch). Never raises."""
        try:
            await self.exports.queue.enqueue(REDRAW_BATCH, {"team_id": batch.team_id, "batch_id": batch.batch_id},
                                             key=f"redraw_batch:{batch.batch_id}", max_attempts=20)
        except Exception:
            log.exception("export.batch_sync_enqueue_failed", **fields(team=batch.team_id, batch=batch.batch_id))


def _hold(verdict: str, need: rules.Requirement, approvals: list[Approval]) -> dict[str, Any]:
    """Why an invoice of the batch still waits after an Approve all (bot/blocks/batches.py words it)."""
    approved_by = [a.user for a in approvals]
    return {"reason": verdict, "approved_by": approved_by, "needed": need.approvals_needed,
            "named": sorted({u for rule in need.unmet(approved_by) for u in rule.approvers})}


def checked_line(check: Preflight) -> dict[str, Any]:
    """A line of the batch as saved: its pre-flight result in the organisation it goes to."""
    return {"check": check.code, "currency": check.currency, "total": str(check.expected_total),
            "check_data": check.stored_data()}


def _unchecked(job: ExportRequest) -> dict[str, Any]:
    return {"check": NOT_CHECKED, "currency": job.invoice.currency, "total": str(job.invoice.total), "check_data": {}}


def _named(refusal: Refusal, names: dict[str, str]) -> Refusal:
    """An invoice already in Xero says in which organisation (its name, as it was last connected)."""
    tenant_id = refusal.data.get("tenant_id")
    if refusal.reason != "already_exported" or not tenant_id:
        return refusal
    return Refusal(refusal.reference, refusal.reason, {**refusal.data, "organisation": names.get(tenant_id, tenant_id)})


def _item(job: ExportRequest) -> BatchItem:
    return BatchItem(job.invoice, job.customer, allow_duplicate=bool(job.allow_duplicate),
                     project_name=job.project_name)

