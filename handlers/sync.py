"""/xero sync: read every connected organisation for changes now; each organisation's job answers. The drift
report's Re-sync button does the same."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.blocks import sync as blocks
from bot.blocks.connections import not_admin
from bot.container import Container
from bot.requests.reader import BlockAction
from handlers.connections import answer_click
from handlers.router import CommandContext, CommandRouter


async def sync_now(ctx: CommandContext) -> None:
    requested = await ctx.container.xero_sync.request_sync(ctx.team_id, ctx.user_id, ctx.channel_id)
    await ctx.reply(blocks.sync_started(requested))


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    router.add("sync", sync_now, usage="/xero sync", admin_only=True, example="/xero sync",
               summary="Read payments, statuses and contact changes from Xero now, and say what changed.")

    @app.action(blocks.DRIFT_RESYNC_ACTION)
    async def resync(ack, context, respond):
        await ack()
        click = BlockAction.of(context)
        if not await container.permissions.is_admin(click.team_id, click.user_id):
            await answer_click(container, click, respond,
                               not_admin("/xero sync", await container.permissions.admins(click.team_id)))
            return
        requested = await container.xero_sync.request_sync(click.team_id, click.user_id, click.channel_id)
        await answer_click(container, click, respond, blocks.sync_started(requested))
