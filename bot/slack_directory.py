"""The permission checks' view of Slack people, through the Web API."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class SlackUserDirectory:
    def __init__(self, client: AsyncWebClient):
        self.client = client

    async def is_workspace_admin(self, user_id: str) -> bool:
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("slack.users_info_failed error=%s", slack_error(exc))
            return False
        user = response.get("user") or {}
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))

    async def usergroup_members(self, usergroup_id: str) -> set[str]:
        try:
            response = await self.client.usergroups_users_list(usergroup=usergroup_id)
        except SlackApiError as exc:
            log.warning("slack.usergroup_failed error=%s", slack_error(exc))
            return set()
        return set(response.get("users") or [])


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code (`channel_not_found`, …), whatever shape the response had."""
    data = getattr(exc.response, "data", None)
    return str(data.get("error")) if isinstance(data, dict) else f"HTTP {getattr(exc.response, 'status_code', '?')}"
