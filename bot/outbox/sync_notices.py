"""The `slack.sync_notice` job: what sync saved to tell people (services/sync/notices.py) reaches Slack.

Through the one gateway (bot/slack_gateway.py). Notices are sent oldest first and each is marked sent
right after Slack took it. Slack unreachable: the job raises and the runner tries again later, from the
first notice not sent. Slack refusing one for good (a deleted channel, a deactivated requester) marks that
one refused (the gateway logged why) and the rest go on. Slack has no idempotency key: each notice is tagged
with its id (message metadata) and its post attempt noted first, so after a crash between a post and its
mark the next run finds the posted notice (in the thread, the channel or the DM) instead of sending it again.

Also answers /xero sync (an ephemeral message, else a DM: best effort, like every answer to a person).
"""

from __future__ import annotations

from functools import partial

from bot.blocks import sync as blocks
from bot.slack_gateway import MessageTag, SlackGateway, SlackRefused
from services.platform.crash_points import crash_point
from services.platform.jobs import Job
from services.shared.problems import Problem
from services.sync.contacts import ContactSynced
from services.sync.drift import DriftReport
from services.sync.engine import SyncSummary
from services.sync.invoices import InvoiceSynced, PaymentRecorded, PaymentRemoved
from services.sync.notices import REFUSED, SENT, SyncNotice, SyncNoticeStore
from services.sync.state import SyncRequest

SYNC_NOTICE_EVENT = "ledgerline_sync_notice"


class SyncOutbox:
    def __init__(self, notices: SyncNoticeStore, gateway: SlackGateway):
        self.notices = notices
        self.gateway = gateway

    async def run(self, queued: Job) -> None:
        team_id = queued.payload["team_id"]
        slack = self.gateway.for_team(team_id)
        for notice in await self.notices.unsent(team_id):
            payload = render(notice)
            if notice.thread_ts:
                payload = {**payload, "thread_ts": notice.thread_ts}
            try:
                _, ts = await slack.post_once(
                    notice.channel, payload, MessageTag(SYNC_NOTICE_EVENT, {"notice_id": notice.id}),
                    tried_since=notice.posting_at, before_post=partial(self.notices.mark_posting, notice))
            except SlackRefused as refused:
                await self.notices.mark(notice, REFUSED, error=refused.error)
                continue
            crash_point("after_sync_notice_post")
            await self.notices.mark(notice, SENT, ts=ts)

    async def sync_answered(self, request: SyncRequest, summary: SyncSummary) -> None:
        slack = self.gateway.for_team(request.team_id)
        await slack.notify_user(request.user_id, request.channel_id, blocks.sync_answer(summary))


def render(notice: SyncNotice) -> dict:
    if notice.what == "drift_report":
        return blocks.drift_report(DriftReport.model_validate(notice.report))
    if notice.what == "client_changed":
        return blocks.client_changed(ContactSynced.model_validate(notice.report), notice.tenant_name or "")
    report = InvoiceSynced.model_validate(notice.report)
    if notice.what in ("payment_recorded", "inexact_payment"):
        payment = PaymentRecorded.model_validate(notice.item)
        return (blocks.payment_recorded if notice.what == "payment_recorded" else blocks.inexact_payment)(
            report, payment)
    if notice.what == "payment_removed":
        return blocks.payment_removed(report, PaymentRemoved.model_validate(notice.item))
    if notice.what == "problem":
        said = notice.item.get("problem", "")
        return blocks.forecast_problem(report, said if isinstance(said, str) else Problem.model_validate(said))
    return {"status": blocks.status_reply, "lines_edited": blocks.lines_edited, "key_missing": blocks.key_missing,
            "paid": blocks.paid_notice, "unlinked_invoice": blocks.unlinked_invoice_notice}[notice.what](report)
