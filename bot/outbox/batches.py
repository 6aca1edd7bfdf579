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

from bot.blocks import batches as blocks
from bot.slack_gateway import MessageTag, SlackGateway, SlackRefused, WorkspaceGateway
from services.exports.batches import Batch, BatchExportService
from services.exports.states import BatchProgress
from services.platform.crash_points import crash_point
from services.platform.jobs import Job

BATCH_APPROVAL_EVENT = "ledgerline_batch_approval"
BATCH_DM_EVENT = "ledgerline_batch_requester_dm"


class BatchOutbox:
    def __init__(self, batches: BatchExportService, gateway: SlackGateway):
        self.batches = batches
        self.gateway = gateway

    def _slack(self, batch: Batch) -> WorkspaceGateway:
        return self.gateway.for_team(batch.team_id)

    async def run(self, queued: Job) -> None:
        store = self.batches.store
        batch = await store.get(queued.payload["team_id"], queued.payload["batch_id"])
        if batch is None:
            return
        view = await self.batches.view_of(batch)
        payload = blocks.batch_approval_message(view)
        if batch.approval_ts and batch.approval_channel:
            try:
                await self._slack(batch).update(batch.approval_channel, batch.approval_ts, payload)
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
                await self._slack(batch).update(channel, ts, payload)
        if view.state in (BatchProgress.DONE, BatchProgress.REJECTED):
            link = await self._slack(batch).permalink(batch.approval_channel or "", batch.approval_ts or "")
            await self._tell_requester(batch, blocks.batch_requester_notice(view, link))

    async def _tell_requester(self, batch: Batch, payload: dict) -> None:
        if batch.requester_dm:
            try:
                await self._slack(batch).update(batch.requester_dm["channel"], batch.requester_dm["ts"], payload)
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
        return await self._slack(batch).post_once(channel, payload, tag, tried_since=batch.posting.get(key),
                                            before_post=lambda: self.batches.store.mark_posting(batch, key))
