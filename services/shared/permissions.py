"""Who may administer the bot: Slack workspace admins and owners, plus the ids in BOT_ADMINS."""

from __future__ import annotations

from typing import Protocol


class UserDirectory(Protocol):
    """What the permission checks need to know about people; implemented on Slack's side."""

    async def is_workspace_admin(self, team_id: str, user_id: str) -> bool: ...

    async def usergroup_members(self, team_id: str, usergroup_id: str) -> set[str]: ...

    async def workspace_admins(self, team_id: str) -> list[str]: ...


class Permissions:
    def __init__(self, directory: UserDirectory, bot_admins: set[str]):
        self.directory = directory
        self.bot_admins = set(bot_admins)

    async def is_admin(self, team_id: str, user_id: str) -> bool:
        """An admin or owner of the workspace `team_id`, or one of BOT_ADMINS."""
        if user_id in self.bot_admins:
            return True
        return await self.directory.is_workspace_admin(team_id, user_id)

    async def admins(self, team_id: str) -> list[str]:
        """Who a person refused an admin's command can ask: BOT_ADMINS first, then the workspace's admins."""
        named = sorted(self.bot_admins)
        return named + [u for u in await self.directory.workspace_admins(team_id) if u not in self.bot_admins]
