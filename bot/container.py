"""Everything the handlers and routes need, built once at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.export_notifier import SlackExportNotifier
from bot.home_tab import HomeTab, RedrawHomeAfterNotices
from bot.slack_directory import SlackUserDirectory
from bot.sync_notifier import SlackSyncNotifier
from services.connections import ConnectionsService
from services.crypto import SecretBox
from services.customer_import import CustomerImportService
from services.exports import ExportService
from services.forecast import ForecastApi
from services.jobs import JobQueue, JobRunner
from services.ledger_choices import LedgerChoices
from services.links import LinkStore
from services.org_reference import OrgReferenceStore
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
from services.xero_sync import SYNC_JOB, SyncSettings, XeroSync


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
    ledger_choices: LedgerChoices
    home: HomeTab
    jobs: JobQueue
    runner: JobRunner
    xero_sync: XeroSync

    async def start(self) -> None:
        """Starts this process's job workers (every replica runs them) and the periodic Xero sync."""
        await self.jobs.ensure_indexes()
        self.runner.start()
        self.xero_sync.start()

    async def close(self) -> None:
        await self.xero_sync.stop()
        await self.runner.stop()
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
    tokens.on_needs_reconnect = connections.token_set_needs_reconnect  # connections owns `tenants`
    permissions = Permissions(SlackUserDirectory(slack), settings.bot_admin_ids)
    # One limiter per process: Xero's limits are per organisation, whoever calls.
    xero = XeroClient(http, settings.xero_api_url, tokens, limiter=TenantLimiter(), sleep=xero_sleep,
                      web_url=settings.xero_web_url, on_refused=connections.mark_needs_reconnect,
                      on_success=connections.record_success)
    forecast = ForecastApi(http, settings.forecast_api_url)
    links = LinkStore(storage)
    workspace_settings = WorkspaceSettingsService(storage, box, SettingsDefaults(
        approval_channel=settings.approval_channel,
        notify_channel=settings.notify_channel,
        forecast_api_key=_secret(settings.forecast_api_key),
    ))
    xero_cache = XeroCache(storage, xero)
    reference_store = OrgReferenceStore(storage, xero)
    jobs = JobQueue(storage.jobs)
    runner = JobRunner(jobs)
    import_services = (connections, workspace_settings, xero_cache, links, forecast)
    exports = ExportService(
        storage, forecast=forecast, xero=xero, connections=connections, links=links,
        workspace_settings=workspace_settings, permissions=permissions, notifier=SlackExportNotifier(slack),
    )
    home = HomeTab(slack, connections, tokens, exports, permissions, workspace_settings)
    exports.notifier = RedrawHomeAfterNotices(exports.notifier, home)
    xero_sync = XeroSync(
        storage, xero=xero, forecast=forecast, connections=connections, links=links,
        workspace_settings=workspace_settings, queue=jobs, notifier=SlackSyncNotifier(slack),
        settings=SyncSettings(interval_seconds=settings.sync_interval_minutes * 60,
                              day_reserve=settings.sync_day_reserve),
    )
    runner.register(SYNC_JOB, xero_sync.handle)
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
        exports=exports,
        customer_import=CustomerImportService(*import_services),
        po_import=PurchaseOrderImportService(*import_services),
        ledger_choices=LedgerChoices(connections, reference_store),
        home=home,
        jobs=jobs,
        runner=runner,
        xero_sync=xero_sync,
    )
