"""The App Home tab: drawn when someone opens it; its Approve and Retry buttons."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from bot.blocks import exports as export_blocks
from bot.blocks import home as blocks
from bot.container import Container
from handlers.router import CommandRouter
from services.exports import Refused

log = logging.getLogger(__name__)


def picked_tenant(body: dict, job_id: str) -> str | None:
    """The organisation chosen next to this request's Approve button on the Home tab, if any."""
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    picked = (values.get(blocks.pending_block_id(job_id)) or {}).get(blocks.HOME_PICK_TENANT_ACTION) or {}
    return (picked.get("selected_option") or {}).get("value")


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    home = container.home
    service = container.exports

    @app.event("app_home_opened")
    async def home_opened(event, body):
        if event.get("tab", "home") != "home":
            return  # the Messages tab: nothing to draw
        await home.opened(body.get("team_id") or "", event["user"])

    async def after_click(team_id: str, user_id: str, outcome) -> None:
        if isinstance(outcome, Refused):  # a Home tab has no response_url: say it in the DM with the bot
            await container.slack.chat_postMessage(channel=user_id, **export_blocks.click_refused(outcome))
        await home.refresh(team_id)

    @app.action(blocks.HOME_APPROVE_ACTION)
    async def approve_from_home(ack, body):
        await ack()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        job_id = body["actions"][0]["value"]
        outcome = await service.approve(team_id, job_id, user_id, picked_tenant(body, job_id))
        await after_click(team_id, user_id, outcome)

    @app.action(blocks.HOME_PICK_TENANT_ACTION)
    async def tenant_picked_on_home(ack):
        await ack()  # read from the Home view's state when Approve is clicked

    @app.action(blocks.HOME_RETRY_ACTION)
    async def retry_from_home(ack, body):
        await ack()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        outcome = await service.retry(team_id, body["actions"][0]["value"], user_id)
        await after_click(team_id, user_id, outcome)
