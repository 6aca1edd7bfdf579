"""Everything the handlers and routes need, built once at start-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import installations as install_blocks
from bot.config import Settings
from bot.installations import Installations, Offboarding, build_installations
from bot.outbox.home import HomeTab
from bot.outbox.sync_notices import SyncOutbox
from bot.slack_directory import SlackUserDirectory
from bot.slack_gateway import SlackGateway, build_client
from services.connections.ledger_choices import LedgerChoices
from services.connections.service import ConnectionsService
from services.exports.batches import REDRAW_BATCH, BatchExportService
from services.exports.service import EXPORT_BATCH, EXPORT_RUN, REDRAW_EXPORT, ExportService
from services.forecast import ForecastApi
from services.imports.customers import CustomerImportService
from services.imports.purchase_orders import PurchaseOrderImportService
from services.imports.xero_lists import XeroCache
from services.platform.crypto import SecretBox
from services.platform.jobs import Job, JobQueue, JobRunner, Periodic
from services.platform.storage import Storage
from services.shared.home_viewers import HomeViewerStore
from services.shared.links import LinkStore
from services.shared.permissions import Permissions
from services.shared.settings import SettingsDefaults, WorkspaceSettingsService
from services.sync.engine import SYNC_JOB, SyncSettings, XeroSync
from services.sync.notices import SYNC_NOTICE, SyncNoticeStore
from services.xero.client import XeroClient
from services.xero.identity import XeroIdentity
from services.xero.limiter import TenantLimiter
from services.xero.oauth import XeroOAuth
from services.xero.reference import OrgReferenceStore
from services.xero.tokens import TokenService

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    storage: Storage
    http: aiohttp.ClientSession
    slack: AsyncWebClient
    gateway: SlackGateway
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
    batches: BatchExportService
    customer_import: CustomerImportService
    po_import: PurchaseOrderImportService
    ledger_choices: LedgerChoices
    home: HomeTab
    jobs: JobQueue
    runner: JobRunner
    xero_sync: XeroSync
    sweeper: Periodic | None = None
    installations: Installations | None = None  # distributed mode (Add to Slack) only
    offboarding: Offboarding | None = None  # distributed mode: what an uninstall does

    async def start(self) -> None:
        """Starts this process's job workers, its sweep and the periodic Xero sync (every replica runs them)."""
        await self.jobs.ensure_indexes()
        await self.exports.requests.ensure_indexes()
        self.runner.start()
        self.xero_sync.start()
        self.sweeper = Periodic("jobs.sweep", self._sweep, self.jobs.lease_seconds)
        self.sweeper.start()

    async def _sweep(self) -> None:
        await self.exports.sweep()
        await self.jobs.purge_done()
        await self.xero_sync.sweep()
        if self.offboarding is not None:
            await self.offboarding.sweep()

    async def close(self) -> None:
        await self.xero_sync.stop()
        if self.sweeper is not None:
            await self.sweeper.stop()
        await self.runner.stop()
        await self.http.close()


REFRESH_HOME = "slack.refresh_home"


def register_jobs(container: Container) -> None:
    """Every job kind this process's workers run."""
    from bot.outbox.batches import BatchOutbox
    from bot.outbox.exports import ExportOutbox
    from bot.outbox.imports import ImportJobs

    exports = container.exports
    container.runner.register(EXPORT_RUN, exports.run_export_job, on_give_up=exports.on_export_gave_up)

    async def refresh_home(job: Job) -> None:
        await container.home.refresh(job.payload["team_id"])

    async def refresh_home_soon(team_id: str) -> None:
        """One keyed job per workspace: a burst of export changes (a batch) redraws each Home tab once or twice,
        not once per change."""
        await container.jobs.enqueue(REFRESH_HOME, {"team_id": team_id}, key=f"home:{team_id}")

    container.runner.register(REFRESH_HOME, refresh_home)
    outbox = ExportOutbox(exports, container.gateway, after_sync=refresh_home_soon,
                          batch_sync=container.batches.sync_of)
    container.runner.register(REDRAW_EXPORT, outbox.run, retry_base=2.0)
    container.runner.register("slack.sync_export", outbox.run, retry_base=2.0)  # queued by versions before 0.2
    container.runner.register(EXPORT_BATCH, container.batches.run_batch_job,
                              on_give_up=container.batches.on_batch_gave_up)
    batch_outbox = BatchOutbox(container.batches, container.gateway)
    container.runner.register(REDRAW_BATCH, batch_outbox.run, retry_base=2.0)
    container.runner.register("slack.sync_batch", batch_outbox.run, retry_base=2.0)  # queued by versions before 0.2
    ImportJobs(container.customer_import, container.po_import, exports, container.gateway).register(container.runner)
    container.runner.register(SYNC_JOB, container.xero_sync.handle)
    sync_outbox = SyncOutbox(container.xero_sync.notices, container.gateway)
    container.runner.register(SYNC_NOTICE, sync_outbox.run, retry_base=2.0)


