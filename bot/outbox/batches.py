"""The `slack.redraw_batch` job: the one approval message of a batch shows the batch's saved state.

Each run renders the batch and its invoices' export jobs (bot/blocks/batches.py) into the approval message
(posted if it never was, else redrawn) and, once every invoice is decided, DMs the requester one summary.
Idempotent, and raises on Slack trouble so the job runner tries again. A batch's invoices post no messages
of their own (bot/outbox/exports.py skips them): a finance team reads one message per batch.

Both messages are tagged with the batch's id (message metadata) and each post attempt is noted on the batch
first, so a run after a crash between Slack taking a post and the save of its ts finds that message
(bot/slack_gateway.py `post_once`) instead of posting it twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bot.blocks import batches as blocks
from bot.blocks.exports import failure_words
from bot.slack_gateway import MessageTag, SlackGateway, SlackRefused
from services.exports.batches import Batch, BatchExportService
from services.exports.store import EXPORTED, FAILED, OPEN_STATES, PENDING, REJECTED, ExportRequest
from services.platform.crash_points import crash_point
from services.platform.jobs import Job

FINISHED = (EXPORTED, FAILED, REJECTED)
BATCH_APPROVAL_EVENT = "ledgerline_batch_approval"
BATCH_DM_EVENT = "ledgerline_batch_requester_dm"


def batch_view(batch: Batch, jobs: list[ExportRequest], now: datetime) -> blocks.BatchView:
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


def _line(batch: Batch, job: ExportRequest) -> blocks.BatchLine:
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
        choices=tuple((c.tenant_id, c.name) for c in job.tenant_choices) if job.state == PENDING else (),
        held=dict(line.get("held") or {}) if job.state == PENDING else {},
        rules=tuple(job.rules) if job.state == PENDING else (),
        approved_by=tuple(a.user for a in job.approvals))


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
            found_maybe = "approval" in batch.posting  # an earlier run's post, as it was then: redrawn below
            try:
                channel, ts = await self._post_once(batch, "approval", batch.approval_channel or "", payload,
                                                    MessageTag(BATCH_APPROVAL_EVENT, {"batch_id": batch.batch_id}))
            except SlackRefused as refused:  # nobody could approve it: withdrawn, and the requester told
                await self.batches.withdraw(batch, refused.error)
                await self._tell_requester(batch, blocks.batch_withdrawn(view, refused.error))
                return
            crash_point("after_batch_approval_post")
            await store.set(batch, approval_channel=channel, approval_ts=ts)
            batch.approval_channel, batch.approval_ts = channel, ts
            if found_maybe:
                await self.gateway.update(channel, ts, payload)
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
            channel, ts = await self._post_once(batch, "dm", batch.requested_by, payload,
                                                MessageTag(BATCH_DM_EVENT, {"batch_id": batch.batch_id}))
        except SlackRefused:
            return  # no DM possible (a deactivated user): nobody left to tell
        crash_point("after_batch_dm_post")
        await self.batches.store.set(batch, requester_dm={"channel": channel, "ts": ts})

    async def _post_once(self, batch: Batch, key: str, channel: str, payload: dict,
                         tag: MessageTag) -> tuple[str, str]:
        """Posts, or finds the post an earlier run made before it died (each attempt is noted first)."""
        return await self.gateway.post_once(channel, payload, tag, tried_since=batch.posting.get(key),
                                            before_post=lambda: self.batches.store.mark_posting(batch, key))
