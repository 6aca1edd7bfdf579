"""The `slack.sync_batch` job: the one approval message of a batch shows the batch's saved state.

Each run renders the batch and its invoices' export jobs (bot/blocks/batches.py) into the approval message
(posted if it never was, else redrawn) and, once every invoice is decided, DMs the requester one summary.
Idempotent, and raises on Slack trouble so the job runner tries again. A batch's invoices post no messages
of their own (bot/export_outbox.py skips them): a finance team reads one message per batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bot.blocks import batches as blocks
from bot.blocks.exports import failure_words
from bot.slack_gateway import SlackGateway, SlackRefused
from services.export_batches import Batch, BatchExportService
from services.export_jobs import EXPORTED, FAILED, OPEN_STATES, PENDING, REJECTED, ExportJob
from services.jobs import Job

FINISHED = (EXPORTED, FAILED, REJECTED)


def batch_view(batch: Batch, jobs: list[ExportJob], now: datetime) -> blocks.BatchView:
    lines = tuple(_line(batch, job) for job in jobs)
    if batch.decision == "rejected":
        state: blocks.BatchState = "rejected"
    elif batch.decision == "pending" or any(job.state == PENDING for job in jobs):
        state = "pending"
    elif any(job.state in OPEN_STATES for job in jobs):
        state = "waiting" if batch.waiting_until and batch.waiting_until > now else "exporting"
    else:
        state = "done"
    return blocks.BatchView(batch_id=batch.batch_id, requested_by=batch.requested_by, state=state,
                            export_status=batch.export_status, lines=lines, decided_by=batch.decided_by,
                            reason=batch.reject_reason, resumes_at=batch.waiting_until)


def _line(batch: Batch, job: ExportJob) -> blocks.BatchLine:
    line = batch.lines.get(job.job_id, {})
    outcome: str | None = None
    if job.state == EXPORTED:
        outcome = job.outcome or "created"
    elif job.state == FAILED:
        outcome = "not_exportable" if job.outcome == "not_exportable" else "failed"
    elif job.state == REJECTED and batch.decision == "approved":
        outcome = "not_exportable"  # left out by "Approve ready only"
    elif job.state in OPEN_STATES and batch.decision == "approved" and batch.waiting_until:
        outcome = "waiting"
    return blocks.BatchLine(
        reference=job.reference, client=job.customer.name, currency=line.get("currency") or job.invoice.currency,
        total=Decimal(str(line.get("total") or job.invoice.total)), organisation=job.tenant_name,
        check=line.get("check") or "not_checked", check_data=dict(line.get("check_data") or {}), outcome=outcome,
        xero_number=job.xero_invoice_number, xero_status=job.xero_status,
        xero_total=Decimal(job.xero_total) if job.xero_total else None,
        messages=tuple(job.error_details or ([failure_words(job)[0]] if job.error_code or job.error else [])),
        url=job.xero_url, job_id=job.job_id, client_id=job.customer.id, tenant_id=job.tenant_id,
        choices=tuple((c.tenant_id, c.name) for c in job.tenant_choices) if job.state == PENDING else ())


class BatchOutbox:
    def __init__(self, batches: BatchExportService, gateway: SlackGateway):
        self.batches = batches
        self.gateway = gateway

    async def view(self, team_id: str, batch_id: str) -> blocks.BatchView | None:
        batch = await self.batches.store.get(team_id, batch_id)
        if batch is None:
            return None
        jobs = await self.batches.jobs_of(batch)
        return batch_view(batch, jobs, datetime.now(UTC))

    async def run(self, queued: Job) -> None:
        store = self.batches.store
        batch = await store.get(queued.payload["team_id"], queued.payload["batch_id"])
        if batch is None:
            return
        jobs = await self.batches.jobs_of(batch)
        view = batch_view(batch, jobs, datetime.now(UTC))
        payload = blocks.batch_approval_message(view)
        if batch.approval_ts and batch.approval_channel:
            try:
                await self.gateway.update(batch.approval_channel, batch.approval_ts, payload)
            except SlackRefused:
                pass  # deleted by someone: nothing to redraw
        else:
            try:
                channel, ts = await self.gateway.post(batch.approval_channel or "", payload)
            except SlackRefused as refused:  # nobody could approve it: withdrawn, and the requester told
                await self.batches.withdraw(batch, refused.error)
                await self._tell_requester(batch, blocks.batch_withdrawn(view, refused.error))
                return
            await store.set(batch, approval_channel=channel, approval_ts=ts)
            batch.approval_channel, batch.approval_ts = channel, ts
        if view.state in ("done", "rejected"):
            link = await self.gateway.permalink(batch.approval_channel or "", batch.approval_ts or "")
            await self._tell_requester(batch, blocks.batch_requester_notice(view, link))

    async def _tell_requester(self, batch: Batch, payload: dict) -> None:
        if batch.requester_dm:
            try:
                await self.gateway.update(batch.requester_dm["channel"], batch.requester_dm["ts"], payload)
            except SlackRefused:
                pass
            return
        try:
            channel, ts = await self.gateway.dm(batch.requested_by, payload)
        except SlackRefused:
            return  # no DM possible (a deactivated user): nobody left to tell
        await self.batches.store.set(batch, requester_dm={"channel": channel, "ts": ts})
