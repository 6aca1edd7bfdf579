"""/xero export, and the Approve / Reject / Retry buttons and the reject-reason modal."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.blocks import batches as batch_blocks
from bot.blocks import exports as blocks
from bot.container import Container
from bot.requests import BlockAction, State, UnreadablePayload, ViewSubmission
from handlers.connections import answer_click, notify_user
from handlers.router import CommandContext, CommandRouter
from services.exports.refs import MAX_BATCH, parse_export_args
from services.exports.service import ExportRefused, Ready, Refused

log = logging.getLogger(__name__)


async def export(ctx: CommandContext) -> None:
    asked = parse_export_args(" ".join(ctx.args))
    if asked.empty:
        await ctx.reply(blocks.usage())
        return
    too_many = next((p for p in asked.problems if p.code == "too_many"), None)
    if too_many is not None:  # nothing is requested: the admin splits the list
        await ctx.reply(blocks.too_many_references(MAX_BATCH + too_many.count, MAX_BATCH))
        return
    try:  # what is missing (a key, an organisation, a channel) is known without Forecast: said in the ack
        ready = await ctx.container.exports.ready_to_request(ctx.team_id)
    except ExportRefused as refusal:
        await ctx.reply(blocks.refused(refusal.code, refusal.data))
        return
    await ctx.later()  # the invoices are read from Forecast, then checked in Xero
    if len(asked.references) == 1 and not asked.problems:
        await ctx.reply(await _request_one(ctx, asked.references[0], ready))
        return
    await ctx.reply(await _request_batch(ctx, asked, ready))


async def _request_batch(ctx: CommandContext, asked, ready: Ready) -> dict:
    """Several references, a range or `unexported`: one batch, one approval message, one answer."""
    container = ctx.container
    try:
        requested = await container.batches.request(ctx.team_id, ctx.user_id, ctx.channel_id, asked, ready=ready)
    except ExportRefused as refusal:
        return blocks.refused(refusal.code, refusal.data)
    refused = batch_blocks.problems_as_refusals(asked.problems) + [
        batch_blocks.RefusedReference(r.reference, r.reason, dict(r.data)) for r in requested.refused]
    channel = requested.batch.approval_channel if requested.batch else None
    return batch_blocks.batch_requested(requested.requested + len(asked.problems), refused, requested.view, channel)


async def _request_one(ctx: CommandContext, reference: str, ready: Ready) -> dict:
    try:
        outcome = await ctx.container.exports.request_export(ctx.team_id, ctx.user_id, ctx.channel_id, reference,
                                                             ready=ready)
    except ExportRefused as refusal:
        return blocks.refused(refusal.code, refusal.data)
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
               summary="Send Forecast invoices to Xero; an approver approves them in the approval channel. "
                       "Several references, ranges (`INV-101..INV-130`, up to 500) and "
                       "`/xero export unexported [client]` (every approved or sent invoice not yet in Xero) "
                       "make one batch with one approval message.")
    service = container.exports

    async def note_message(click: BlockAction) -> None:
        """Approve and Reject are only on approval messages: one we did not record is a copy to redraw."""
        await service.clicked_on(click.team_id, click.record_id(), click.channel_id,
                                 click.message.ts if click.message else None)

    async def answer(click: BlockAction, respond, outcome) -> None:
        if isinstance(outcome, Refused):
            await answer_click(container, click, respond, blocks.click_refused(outcome))
        elif outcome.recorded:
            await answer_click(container, click, respond, blocks.approval_recorded(outcome.job))

    @app.action(blocks.APPROVE_ACTION)
    async def approve(ack, context, respond):
        await ack()  # the export itself runs in a job (services/exports/service.py): this only approves and enqueues
        click = BlockAction.of(context)
        outcome = await service.approve(click.team_id, click.record_id(), click.user_id, chosen_tenant(click.state))
        await answer(click, respond, outcome)
        await note_message(click)

    @app.action(blocks.PICK_TENANT_ACTION)
    async def tenant_picked(ack, context, respond):
        await ack()  # checked in that organisation and redrawn; Approve reads the choice from the message too
        click = BlockAction.of(context)
        job_id = blocks.picked_job_id(click.action.block_id)
        picked = click.action.selected_option
        if job_id is None or picked is None:
            return  # a picker drawn before it named its export: Approve reads the choice
        outcome = await service.pick_tenant(click.team_id, job_id, click.user_id, picked.value)
        await answer(click, respond, outcome)

    @app.action(blocks.ALLOW_DUPLICATE_ACTION)
    async def allow_duplicate(ack, context, respond):
        await ack()
        click = BlockAction.of(context)
        outcome = await service.allow_duplicate(click.team_id, click.record_id(), click.user_id)
        await answer(click, respond, outcome)

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
        await container.gateway.for_team(click.team_id).open_modal(click.trigger(), modal)
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
            await notify_user(container, submission.team_id, user_id, meta.channel_id, blocks.click_refused(outcome))

    register_batch_actions(app, container)


def chosen_duplicates(state: State | None) -> list[str]:
    """The invoices an admin picked to export again despite a removed organisation."""
    for block in (state.values if state else {}).values():
        picked = block.get(batch_blocks.DUPLICATE_ACTION)
        if picked:
            return [option.value for option in picked.selected_options]
    return []


def register_batch_actions(app: AsyncApp, container: Container) -> None:
    batches = container.batches

    async def approve_batch(context, respond, *, only_ready: bool) -> None:
        click = BlockAction.of(context)
        refusal = await batches.approve(click.team_id, click.record_id(), click.user_id, only_ready=only_ready,
                                        duplicates=chosen_duplicates(click.state))
        if refusal:
            await answer_click(container, click, respond, batch_blocks.batch_click_refused(refusal))

    @app.action(batch_blocks.APPROVE_ALL_ACTION)
    async def approve_all(ack, context, respond):
        await ack()  # the export runs in one job per organisation (services/exports/batches.py)
        await approve_batch(context, respond, only_ready=False)

    @app.action(batch_blocks.APPROVE_READY_ACTION)
    async def approve_ready(ack, context, respond):
        await ack()
        await approve_batch(context, respond, only_ready=True)

    @app.action(batch_blocks.REJECT_ACTION)
    async def open_batch_reject(ack, context, respond):
        await ack()
        click = BlockAction.of(context)
        batch_id = click.record_id()
        refusal = await batches.can_reject(click.team_id, batch_id, click.user_id)
        view = None if refusal else await batches.view(click.team_id, batch_id)
        if view is None:
            await answer_click(container, click, respond, batch_blocks.batch_click_refused(refusal or "not_found"))
            return
        await container.gateway.for_team(click.team_id).open_modal(
            click.trigger(), batch_blocks.batch_reject_modal(view, channel_id=click.channel_id))

    @app.view(batch_blocks.REJECT_CALLBACK_ID)
    async def reject_batch(ack, context):
        submission = ViewSubmission.of(context)
        meta = submission.metadata
        if meta.batch_id is None:
            raise UnreadablePayload("the reject form names no batch")
        await ack()
        reason = submission.view.state.element(batch_blocks.REJECT_REASON_BLOCK,
                                               batch_blocks.REJECT_REASON_ACTION).value
        refusal = await batches.reject(submission.team_id, meta.batch_id, submission.user_id, reason)
        if refusal:
            await notify_user(container, submission.team_id, submission.user_id, meta.channel_id,
                              batch_blocks.batch_click_refused(refusal))

    @app.action(batch_blocks.CHOOSE_ORGANISATION_ACTION)
    async def choose_organisation(ack, context, respond):
        await ack()  # the line is checked in that organisation (a Xero call or two), then the message redrawn
        click = BlockAction.of(context)
        choice = batch_blocks.read_organisation_choice(click.selected_value())
        if choice is None:
            raise UnreadablePayload("the organisation picker's value is not ours")
        refusal = await batches.choose_organisation(click.team_id, choice.batch_id, click.user_id, choice.tenant_id,
                                                    job_id=choice.job_id, client_id=choice.client_id)
        if refusal:
            await answer_click(container, click, respond, batch_blocks.batch_click_refused(refusal))
        if click.view is not None and click.view.id:  # chosen in "See all": the modal shows it too
            view = await batches.view(click.team_id, choice.batch_id)
            if view is not None:
                page = click.view.metadata.page or 0
                await container.gateway.for_team(click.team_id).update_modal(
                    click.view.id, batch_blocks.batch_lines_modal(view, page))

    @app.action(batch_blocks.DUPLICATE_ACTION)
    async def duplicates_picked(ack):
        await ack()  # read from the message state when Approve is clicked

    @app.action(batch_blocks.SEE_ALL_ACTION)
    async def see_all(ack, context, respond):
        await ack()
        click = BlockAction.of(context)
        view = await batches.view(click.team_id, click.record_id())
        if view is None:
            await answer_click(container, click, respond, batch_blocks.batch_click_refused("not_found"))
            return
        await container.gateway.for_team(click.team_id).open_modal(
            click.trigger(), batch_blocks.batch_lines_modal(view))

    @app.action(batch_blocks.LINES_PAGE_ACTION)
    async def see_page(ack, context):
        await ack()  # Next / Previous in "See all": the modal shows that page
        click = BlockAction.of(context)
        opened = click.open_view()
        page = batch_blocks.read_page(click.action.value)
        if opened.metadata.batch_id is None or page is None:
            raise UnreadablePayload("the page button names no batch or page")
        view = await batches.view(click.team_id, opened.metadata.batch_id)
        if view is not None:
            await container.gateway.for_team(click.team_id).update_modal(
                opened.id or "", batch_blocks.batch_lines_modal(view, page))