def _secret(value) -> str | None:
    return value.get_secret_value() if value else None


def build_container(settings: Settings, storage: Storage, encryption_key: str, *,
                    xero_sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> Container:
    """`xero_sleep` is how the Xero client waits between retries (tests pass one that does not wait)."""
    http = aiohttp.ClientSession()
    slack = build_client(_secret(settings.slack_bot_token), settings.slack_api_url)
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
    lease = settings.job_lease_seconds
    tokens = TokenService(storage, box, oauth, lease=timedelta(seconds=2 * lease))
    connections = ConnectionsService(storage, box, oauth, XeroIdentity(http, settings.xero_api_url), tokens)
    tokens.on_needs_reconnect = connections.token_set_needs_reconnect  # connections owns `tenants`
    permissions = Permissions(SlackUserDirectory(slack), settings.bot_admin_ids)
    # One limiter per process: Xero's limits are per organisation, whoever calls.
    xero = XeroClient(http, settings.xero_api_url, tokens, limiter=TenantLimiter(), sleep=xero_sleep,
                      web_url=settings.xero_web_url, on_refused=connections.mark_needs_reconnect,
                      on_success=connections.record_success)
    forecast = ForecastApi(http, settings.forecast_api_url)
    links = LinkStore(storage, claim_seconds=settings.import_claim_seconds)
    workspace_settings = WorkspaceSettingsService(storage, box, SettingsDefaults(
        approval_channel=settings.approval_channel,
        notify_channel=settings.notify_channel,
        forecast_api_key=_secret(settings.forecast_api_key),
    ))
    xero_cache = XeroCache(storage, xero)
    reference_store = OrgReferenceStore(storage, xero)
    jobs = JobQueue(storage.jobs, lease_seconds=lease)
    runner = JobRunner(jobs, heartbeat_seconds=lease / 3)
    import_services = (connections, workspace_settings, xero_cache, links, forecast)
    exports = ExportService(
        storage, forecast=forecast, xero=xero, connections=connections, links=links,
        workspace_settings=workspace_settings, permissions=permissions, queue=jobs, reference=reference_store,
    )
    gateway = SlackGateway(slack)
    home = HomeTab(slack, connections, tokens, exports, permissions, workspace_settings,
                   HomeViewerStore(storage.home_viewers))
    xero_sync = XeroSync(
        storage, xero=xero, forecast=forecast, connections=connections, links=links,
        workspace_settings=workspace_settings, queue=jobs,
        notifier=SyncOutbox(SyncNoticeStore(storage.sync_notices), gateway),
        settings=SyncSettings(interval_seconds=settings.sync_interval_minutes * 60,
                              day_reserve=settings.sync_day_reserve),
        export_changed=exports.redraw,
    )
    batches = BatchExportService(storage, exports, reference_store)
    exports.batch_rerouted = batches.recheck_routed  # a batch's lines are checked again when routing changes
    container = Container(
        settings=settings,
        storage=storage,
        http=http,
        slack=slack,
        gateway=gateway,
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
        batches=batches,
        customer_import=CustomerImportService(*import_services),
        po_import=PurchaseOrderImportService(*import_services),
        ledger_choices=LedgerChoices(connections, reference_store),
        home=home,
        jobs=jobs,
        runner=runner,
        xero_sync=xero_sync,
        installations=build_installations(settings, storage, box),
    )
    register_jobs(container)
    if container.installations is not None:
        container.offboarding = Offboarding(container.installations, connections, jobs, storage,
                                            retention_days=settings.data_retention_days,
                                            client_id=settings.slack_client_id or "")
        container.installations.answers.on_installed += [container.offboarding.reinstalled,
                                                         lambda installed: welcome(container, installed)]
    return container


async def welcome(container: Container, installation) -> None:
    """A new install DMs the installer how to start."""
    if not (installation.bot_token and installation.user_id):
        return
    gateway = SlackGateway(build_client(installation.bot_token, container.settings.slack_api_url))
    await gateway.notify_user(installation.user_id, None, install_blocks.welcome())
