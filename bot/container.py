"""Everything the handlers and routes need, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.export_notifier import SlackExportNotifier
from bot.slack_directory import SlackUserDirectory
from services.connections import ConnectionsService
from services.crypto import SecretBox
from services.exports import ExportService
from services.forecast import ForecastApi
from services.links import LinkStore
from services.permissions import Permissions
from services.storage import Storage
from services.workspace_settings import SettingsDefaults, WorkspaceSettingsService
from services.xero.client import XeroClient
from services.xero.identity import XeroIdentity
from services.xero.limiter import TenantLimiter
from services.xero.oauth import XeroOAuth
from services.xero.tokens import TokenService


@dataclass
class Container:
    settings: Settings
    storage: Storage
    http: aiohttp.ClientSession
    slack: AsyncWebClient
    box: SecretBox
    tokens: TokenService
    connections: ConnectionsService
    permissions: Permissions
    xero: XeroClient
    forecast: ForecastApi
    workspace_settings: WorkspaceSettingsService
    links: LinkStore
    exports: ExportService = field(init=False)  # built from the fields above

    async def close(self) -> None:
        await self.http.close()


def build_container(settings: Settings, storage: Storage, encryption_key: str, *,
                    xero_sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> Container:
    """`xero_sleep` is how the Xero client waits between retries (tests pass one that does not wait)."""
    http = aiohttp.ClientSession()
    slack = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None,
        base_url=settings.slack_api_url,
    )
    box = SecretBox(encryption_key)
    oauth = XeroOAuth(
        http,
        client_id=settings.xero_client_id or "",
        client_secret=settings.xero_client_secret.get_secret_value() if settings.xero_client_secret else None,
        redirect_uri=settings.xero_redirect_uri,
        authorize_url=settings.xero_authorize_url,
        token_url=settings.xero_token_url,
        scopes=settings.xero_scopes,
    )
    identity = XeroIdentity(http, settings.xero_api_url)
    tokens = TokenService(storage, box, oauth)
    container = Container(
        settings=settings,
        storage=storage,
        http=http,
        slack=slack,
        box=box,
        tokens=tokens,
        connections=ConnectionsService(storage, box, oauth, identity, tokens),
        permissions=Permissions(SlackUserDirectory(slack), settings.bot_admin_ids),
        # One limiter per process: Xero's limits are per organisation, whoever calls.
        xero=XeroClient(http, settings.xero_api_url, tokens, limiter=TenantLimiter(), sleep=xero_sleep),
        forecast=ForecastApi(http, settings.forecast_api_url),
        links=LinkStore(storage),
        workspace_settings=WorkspaceSettingsService(storage, box, SettingsDefaults(
            approval_channel=settings.approval_channel,
            notify_channel=settings.notify_channel,
            forecast_api_key=settings.forecast_api_key.get_secret_value() if settings.forecast_api_key else None,
        )),
    )
    container.exports = ExportService(
        storage, forecast=container.forecast, xero=container.xero, connections=container.connections,
        links=container.links, workspace_settings=container.workspace_settings,
        permissions=container.permissions, notifier=SlackExportNotifier(slack),
    )
    return container
