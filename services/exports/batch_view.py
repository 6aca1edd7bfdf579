"""What a batch is now, line by line: its progress and each invoice's check or outcome (bot/blocks/batches.py words it).

Derived from the saved batch and its invoices' export requests only, so every message and modal that shows a
batch shows the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from services.exports.preflight import CENT, EXPORTABLE
from services.exports.states import (
    EXPORTED,
    FAILED,
    OPEN_STATES,
    PENDING,
    REJECTED,
    BatchDecision,
    BatchProgress,
    Outcome,
)
from services.exports.store import ExportRequest

if TYPE_CHECKING:
    from services.exports.batches import Batch

NOT_CHECKED = "not_checked"  # Xero could not be asked when the batch was requested


@dataclass(frozen=True)
class BatchLine:
    reference: str
    client: str
    currency: str | None
    total: Decimal
    organisation: str | None
    check: str  # services.exports.preflight code
    check_data: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome | None = None  # once approved: what became of it (or that it waits for Xero's day)
    xero_number: str | None = None
    xero_total: Decimal | None = None
    xero_status: str | None = None
    messages: tuple[str, ...] = ()  # Xero's own words
    url: str | None = None
    job_id: str | None = None
    client_id: int | None = None
    tenant_id: str | None = None  # where it goes, when known
    choices: tuple[tuple[str, str], ...] = ()  # (tenant id, name): an approver picks one (pending lines only)
    failed: ExportRequest | None = None  # a failure without Xero's words: bot/blocks words the request's own
    held: dict[str, Any] = field(default_factory=dict)  # why Approve all left it waiting (an approval rule)
    rules: tuple = ()  # the approval rules that apply (services.shared.settings.ApprovalRule), while pending
    approved_by: tuple[str, ...] = ()  # who approved so far, when a rule needs more than one

    @property
    def ready(self) -> bool:
        return self.check in EXPORTABLE and self.outcome != Outcome.WITHDRAWN

    @property
    def needs_attention(self) -> bool:
        stopped = self.outcome in (Outcome.FAILED, Outcome.NOT_EXPORTABLE, Outcome.LEFT_OUT)
        return stopped or (self.outcome is None and not self.ready) or self.total_differs

    @property
    def total_differs(self) -> bool:
        return self.xero_total is not None and self.xero_total.quantize(CENT) != self.total.quantize(CENT)


@dataclass(frozen=True)
class BatchView:
    batch_id: str
    requested_by: str
    state: BatchProgress
    export_status: str  # the workspace's export status setting: DRAFT or AUTHORISED
    lines: tuple[BatchLine, ...]
    decided_by: str | None = None
    reason: str | None = None  # a rejection's reason
    resumes_at: datetime | None = None  # waiting: when Xero's day budget comes back
    origins: tuple[tuple[str, str, str | None], ...] = ()  # asked for by itself: (reference, status, who in Forecast)


WITHDRAWN_IN_FORECAST = ("forecast_draft", "forecast_deleted")


def batch_view(batch: Batch, jobs: list[ExportRequest], now: datetime) -> BatchView:
    lines = tuple(_line(batch, job) for job in jobs)
    if batch.decision == BatchDecision.REJECTED:
        state = BatchProgress.REJECTED
    elif batch.decision == BatchDecision.PENDING or any(job.state == PENDING for job in jobs):
        state = BatchProgress.PENDING
    elif any(job.state in OPEN_STATES for job in jobs):
        waiting = batch.waiting_until and batch.waiting_until > now
        state = BatchProgress.WAITING if waiting else BatchProgress.EXPORTING
    else:
        state = BatchProgress.DONE
    said = batch.origins
    origins = tuple((job.reference, said[job.reference].get("status", ""), said[job.reference].get("by"))
                    for job in jobs if job.reference in said)
    return BatchView(batch_id=batch.batch_id, requested_by=batch.requested_by, state=state,
                     export_status=batch.export_status, lines=lines, decided_by=batch.decided_by,
                     reason=batch.reject_reason, resumes_at=batch.waiting_until, origins=origins)


def _line(batch: Batch, job: ExportRequest) -> BatchLine:
    line = batch.lines.get(job.job_id, {})
    approved = batch.decision == BatchDecision.APPROVED
    outcome: Outcome | None = None
    if job.state == REJECTED and job.withdrawn in WITHDRAWN_IN_FORECAST:
        outcome = Outcome.WITHDRAWN
    elif job.state == EXPORTED:
        outcome = Outcome(job.outcome or Outcome.CREATED)
    elif job.state == FAILED:
        outcome = Outcome.NOT_EXPORTABLE if job.outcome == Outcome.NOT_EXPORTABLE else Outcome.FAILED
    elif job.state == REJECTED and approved:
        outcome = Outcome.LEFT_OUT  # by "Approve ready only": nobody rejected it, it can be asked for again
    elif job.state in OPEN_STATES and approved and batch.waiting_until:
        outcome = Outcome.WAITING
    return BatchLine(
        reference=job.reference, client=job.customer.name, currency=line.get("currency") or job.invoice.currency,
        total=Decimal(str(line.get("total") or job.invoice.total)), organisation=job.tenant_name,
        check=line.get("check") or NOT_CHECKED, check_data=dict(line.get("check_data") or {}), outcome=outcome,
        xero_number=job.xero_invoice_number, xero_status=job.xero_status,
        xero_total=Decimal(job.xero_total) if job.xero_total else None,
        messages=(job.withdrawn,) if outcome == Outcome.WITHDRAWN and job.withdrawn else tuple(job.error_details),
        failed=job if not job.error_details and (job.error_code or job.error) else None,
        url=job.xero_url, job_id=job.job_id, client_id=job.customer.id, tenant_id=job.tenant_id,
        choices=tuple((c.tenant_id, c.name) for c in job.tenant_choices) if job.state == PENDING else (),
        held=dict(line.get("held") or {}) if job.state == PENDING else {},
        rules=tuple(job.rules) if job.state == PENDING else (),
        approved_by=tuple(a.user for a in job.approvals))
