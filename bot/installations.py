"""slack_sdk's installation and OAuth state store interfaces over the MongoDB stores in services/installations.

bolt's OAuth flow saves installs through `MongoInstallationStore` and checks "Add to Slack" states through
`MongoOAuthStateStore`; `WorkspaceTokens` is the `token_for(team_id, enterprise_id)` resolver every Slack call
uses in distributed mode, and `SingleFlightAuthorize` is bolt's authorize over it (a token that rotates is
refreshed by one process, the others wait for it).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.authorization.authorize_result import AuthorizeResult
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import pages
from bot.config import Settings
from bot.slack_gateway import build_client
from services.connections.service import ConnectionsService
from services.installations.store import (
    InstallationRecords,
    InstallStates,
    RefreshedToken,
    RefreshRefused,
    Uninstalls,
    Workspace,
)
from services.platform.crypto import SecretBox
from services.platform.hooks import Hook
from services.platform.jobs import JobQueue
from services.platform.logfmt import fields
from services.platform.storage import Storage

log = logging.getLogger(__name__)

BOT_FIELDS = ("app_id", "enterprise_id", "enterprise_name", "team_id", "team_name", "bot_token", "bot_id",
              "bot_user_id", "bot_scopes", "bot_refresh_token", "bot_token_expires_at", "is_enterprise_install",
              "installed_at", "custom_values")


INSTALLATION_FIELDS = tuple(name for name in inspect.signature(Installation).parameters
                            if not name.endswith("_expires_in"))  # a stored row has the expiry dates instead


def _installation_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in INSTALLATION_FIELDS if name in row}


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
        if token is None and team_id and not enterprise_id:  # work naming only a workspace of a Grid org
            enterprise_id = await self.records.org_of(self.client_id, team_id)
        if token is None and enterprise_id:
            token = await self.records.bot_token(self.client_id, Workspace.of(enterprise_id, None, True), self.refresh)
            if token is not None and team_id:
                await self.records.remember_team(self.client_id, enterprise_id, team_id)
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


# The install itself ---------------------------------------------------------------------------------------

# bolt's OAuth flow logs a refused code in full ("Failed to fetch oauth.v2.access result with code: ..."): a
# credential, if a short-lived one. Its outcomes are logged by InstallAnswers (the reason, never the code).
QUIET_BOLT = logging.getLogger("bot.installations.bolt_oauth")
QUIET_BOLT.disabled = True



class LedgerlineOAuthFlow(AsyncOAuthFlow):
    """bolt's OAuth v2 flow with Ledgerline's own "Add to Slack" page."""

    async def build_install_page_html(self, url: str, request: AsyncBoltRequest) -> str:
        return pages.add_to_slack_page(url)


class InstallAnswers:
    """What the browser sees when Slack sends the installer back, and the installer's welcome DM."""

    def __init__(self, settings: Settings, installed: Hook[[Installation]]):
        self.settings = settings
        self.installed = installed  # told of each completed install, after it is saved

    async def succeeded(self, args: AsyncSuccessArgs) -> BoltResponse:
        installation = args.installation
        log.info("slack.installed", **fields(team=installation.team_id, enterprise=installation.enterprise_id,
                                            org_wide=installation.is_enterprise_install))
        try:
            await self.installed(installation)
        except Exception:  # the install is saved: the page must still say so
            log.exception("slack.install_listener_failed")
        name = installation.team_name or installation.enterprise_name or ""
        return _html(pages.installed_page(name), 200)

    async def failed(self, args: AsyncFailureArgs) -> BoltResponse:
        log.info("slack.install_failed", **fields(reason=args.reason))
        if args.reason == "access_denied":
            return _html(pages.install_declined_page(), 200)
        if args.reason in ("invalid_state", "invalid_browser", "missing_code"):
            return _html(pages.install_link_expired_page(), 400)
        return _html(pages.install_failed_page(), 502 if args.reason == "invalid_code" else 500)


@dataclass
class Installations:
    """Distributed mode: the stores, the token resolver and bolt's OAuth flow, built once."""

    records: InstallationRecords
    store: MongoInstallationStore
    tokens: WorkspaceTokens
    answers: InstallAnswers
    flow: LedgerlineOAuthFlow

    def authorize(self) -> SingleFlightAuthorize:
        return SingleFlightAuthorize(self.tokens)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(self.flow.install_path, self.install)
        app.router.add_get(self.flow.redirect_uri_path, self.redirect)

    async def install(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self.flow.handle_installation(_bolt_request(request)))

    async def redirect(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self.flow.handle_callback(_bolt_request(request)))


def _bolt_request(request: web.Request) -> AsyncBoltRequest:
    headers: dict[str, str | Sequence[str]] = {name.lower(): value for name, value in request.headers.items()}
    return AsyncBoltRequest(body="", query=request.query_string, headers=headers)


def _html(body: str, status: int) -> BoltResponse:
    return BoltResponse(status=status, body=body, headers={"content-type": "text/html; charset=utf-8"})


