"""The Slack side of the export's ExportNotifier: the approval message, failures, and the requester."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import exports as blocks
from bot.slack_directory import slack_error
from services.export_jobs import ExportJob
from services.exports import ApprovalChannelUnavailable

log = logging.getLogger(__name__)


class SlackExportNotifier:
    def __init__(self, client: AsyncWebClient):
        self.client = client

    async def post_approval_request(self, job: ExportJob) -> tuple[str, str]:
        try:
            response = await self.client.chat_postMessage(channel=job.approval_channel,
                                                          **blocks.approval_message(job))
        except SlackApiError as exc:
            raise ApprovalChannelUnavailable(job.approval_channel or "", slack_error(exc)) from None
        return response["channel"], response["ts"]

    async def job_changed(self, job: ExportJob) -> None:
        if job.approval_channel and job.approval_ts:
            await self.client.chat_update(channel=job.approval_channel, ts=job.approval_ts,
                                          **blocks.approval_message(job))

    async def export_failed(self, job: ExportJob) -> None:
        channel = job.notify_channel or job.approval_channel
        try:
            await self.client.chat_postMessage(channel=channel, **blocks.failure_notice(job))
        except SlackApiError as exc:
            # Loud means somebody hears it: the approver who started the attempt, in a DM.
            log.warning("export.notify_channel_failed error=%s", slack_error(exc))
            await self.client.chat_postMessage(channel=job.exporting_by or job.requested_by,
                                               **blocks.failure_notice(job))

    async def export_done(self, job: ExportJob) -> None:
        await self._tell_requester(job, blocks.export_done_notice(job))

    async def export_rejected(self, job: ExportJob) -> None:
        await self._tell_requester(job, blocks.rejected_notice(job))

    async def _tell_requester(self, job: ExportJob, payload: dict) -> None:
        """Where they asked (only they see it), else in a DM."""
        if job.requested_in:
            try:
                await self.client.chat_postEphemeral(channel=job.requested_in, user=job.requested_by, **payload)
                return
            except SlackApiError as exc:
                log.info("slack.ephemeral_fallback error=%s", slack_error(exc))
        await self.client.chat_postMessage(channel=job.requested_by, **payload)
