"""Everything the handlers and routes need, built once at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.export_notifier import SlackExportNotifier
from bot.slack_directory import SlackUserDirectory
from services.connections import ConnectionsService
from services.crypto import SecretBox
from services.customer_import import CustomerImportService
from services.exports import ExportService
from services.forecast import ForecastApi
from services.links import LinkStore
from services.permissions import Permissions
from services.po_import import PurchaseOrderImportService
from services.storage import Storage
from services.workspace_settings import SettingsDefaults, WorkspaceSettingsService
from services.xero.client import XeroClient
from services.xero.identity import XeroIdentity
from services.xero.limiter import TenantLimiter
from services.xero.oauth import XeroOAuth
from services.xero.tokens import TokenService
from services.xero_cache import XeroCache


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
    xero_cache: XeroCache
    exports: ExportService
    customer_import: CustomerImportService
    po_import: PurchaseOrderImportService

    async def close(self) -> None:
        await self.http.close()


def _secret(value) -> str | None:
    return value.get_secret_value() if value else None


def build_container(settings: Settings, storage: Storage, encryption_key: str, *,
                    xero_sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> Container:
    """`xero_sleep` is how the Xero client waits between retries (tests pass one that does not wait)."""
    http = aiohttp.ClientSession()
    slack = AsyncWebClient(token=_secret(settings.slack_bot_token), base_url=settings.slack_api_url)
    box = SecretBox(encryption_key)
    oauth = XeroOAuth(
        http,
        client_id=settings.xero_client_id or "",
        client_secret=_secret(settings.xero_client_secret),
        redirect_uri=settings.xero_redirect_uri,
        authorize_url=settings.xero_authorize_url,
        token_url=settings.xero_token_url,
        revocation_url=settings.xero_revocation_url,  # unset: beside the token URL
        scopes=settings.xero_scopes,
    )
    tokens = TokenService(storage, box, oauth)
    connections = ConnectionsService(storage, box, oauth, XeroIdentity(http, settings.xero_api_url), tokens)
    permissions = Permissions(SlackUserDirectory(slack), settings.bot_admin_ids)
    # One limiter per process: Xero's limits are per organisation, whoever calls.
    xero = XeroClient(http, settings.xero_api_url, tokens, limiter=TenantLimiter(), sleep=xero_sleep,
                      web_url=settings.xero_web_url, on_refused=connections.mark_needs_reconnect)
    forecast = ForecastApi(http, settings.forecast_api_url)
    links = LinkStore(storage)
    workspace_settings = WorkspaceSettingsService(storage, box, SettingsDefaults(
        approval_channel=settings.approval_channel,
        notify_channel=settings.notify_channel,
        forecast_api_key=_secret(settings.forecast_api_key),
    ))
    xero_cache = XeroCache(storage, xero)
    import_services = (connections, workspace_settings, xero_cache, links, forecast)
    return Container(
        settings=settings,
        storage=storage,
        http=http,
        slack=slack,
        box=box,
        tokens=tokens,
        connections=connections,
        permissions=permissions,
        xero=xero,
        forecast=forecast,
        workspace_settings=workspace_settings,
        links=links,
        xero_cache=xero_cache,
        exports=ExportService(
            storage, forecast=forecast, xero=xero, connections=connections, links=links,
            workspace_settings=workspace_settings, permissions=permissions, notifier=SlackExportNotifier(slack),
        ),
        customer_import=CustomerImportService(*import_services),
        po_import=PurchaseOrderImportService(*import_services),
    )
