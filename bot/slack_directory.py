"""The permission checks' view of Slack people, through the gateway (services know nothing of Slack)."""

from __future__ import annotations

from bot.slack_gateway import SlackGateway


class SlackUserDirectory:
    def __init__(self, gateway: SlackGateway):
        self.gateway = gateway

    async def is_workspace_admin(self, team_id: str, user_id: str) -> bool:
        person = await self.gateway.for_team(team_id).user(user_id)
        return bool(person and person.is_admin)

    async def usergroup_members(self, team_id: str, usergroup_id: str) -> set[str]:
        return await self.gateway.for_team(team_id).usergroup_members(usergroup_id)

    async def workspace_admins(self, team_id: str) -> list[str]:
        return await self.gateway.for_team(team_id).admin_ids()
