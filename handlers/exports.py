"""/xero export, and the Approve / Reject / Retry buttons and the reject-reason modal."""

from __future__ import annotations

import json
import logging

from slack_bolt.async_app import AsyncApp

from bot.blocks import exports as blocks
from bot.container import Container
from handlers.connections import notify_user
from handlers.router import CommandContext, CommandRouter
from services.exports import ExportRefused, Refused

log = logging.getLogger(__name__)


async def export(ctx: CommandContext) -> None:
    references = list(dict.fromkeys(a.strip(",") for a in ctx.args if a.strip(",")))
    if not references:
        await ctx.reply(blocks.usage())
        return
    for reference in references:
        await ctx.reply(await _request_one(ctx, reference))


async def _request_one(ctx: CommandContext, reference: str) -> dict:
    try:
        outcome = await ctx.container.exports.request_export(ctx.team_id, ctx.user_id, ctx.channel_id, reference)
    except ExportRefused as refusal:
        return blocks.refused(refusal.message, refusal.hint)
    if outcome.kind == "already_exported":
        return blocks.already_exported(outcome)
    if outcome.kind == "already_requested":
        return blocks.already_requested(outcome.job)
    return blocks.export_requested(outcome.job)


def chosen_tenant(body: dict) -> str | None:
    """The organisation picked on the approval message (Slack sends the message's input state)."""
    for block in ((body.get("state") or {}).get("values") or {}).values():
        picked = (block.get(blocks.PICK_TENANT_ACTION) or {}).get("selected_option")
        if picked:
            return picked.get("value")
    return None


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    router.add("export", export, usage=blocks.USAGE, example="/xero export INV-123",
               summary="Send Forecast invoices to Xero. An approver approves each one in the approval channel.")
    service = container.exports

    async def note_message(body: dict) -> None:
        """Approve and Reject are only on approval messages: one we did not record is a copy to redraw."""
        container_ = body.get("container") or {}
        await service.clicked_on(body["team"]["id"], body["actions"][0]["value"], container_.get("channel_id"),
                                 container_.get("message_ts"))

    async def answer(respond, outcome) -> None:
        if isinstance(outcome, Refused):
            await respond(response_type="ephemeral", replace_original=False, **blocks.click_refused(outcome))

    @app.action(blocks.APPROVE_ACTION)
    async def approve(ack, body, respond):
        await ack()  # the export itself runs in a job (services/exports.py): this only approves and enqueues
        outcome = await service.approve(body["team"]["id"], body["actions"][0]["value"], body["user"]["id"],
                                        chosen_tenant(body))
        await answer(respond, outcome)
        await note_message(body)

    @app.action(blocks.PICK_TENANT_ACTION)
    async def tenant_picked(ack):
        await ack()  # the choice is read from the message state when Approve is clicked

    @app.action(blocks.OPEN_XERO_ACTION)
    async def xero_link_opened(ack):
        await ack()  # the browser opens the link; nothing to do here

    @app.action(blocks.RETRY_ACTION)
    async def retry(ack, body, respond):
        await ack()
        outcome = await service.retry(body["team"]["id"], body["actions"][0]["value"], body["user"]["id"])
        await answer(respond, outcome)  # every message about the job is redrawn by the outbox

    @app.action(blocks.REJECT_ACTION)
    async def open_reject(ack, body, client, respond):
        await ack()
        outcome = await service.can_reject(body["team"]["id"], body["actions"][0]["value"], body["user"]["id"])
        if isinstance(outcome, Refused):
            await answer(respond, outcome)
            return
        channel_id = (body.get("channel") or {}).get("id")
        await container.gateway.open_modal(body["trigger_id"], blocks.reject_modal(outcome.job, channel_id=channel_id))
        await note_message(body)  # after the modal: its trigger lasts 3 s

    @app.view(blocks.REJECT_CALLBACK_ID)
    async def reject(ack, body, view):
        await ack()
        meta = json.loads(view.get("private_metadata") or "{}")
        reason = ((view.get("state", {}).get("values", {}).get(blocks.REJECT_REASON_BLOCK) or {})
                  .get(blocks.REJECT_REASON_ACTION) or {}).get("value")
        user_id = body["user"]["id"]
        outcome = await service.reject(body["team"]["id"], meta["job_id"], user_id, reason)
        if isinstance(outcome, Refused):
            await notify_user(container, user_id, meta.get("channel_id"), blocks.click_refused(outcome))
