"""The Slack side of sync's SyncNotifier: status lines, thread replies, DMs and the notification channel.

Posts with the Web API client directly (no outbox on this branch); a Slack failure is logged by the
caller and never undoes what sync saved.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import sync as blocks
from bot.slack_directory import slack_error

log = logging.getLogger(__name__)


class SlackSyncNotifier:
    def __init__(self, client: AsyncWebClient):
        self.client = client

    async def invoice_synced(self, report, job, notify_channel: str | None) -> None:
        if job is None or not (job.approval_channel and job.approval_ts):
            if notify_channel:
                await self.client.chat_postMessage(channel=notify_channel, **blocks.unlinked_invoice_notice(report))
            return
        channel, ts = job.approval_channel, job.approval_ts
        if report.status_changed:
            await self.client.chat_update(channel=channel, ts=ts, **blocks.approval_with_status(job, report))
        for reply in blocks.thread_replies(report):
            await self.client.chat_postMessage(channel=channel, thread_ts=ts, **reply)
        if notify_channel and notify_channel != channel:
            for payment in report.inexact_payments:
                await self.client.chat_postMessage(channel=notify_channel, **blocks.inexact_payment(report, payment))
        if report.became_paid and job.requested_by:
            await self.client.chat_postMessage(channel=job.requested_by, **blocks.paid_notice(report))

    async def contact_synced(self, report, tenant_name: str, notify_channel: str | None) -> None:
        if notify_channel:
            await self.client.chat_postMessage(channel=notify_channel, **blocks.client_changed(report, tenant_name))

    async def sync_answered(self, request, summary) -> None:
        payload = blocks.sync_answer(summary)
        if request.channel_id:
            try:
                await self.client.chat_postEphemeral(channel=request.channel_id, user=request.user_id, **payload)
                return
            except SlackApiError as exc:
                log.info("slack.ephemeral_fallback error=%s", slack_error(exc))
        await self.client.chat_postMessage(channel=request.user_id, **payload)
