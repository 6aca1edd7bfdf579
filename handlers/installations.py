"""Slack tells the bot it was uninstalled, or its tokens revoked (either order, either alone)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.container import Container
from bot.requests import EventCallback
from handlers.router import CommandRouter


def org_wide(event: EventCallback) -> bool:
    if event.authorizations:
        return event.authorizations[0].is_enterprise_install
    return bool(event.is_enterprise_install)


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    offboarding = container.offboarding
    if offboarding is None:  # single-workspace mode: the token is the operator's, in the environment
        return

    @app.event("app_uninstalled")
    async def app_uninstalled(context):
        event = EventCallback.of(context)
        await offboarding.uninstalled(event.team_id, event.enterprise_id, org_wide(event))

    @app.event("tokens_revoked")
    async def tokens_revoked(context):
        event = EventCallback.of(context)
        revoked = event.event.tokens
        await offboarding.tokens_revoked(event.team_id, event.enterprise_id, org_wide(event),
                                         bots=list(revoked.bot) if revoked else [],
                                         users=list(revoked.oauth) if revoked else [])
