"""/xero sync: read every connected organisation for changes now; each organisation's job answers."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.blocks import sync as blocks
from bot.container import Container
from handlers.router import CommandContext, CommandRouter


async def sync_now(ctx: CommandContext) -> None:
    requested = await ctx.container.xero_sync.request_sync(ctx.team_id, ctx.user_id, ctx.channel_id)
    await ctx.reply(blocks.sync_started(requested))


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    router.add("sync", sync_now, usage="/xero sync", admin_only=True, example="/xero sync",
               summary="Read payments, statuses and contact changes from Xero now, and say what changed.")
