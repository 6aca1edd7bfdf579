"""Everything the handlers and routes need, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.slack_directory import SlackUserDirectory
from services.connections import ConnectionsService
from services.crypto import SecretBox
from services.customer_import import CustomerImportService
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
    # Built from the fields above by `add_imports`.
    xero_cache: XeroCache = field(init=False)
    customer_import: CustomerImportService = field(init=False)
    po_import: PurchaseOrderImportService = field(init=False)

    async def close(self) -> None:
        await self.http.close()


def build_container(settings: Settings, storage: Storage, encryption_key: str) -> Container:
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
        xero=XeroClient(http, settings.xero_api_url, tokens, limiter=TenantLimiter()),
        forecast=ForecastApi(http, settings.forecast_api_url),
        links=LinkStore(storage),
        workspace_settings=WorkspaceSettingsService(storage, box, SettingsDefaults(
            approval_channel=settings.approval_channel,
            notify_channel=settings.notify_channel,
            forecast_api_key=settings.forecast_api_key.get_secret_value() if settings.forecast_api_key else None,
        )),
    )
    add_imports(container)
    return container


def add_imports(container: Container) -> None:
    container.xero_cache = XeroCache(container.storage, container.xero)
    services = (container.connections, container.workspace_settings, container.xero_cache, container.links,
                container.forecast)
    container.customer_import = CustomerImportService(*services)
    container.po_import = PurchaseOrderImportService(*services)
