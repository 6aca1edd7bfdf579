"""The `slack.redraw_export` job: Slack shows an export job's saved state, whatever crashed in between.

Each run renders the job's *current* state (bot/blocks) into every message about it and posts what is
missing:
- the approval message (posted if it never was: this is how a request whose message was lost gets it);
- one failure notice per failure, in the notify channel (else an approver's DM), later redrawn to say
  what happened since, without a Retry button that no longer applies;
- a DM to the requester for each outcome (failed, exported, rejected), with a link to the approval
  message, also redrawn to the current state.
It is idempotent (what was posted is saved on the export job, each message right after its post) and
raises on Slack trouble, so the job runner tries again until Slack has it all.

Slack has no idempotency key. Every message is tagged with what it is (message metadata: the approval
request, a failure notice or a requester's DM, with the export's id and what it is about) and the attempt
is noted on the job before posting, so a run after a crash between the post and the save of its ts finds
that message (conversations.history; a DM's channel from conversations.open) instead of posting a second
one. A click on a stray approval message is answered from the saved state, and records the copy so that
it is redrawn from then on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.blocks import exports as blocks
from bot.slack_gateway import MessageTag, SlackGateway, SlackRefused, WorkspaceGateway
from services.exports.service import ExportRequest, ExportService
from services.exports.states import EXPORTED, FAILED, PENDING, REJECTED
from services.exports.store import PostedMessage
from services.platform.crash_points import crash_point
from services.platform.jobs import Job

log = logging.getLogger(__name__)


APPROVAL_EVENT = "ledgerline_approval_request"
FAILURE_NOTICE_EVENT = "ledgerline_failure_notice"
REQUESTER_DM_EVENT = "ledgerline_requester_dm"


def approval_tag(job: ExportRequest) -> MessageTag:
    """Message metadata naming the export, so a post whose ts was lost in a crash can be found again."""
    return MessageTag(APPROVAL_EVENT, {"job_id": job.job_id})


def notice_tag(job: ExportRequest, about: str) -> MessageTag:
    return MessageTag(FAILURE_NOTICE_EVENT, {"job_id": job.job_id, "about": about})


def requester_dm_tag(job: ExportRequest, about: str) -> MessageTag:
    return MessageTag(REQUESTER_DM_EVENT, {"job_id": job.job_id, "about": about})


class ExportOutbox:
    def __init__(self, exports: ExportService, gateway: SlackGateway,
                 after_sync: Callable[[str], Awaitable[None]] | None = None,
                 batch_sync: Callable[[ExportRequest], Awaitable[None]] | None = None):
        self.exports = exports
        self.gateway = gateway
        self.after_sync = after_sync  # e.g. redraw the Home tabs of the workspace
        self.batch_sync = batch_sync  # a batch's invoice: its batch's one message (bot/outbox/batches.py)

    def _slack(self, job: ExportRequest) -> WorkspaceGateway:
        return self.gateway.for_team(job.team_id)

    async def run(self, queued: Job) -> None:
        job = await self.exports.get_job(queued.payload["team_id"], queued.payload["job_id"])
        if job is None:
            return
        if job.batch_id:  # one message for the whole batch (bot/outbox/batches.py)
            if self.batch_sync is not None:
                await self.batch_sync(job)
            await self.exports.requests.redrawn(job)
            return
        job = await self._connected_choices_only(job)
        if not await self._approval_message(job):
            return
        await self._failure_notices(job)
        await self._requester(job)
        await self.exports.requests.redrawn(job)
        if self.after_sync is not None:
            await self.after_sync(job.team_id)

    async def _connected_choices_only(self, job: ExportRequest) -> ExportRequest:
        """The picker offers only organisations still connected (one removed since is not a choice)."""
        if not job.tenant_choices or job.state != PENDING:
            return job
        connected = {t.tenant_id for t in await self.exports.connections.list_tenants(job.team_id)}
        return job.model_copy(update={"tenant_choices": [c for c in job.tenant_choices if c.tenant_id in connected]})

    async def _approval_message(self, job: ExportRequest) -> bool:
        payload = blocks.approval_message(job)
        if job.approval_ts:
            for message in [PostedMessage(channel=job.approval_channel, ts=job.approval_ts, about="approval"),
                            *job.approval_copies]:
                try:
                    await self._slack(job).update(message.channel, message.ts, payload)
                except SlackRefused:
                    pass  # deleted by someone: nothing to redraw
            return True
        if job.state != PENDING and job.withdrawn:
            return True
        found_maybe = "approval" in job.posting  # an earlier run's post, as it was then: redrawn below
        try:
            channel, ts = await self._post_once(job, "approval", job.approval_channel or "", payload,
                                                approval_tag(job))
        except SlackRefused as refused:  # the bot cannot post there: withdraw, and tell the requester
            if await self.exports.approval_channel_refused(job, refused.error):
                await self.exports.redraw(job)
            return False
        crash_point("after_approval_post")
        await self.exports.requests.set_message(job, channel, ts)
        job.approval_channel, job.approval_ts = channel, ts
        if found_maybe:
            await self._slack(job).update(channel, ts, payload)
        return True

    async def _failure_notices(self, job: ExportRequest) -> None:
        notices = list(job.notices)
        for notice in notices:
            if not notice.channel:
                continue
            try:
                await self._slack(job).update(notice.channel, notice.ts, blocks.failure_notice_now(job))
            except SlackRefused:
                pass
        about = f"{FAILED}:{job.failures}"
        if job.state != FAILED or any(n.about == about for n in notices):
            return
        payload = blocks.failure_notice(job)
        channel, ts = "", ""  # nowhere to post it (logged by the gateway); the requester's DM still says it
        # Loud means somebody hears it: else the approver who started the attempt, in a DM.
        for target in (job.notify_channel or job.approval_channel or "",
                       job.exporting_by or job.approved_by or job.requested_by):
            try:
                channel, ts = await self._post_once(job, f"notice:{about}", target, payload, notice_tag(job, about))
                break
            except SlackRefused:
                continue
        crash_point("after_failure_notice_post")
        notices.append(PostedMessage(channel=channel, ts=ts, about=about))
        await self.exports.requests.save_messages(job, notices=notices)

    async def _requester(self, job: ExportRequest) -> None:
        dms = list(job.requester_dms)
        about = {FAILED: f"{FAILED}:{job.failures}", EXPORTED: EXPORTED.value, REJECTED: REJECTED.value}.get(job.state)
        new = about is not None and not any(dm.about == about for dm in dms)
        if not dms and not new:
            return
        link = (await self._slack(job).permalink(job.approval_channel, job.approval_ts)
                if job.approval_channel and job.approval_ts else None)
        payload = blocks.requester_notice(job, link)
        earlier = blocks.earlier_requester_notice(job, link)
        for dm in dms:
            try:  # an older DM whose news a newer one gives points to it, not a copy of it
                await self._slack(job).update(dm.channel, dm.ts, payload if about in (None, dm.about) else earlier)
            except SlackRefused:
                pass
        if not new:
            return
        try:
            channel, ts = await self._post_once(job, f"dm:{about}", job.requested_by, payload,
                                                requester_dm_tag(job, about or ""))
        except SlackRefused:
            return  # no DM possible (a deactivated user): nobody left to tell
        crash_point("after_requester_dm_post")
        dms.append(PostedMessage(channel=channel, ts=ts, about=about or ""))
        await self.exports.requests.save_messages(job, requester_dms=dms)

    async def _post_once(self, job: ExportRequest, key: str, channel: str, payload: dict,
                         tag: MessageTag) -> tuple[str, str]:
        """Posts, or finds the post an earlier run made before it died (the job notes each attempt first)."""
        return await self._slack(job).post_once(channel, payload, tag, tried_since=job.posting.get(key),
                                            before_post=lambda: self.exports.requests.mark_posting(job, key))
