"""The `exports.digest` job: once a day, at the hour the settings say, what still waits for approval.

Posted once (bot/slack_gateway.py `post_once`, tagged with the workspace and the day; the attempt is noted on
`forecast_watch` first), so a crash between Slack taking the post and the bot saving it posts nothing twice. A day
with nothing waiting posts nothing and is marked done.
"""

from __future__ import annotations

from bot.blocks import digest as blocks
from bot.slack_gateway import MessageTag, SlackGateway, SlackRefused
from services.exports.auto_requests import AutoRequests
from services.platform.crash_points import crash_point
from services.platform.jobs import Job

DIGEST_EVENT = "ledgerline_waiting_digest"


class DigestOutbox:
    def __init__(self, auto: AutoRequests, gateway: SlackGateway):
        self.auto = auto
        self.gateway = gateway

    async def run(self, queued: Job) -> None:
        team_id, day = queued.payload["team_id"], queued.payload["day"]
        watch = self.auto.watch
        stored = await watch.get(team_id)
        if day in (stored.get("digest_sent") or {}):
            return
        settings = await self.auto.settings.get(team_id)
        channel = settings.digest_channel or settings.approval_channel
        waiting = await self.auto.waiting(team_id)
        if not waiting or not channel:
            await watch.digest_done(team_id, day, None)
            return
        slack = self.gateway.for_team(team_id)
        links = {}
        for job in waiting[:blocks.LISTED]:
            if job.approval_channel and job.approval_ts:
                links[job.job_id] = await slack.permalink(job.approval_channel, job.approval_ts)
        payload = blocks.waiting_digest(waiting, links, day)
        tried = (stored.get("digest_posting") or {}).get(day)
        try:
            posted_in, ts = await slack.post_once(
                channel, payload, MessageTag(DIGEST_EVENT, {"team_id": team_id, "day": day}), tried_since=tried,
                before_post=lambda: watch.mark_digest_posting(team_id, day, self.auto.clock()))
        except SlackRefused:  # no such channel any more, or not a member: nothing more to do today
            await watch.digest_done(team_id, day, None)
            return
        crash_point("after_digest_post")
        await watch.digest_done(team_id, day, {"channel": posted_in, "ts": ts})
