"""/xero export, and the Approve / Reject / Retry buttons and the reject-reason modal."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.blocks import batches as batch_blocks
from bot.blocks import exports as blocks
from bot.container import Container
from bot.slack_request import BlockAction, State, UnreadablePayload, ViewSubmission
from handlers.connections import answer_click, notify_user
from handlers.router import CommandContext, CommandRouter
from services.export_refs import MAX_REFERENCES, parse_export_args
from services.exports import ExportRefused, Refused

log = logging.getLogger(__name__)


async def export(ctx: CommandContext) -> None:
    asked = parse_export_args(" ".join(ctx.args))
    if asked.empty:
        await ctx.reply(blocks.usage())
        return
    too_many = next((p for p in asked.problems if p.code == "too_many"), None)
    if too_many is not None:  # nothing is requested: the admin splits the list
        await ctx.reply(blocks.too_many_references(MAX_REFERENCES + too_many.count, MAX_REFERENCES))
        return
    if asked.unexported:
        await ctx.reply(batch_blocks.unexported_not_available())
        return
    if len(asked.references) == 1 and not asked.problems:
        await ctx.reply(await _request_one(ctx, asked.references[0]))
        return
    answers = [(reference, await _request_one(ctx, reference)) for reference in asked.references]
    await ctx.reply(batch_blocks.several_answers(answers, batch_blocks.problems_as_refusals(asked.problems)))


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


def chosen_tenant(state: State | None) -> str | None:
    """The organisation picked on the approval message (Slack sends the message's input state)."""
    for block in (state.values if state else {}).values():
        picked = block.get(blocks.PICK_TENANT_ACTION)
        if picked and picked.selected_option:
            return picked.selected_option.value
    return None


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    router.add("export", export, usage=blocks.USAGE, example="/xero export INV-123",
               summary="Send Forecast invoices to Xero. An approver approves each one in the approval channel.")
    service = container.exports

    async def note_message(click: BlockAction) -> None:
        """Approve and Reject are only on approval messages: one we did not record is a copy to redraw."""
        await service.clicked_on(click.team_id, click.record_id(), click.channel_id,
                                 click.message.ts if click.message else None)

    async def answer(click: BlockAction, respond, outcome) -> None:
        if isinstance(outcome, Refused):
            await answer_click(container, click, respond, blocks.click_refused(outcome))

    @app.action(blocks.APPROVE_ACTION)
    async def approve(ack, context, respond):
        await ack()  # the export itself runs in a job (services/exports.py): this only approves and enqueues
        click = BlockAction.of(context)
        outcome = await service.approve(click.team_id, click.record_id(), click.user_id, chosen_tenant(click.state))
        await answer(click, respond, outcome)
        await note_message(click)

    @app.action(blocks.PICK_TENANT_ACTION)
    async def tenant_picked(ack):
        await ack()  # the choice is read from the message state when Approve is clicked

    @app.action(blocks.OPEN_XERO_ACTION)
    async def xero_link_opened(ack):
        await ack()  # the browser opens the link; nothing to do here

    @app.action(blocks.RETRY_ACTION)
    async def retry(ack, context, respond):
        await ack()
        click = BlockAction.of(context)
        outcome = await service.retry(click.team_id, click.record_id(), click.user_id)
        await answer(click, respond, outcome)  # every message about the job is redrawn by the outbox

    @app.action(blocks.REJECT_ACTION)
    async def open_reject(ack, context, respond):
        await ack()
        click = BlockAction.of(context)
        outcome = await service.can_reject(click.team_id, click.record_id(), click.user_id)
        if isinstance(outcome, Refused):
            await answer(click, respond, outcome)
            return
        modal = blocks.reject_modal(outcome.job, channel_id=click.channel_id)
        await container.gateway.open_modal(click.trigger(), modal)
        await note_message(click)  # after the modal: its trigger lasts 3 s

    @app.view(blocks.REJECT_CALLBACK_ID)
    async def reject(ack, context):
        submission = ViewSubmission.of(context)
        meta = submission.metadata
        if meta.job_id is None:
            raise UnreadablePayload("the reject form names no export")
        await ack()
        reason = submission.view.state.element(blocks.REJECT_REASON_BLOCK, blocks.REJECT_REASON_ACTION).value
        user_id = submission.user_id
        outcome = await service.reject(submission.team_id, meta.job_id, user_id, reason)
        if isinstance(outcome, Refused):
            await notify_user(container, user_id, meta.channel_id, blocks.click_refused(outcome))
