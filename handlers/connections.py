"""/xero connect, list and remove, the Remove button and the confirmation modal."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.blocks import connections as blocks
from bot.blocks import requests as request_blocks
from bot.container import Container
from bot.requests import BlockAction, UnreadablePayload, ViewSubmission
from handlers.router import CommandContext, CommandRouter
from services.connections.service import TenantNotFound
from services.xero.errors import XeroError

log = logging.getLogger(__name__)


async def connect(ctx: CommandContext) -> None:
    started = await ctx.container.connections.start_consent(ctx.team_id, ctx.user_id, channel_id=ctx.channel_id,
                                                            answer_url=ctx.response_url or None)
    await ctx.reply(blocks.connect_prompt(started.authorize_url, started.expires_in_minutes))


async def list_organisations(ctx: CommandContext) -> None:
    tenants = await ctx.container.connections.list_tenants(ctx.team_id)
    await ctx.reply(blocks.organisations_list(tenants))


async def remove(ctx: CommandContext) -> None:
    service = ctx.container.connections
    if not ctx.args:
        await ctx.reply(blocks.remove_picker(await service.list_tenants(ctx.team_id)))
        return
    query = " ".join(ctx.args)
    matches = await service.find_by_name(ctx.team_id, query)
    if not matches:
        await ctx.reply(blocks.remove_not_found(query))
    elif len(matches) > 1:
        await ctx.reply(blocks.remove_ambiguous(query, matches))
    else:
        preview = await service.preview_removal(ctx.team_id, matches[0].tenant_id)
        waiting = await ctx.container.exports.waiting_in(ctx.team_id, matches[0].tenant_id)
        await ctx.later()
        opened = await ctx.container.gateway.for_team(ctx.team_id).open_modal(
            ctx.trigger_id, blocks.remove_modal(preview, channel_id=ctx.channel_id, waiting=waiting))
        if opened is None:  # the gateway logged why
            await ctx.reply(request_blocks.unexpected_failure())


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    router.add("connect", connect, usage="/xero connect", admin_only=True, example="/xero connect",
               summary="Connect one or more Xero organisations (sign in at Xero and click Allow access).")
    router.add("list", list_organisations, usage="/xero list", example="/xero list",
               summary="Show the connected organisations, who connected them and their status.")
    router.add("remove", remove, usage="/xero remove [organisation]", admin_only=True,
               example="/xero remove Demo Company (UK)",
               summary="Disconnect an organisation, after a confirmation that says what gets unlinked.")

    @app.action(blocks.CONNECT_LINK_ACTION)
    async def acknowledge_link_click(ack, context, respond):
        await ack()  # Slack reports clicks on link buttons too; the browser does the rest
        if BlockAction.of(context).response_url:
            await respond(replace_original=True, **blocks.connect_link_used())  # the link works once

    @app.action(blocks.REMOVE_OPEN_ACTION)
    async def open_remove_modal(ack, context, respond):
        await ack()
        click = BlockAction.of(context)
        if not await container.permissions.is_admin(click.team_id, click.user_id):
            await answer_click(container, click, respond,
                                blocks.not_admin("/xero remove", await container.permissions.admins(click.team_id)))
            return
        try:
            preview = await container.connections.preview_removal(click.team_id, click.record_id())
        except TenantNotFound:
            await answer_click(container, click, respond, blocks.no_longer_connected())
            return
        waiting = await container.exports.waiting_in(click.team_id, click.record_id())
        opened = await container.gateway.for_team(click.team_id).open_modal(
            click.trigger(), blocks.remove_modal(preview, channel_id=click.channel_id, waiting=waiting))
        if opened is None:  # the gateway logged why
            await answer_click(container, click, respond, request_blocks.unexpected_failure())

    @app.view(blocks.REMOVE_CALLBACK_ID)
    async def confirm_removal(ack, context):
        submission = ViewSubmission.of(context)
        user_id, meta = submission.user_id, submission.metadata
        if meta.tenant_id is None:
            raise UnreadablePayload("the removal form names no organisation")
        await ack()
        if not await container.permissions.is_admin(submission.team_id, user_id):
            await notify_user(container, submission.team_id, user_id, meta.channel_id,
                              blocks.not_admin("/xero remove", await container.permissions.admins(submission.team_id)))
            return
        try:
            result = await container.connections.remove(submission.team_id, meta.tenant_id, removed_by=user_id)
            payload = blocks.removal_done(result, user_id)
            await container.home.refresh(submission.team_id)
        except TenantNotFound:
            payload = blocks.already_removed()
        except XeroError as exc:
            payload = blocks.disconnect_failed(exc)
        await notify_user(container, submission.team_id, user_id, meta.channel_id, payload)
        await container.exports.redraw_pending(submission.team_id)  # pending requests are routed without it


async def answer_click(container: Container, click: BlockAction, respond, payload: dict) -> None:
    """Ephemeral under the clicked message; a click inside a modal has no response_url, so as notify_user."""
    if click.response_url:
        await respond(response_type="ephemeral", replace_original=False, **payload)
    else:
        await notify_user(container, click.team_id, click.user_id, click.channel_id, payload)


async def notify_user(container: Container, team_id: str, user_id: str, channel_id: str | None,
                      payload: dict) -> None:
    """Ephemeral in the channel the person started from; their DM with the bot if that is not possible."""
    await container.gateway.for_team(team_id).notify_user(user_id, channel_id, payload)
