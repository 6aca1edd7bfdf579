"""slack_sdk's installation and OAuth state store interfaces over the MongoDB stores in services/installations.

bolt's OAuth flow saves installs through `MongoInstallationStore` and checks "Add to Slack" states through
`MongoOAuthStateStore`; `WorkspaceTokens` is the `token_for(team_id, enterprise_id)` resolver every Slack call
uses in distributed mode, and `SingleFlightAuthorize` is bolt's authorize over it (a token that rotates is
refreshed by one process, the others wait for it).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.authorization.authorize_result import AuthorizeResult
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from services.installations.store import (
    InstallationRecords,
    InstallStates,
    RefreshedToken,
    RefreshRefused,
    Workspace,
)

log = logging.getLogger(__name__)

BOT_FIELDS = ("app_id", "enterprise_id", "enterprise_name", "team_id", "team_name", "bot_token", "bot_id",
              "bot_user_id", "bot_scopes", "bot_refresh_token", "bot_token_expires_at", "is_enterprise_install",
              "installed_at", "custom_values")


def _installation_fields(row: dict[str, Any]) -> dict[str, Any]:
    names = Installation.__init__.__code__.co_varnames[1:Installation.__init__.__code__.co_kwonlyargcount + 1]
    return {name: row[name] for name in names if name in row and not name.endswith("_expires_in")}


class MongoInstallationStore(AsyncInstallationStore):
    def __init__(self, records: InstallationRecords, client_id: str):
        self.records = records
        self.client_id = client_id
        self._logger = log

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    async def async_save(self, installation: Installation) -> None:
        await self.records.save_installation(self.client_id, installation.to_dict_for_copying())
        if installation.bot_token:
            await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        await self.records.save_bot(self.client_id, bot.to_dict_for_copying())

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        row = await self.records.find_bot(self.client_id, Workspace.of(enterprise_id, team_id, is_enterprise_install))
        if row is None:
            return None
        values: dict[str, Any] = {name: row[name] for name in BOT_FIELDS if row.get(name) is not None}
        return Bot(**values)

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None, is_enterprise_install: bool | None = False
                                      ) -> Installation | None:
        row = await self.records.find_installation(
            self.client_id, Workspace.of(enterprise_id, team_id, is_enterprise_install), user_id)
        return None if row is None else Installation(**_installation_fields(row))

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.records.delete_bot(self.client_id, Workspace.of(enterprise_id, team_id))

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        await self.records.delete_installation(self.client_id, Workspace.of(enterprise_id, team_id), user_id)


class MongoOAuthStateStore(AsyncOAuthStateStore):
    def __init__(self, states: InstallStates):
        self.states = states

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await self.states.issue()

    async def async_consume(self, state: str) -> bool:
        return await self.states.consume(state)


class WorkspaceTokens:
    """The bot token of a workspace: its installation's, refreshed single-flight when it rotates.

    For an Enterprise Grid org-wide install the org's token serves every workspace of the org."""

    def __init__(self, records: InstallationRecords, client: AsyncWebClient, client_id: str, client_secret: str):
        self.records = records
        self.client = client  # Slack's Web API (SLACK_API_URL), for oauth.v2.access
        self.client_id = client_id
        self.client_secret = client_secret

    async def token_for(self, team_id: str | None, enterprise_id: str | None = None) -> str | None:
        token = None
        if team_id:
            token = await self.records.bot_token(self.client_id, Workspace.of(enterprise_id, team_id), self.refresh)
        if token is None and enterprise_id:
            token = await self.records.bot_token(self.client_id, Workspace.of(enterprise_id, None, True), self.refresh)
        return token

    async def refresh(self, refresh_token: str) -> RefreshedToken:
        try:
            answer = await self.client.oauth_v2_access(client_id=self.client_id, client_secret=self.client_secret,
                                                       grant_type="refresh_token", refresh_token=refresh_token)
        except SlackApiError as exc:
            if isinstance(exc.response.data, dict) and exc.response.data.get("error") in (
                    "invalid_refresh_token", "invalid_grant", "token_revoked", "app_uninstalled"):
                raise RefreshRefused() from None
            raise
        return RefreshedToken(access_token=str(answer["access_token"]), refresh_token=str(answer["refresh_token"]),
                              expires_in=int(answer.get("expires_in") or 43200))


class SingleFlightAuthorize(AsyncAuthorize):
    """bolt's authorize in distributed mode: the request's workspace token through `WorkspaceTokens`."""

    def __init__(self, tokens: WorkspaceTokens):
        self.tokens = tokens

    async def __call__(self, *, context: AsyncBoltContext, enterprise_id: str | None, team_id: str | None,
                       user_id: str | None, actor_enterprise_id: str | None = None,
                       actor_team_id: str | None = None, actor_user_id: str | None = None) -> AuthorizeResult | None:
        token = await self.tokens.token_for(team_id, enterprise_id)
        if token is None:
            log.info("slack.not_installed")
            return None
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=token)
