"""The App Home tab: drawn when someone opens it; its Approve and Retry buttons."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.blocks import exports as export_blocks
from bot.blocks import home as blocks
from bot.container import Container
from bot.requests import BlockAction, EventCallback, View
from handlers.router import CommandRouter
from services.exports.service import Refused

log = logging.getLogger(__name__)


def picked_tenant(view: View | None, job_id: str) -> str | None:
    """The organisation chosen next to this request's Approve button on the Home tab, if any."""
    if view is None:
        return None
    picked = view.state.element(blocks.pending_block_id(job_id), blocks.HOME_PICK_TENANT_ACTION).selected_option
    return picked.value if picked else None


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    home = container.home
    service = container.exports

    @app.event("app_home_opened")
    async def home_opened(context):
        opened = EventCallback.of(context)
        if (opened.event.tab or "home") != "home" or opened.user_id is None:
            return  # the Messages tab: nothing to draw
        await home.opened(opened.team_id, opened.user_id)

    async def after_click(team_id: str, user_id: str, outcome) -> None:
        if isinstance(outcome, Refused):  # a Home tab has no response_url: say it in the DM with the bot
            await container.gateway.for_team(team_id).notify_user(user_id, None, export_blocks.click_refused(outcome))
        await home.refresh(team_id)

    @app.action(blocks.HOME_APPROVE_ACTION)
    async def approve_from_home(ack, context):
        await ack()
        click = BlockAction.of(context)
        job_id = click.record_id()
        outcome = await service.approve(click.team_id, job_id, click.user_id, picked_tenant(click.view, job_id))
        await after_click(click.team_id, click.user_id, outcome)

    @app.action(blocks.HOME_PICK_TENANT_ACTION)
    async def tenant_picked_on_home(ack):
        await ack()  # read from the Home view's state when Approve is clicked

    @app.action(blocks.HOME_RETRY_ACTION)
    async def retry_from_home(ack, context):
        await ack()
        click = BlockAction.of(context)
        outcome = await service.retry(click.team_id, click.record_id(), click.user_id)
        await after_click(click.team_id, click.user_id, outcome)