def build_installations(settings: Settings, storage: Storage, box: SecretBox,
                        installed: Hook[[Installation]]) -> Installations | None:
    """None in single-workspace mode (no SLACK_CLIENT_ID): SLACK_BOT_TOKEN serves the one workspace.
    `installed` is announced after each completed install."""
    if not settings.distributed:
        return None
    client_id = settings.slack_client_id or ""
    client_secret = settings.slack_client_secret.get_secret_value() if settings.slack_client_secret else ""
    client = build_client(None, settings.slack_api_url)
    records = InstallationRecords(storage, box)
    store = MongoInstallationStore(records, client_id)
    tokens = WorkspaceTokens(records, client, client_id, client_secret)
    answers = InstallAnswers(settings, installed)
    oauth_settings = AsyncOAuthSettings(
        client_id=client_id, client_secret=client_secret, scopes=settings.slack_scopes,
        redirect_uri=settings.slack_redirect_uri, authorization_url=settings.slack_authorize_url,
        installation_store=store, installation_store_bot_only=True, state_store=MongoOAuthStateStore(
            InstallStates(storage)),
        callback_options=AsyncCallbackOptions(success=answers.succeeded, failure=answers.failed),
    )
    return Installations(records=records, store=store, tokens=tokens, answers=answers,
                         flow=LedgerlineOAuthFlow(client=client, settings=oauth_settings, logger=QUIET_BOLT))



# Uninstall ------------------------------------------------------------------------------------------------
class Offboarding:
    """What an uninstall does: app_uninstalled and tokens_revoked (in either order, each maybe twice) delete
    the workspace's Slack tokens at once, revoke and delete its Xero token sets, and cancel its queued jobs
    (an Enterprise Grid org-wide install: those of every workspace of the org it served)
    (its organisations are no longer connected, so periodic sync leaves them alone). Its organisations, links
    and history stay DATA_RETENTION_DAYS for a reinstall, then `sweep` deletes them."""

    def __init__(self, installations: Installations, connections: ConnectionsService, jobs: JobQueue,
                 storage: Storage, *, retention_days: int, client_id: str):
        self.installations = installations
        self.connections = connections
        self.jobs = jobs
        self.storage = storage
        self.uninstalls = Uninstalls(storage)
        self.retention = timedelta(days=retention_days)
        self.client_id = client_id

    async def uninstalled(self, team_id: str | None, enterprise_id: str | None, org_wide: bool) -> None:
        where = Workspace.of(enterprise_id, team_id, org_wide)
        records = self.installations.records
        served = await self._served_by(where)  # before the delete: it forgets which workspaces an org served
        bots = await records.delete_bot(self.client_id, where)
        users = await records.delete_installation(self.client_id, where)
        token_sets = cancelled = 0
        for team_id in served:
            token_sets += await self.connections.forget_xero_tokens(team_id)
            cancelled += await self.jobs.cancel_team(team_id)
            if team_id != where.team_id:
                await self.uninstalls.uninstalled(Workspace(where.enterprise_id, team_id), via_org=True)
        await self.uninstalls.uninstalled(where)
        log.info("slack.uninstalled", **fields(team=where.team_id or None, enterprise=where.enterprise_id or None,
                                              workspaces=len(served), slack_rows=bots + users,
                                              xero_token_sets=token_sets, jobs=cancelled))

    async def _served_by(self, where: Workspace) -> list[str]:
        """The workspaces whose work this install did: itself, or for an org-wide install every workspace of the
        org it served (not one with its own install, which stays)."""
        if where.team_id:
            return [where.team_id]
        records = self.installations.records
        return [team_id for team_id in await records.teams_of(self.client_id, where.enterprise_id)
                if not await records.installed(self.client_id, Workspace(where.enterprise_id, team_id))]

    async def tokens_revoked(self, team_id: str | None, enterprise_id: str | None, org_wide: bool, *,
                             bots: list[str], users: list[str]) -> None:
        if bots:  # the bot can no longer act here: as good as uninstalled (app_uninstalled may follow, or not)
            await self.uninstalled(team_id, enterprise_id, org_wide)
            return
        where = Workspace.of(enterprise_id, team_id, org_wide)
        for user_id in users:
            await self.installations.records.delete_installation(self.client_id, where, user_id)

    async def reinstalled(self, installation: Installation) -> None:
        where = Workspace.of(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        if await self.uninstalls.reinstalled(where):
            log.info("slack.reinstalled", **fields(team=where.team_id or None, enterprise=where.enterprise_id or None))

    async def sweep(self) -> int:
        """Deletes the data of workspaces uninstalled longer ago than the retention period."""
        due = await self.uninstalls.due(self.retention)
        for where in due:
            deleted = await self.storage.delete_workspace(where.team_id) if where.team_id else {}
            await self.uninstalls.forgotten(where)
            log.info("slack.workspace_data_deleted", **fields(team=where.team_id or None,
                                                              documents=sum(deleted.values())))
        return len(due)
