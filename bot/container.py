"""Everything the handlers and routes need, built once at start-up, one feature at a time.

`build_container` reads top to bottom in the order things are built: what every feature shares (`Core`:
storage, HTTP, the Slack gateway, the job queue and runner, settings, links, permissions), then Xero
connections, exports, the Home tab, sync and imports. Each feature's builder makes its objects once and
registers its own job kinds. The events one service announces and another hears (`needs_reconnect`,
`routing_changed`, `installed`: services/platform/hooks.py) are built before either side, so nothing is
patched later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from slack_sdk.oauth.installation_store.models.installation import Installation

from bot.blocks import installations as install_blocks
from bot.config import Settings
from bot.installations import Installations, Offboarding, build_installations
from bot.outbox.batches import BatchOutbox
from bot.outbox.digest import DigestOutbox
from bot.outbox.exports import ExportOutbox
from bot.outbox.home import HomeTab
from bot.outbox.imports import ImportJobs
from bot.outbox.sync_notices import SyncOutbox
from bot.requests.journal import CommandJournal
from bot.slack_directory import SlackUserDirectory
from bot.slack_gateway import SlackGateway, TokenLookup, same_token_for_every_team
from services.connections.ledger_choices import LedgerChoices
from services.connections.service import ConnectionsService
from services.connections.settings_checks import SettingsChecks
from services.exports.auto_requests import AUTO_REQUEST, DIGEST, AutoRequests
from services.exports.batches import REDRAW_BATCH, BatchExportService
from services.exports.service import EXPORT_BATCH, EXPORT_RUN, REDRAW_EXPORT, ExportService
from services.forecast import ForecastApi
from services.imports.customers import CustomerImportService
from services.imports.purchase_orders import PurchaseOrderImportService
from services.imports.xero_lists import XeroCache
from services.platform.crypto import SecretBox
from services.platform.hooks import Hook
from services.platform.jobs import Job, JobQueue, JobRunner, Periodic
from services.platform.logfmt import fields
from services.platform.storage import Storage
from services.shared.audit import AuditTrail
from services.shared.home_viewers import HomeViewerStore
from services.shared.links import LinkStore
from services.shared.permissions import Permissions
from services.shared.settings import SettingsDefaults, WorkspaceSettingsService
from services.sync.drift import DRIFT_JOB
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
    batch_outbox: BatchOutbox
    customer_import: CustomerImportService
    po_import: PurchaseOrderImportService
    ledger_choices: LedgerChoices
    settings_checks: SettingsChecks
    home: HomeTab
    jobs: JobQueue
    runner: JobRunner
    xero_sync: XeroSync
    auto_requests: AutoRequests
    commands: CommandJournal
    sweeper: Periodic | None = None
    forecast_ticker: Periodic | None = None
    installations: Installations | None = None  # distributed mode (Add to Slack) only
    offboarding: Offboarding | None = None  # distributed mode: what an uninstall does

    async def start(self) -> None:
        """Starts this process's job workers, its sweep, the periodic Xero sync and the read of Forecast's
        invoices (every replica runs them)."""
        await self.jobs.ensure_indexes()
        await self.exports.requests.ensure_indexes()
        await AuditTrail(self.storage).ensure_indexes(self.settings.data_retention_days)
        self.runner.start()
        self.xero_sync.start()
        self.sweeper = Periodic("jobs.sweep", self._sweep, self.jobs.lease_seconds)
        self.sweeper.start()
        tick = min(60.0, self.settings.forecast_watch_minutes * 60)
        self.forecast_ticker = Periodic("forecast_watch.tick", self.auto_requests.tick, tick, first_delay=tick)
        self.forecast_ticker.start()

    async def _sweep(self) -> None:
        await self.tell_interrupted()
        await self.exports.sweep()
        await self.jobs.purge_done()
        await self.xero_sync.sweep()
        if self.offboarding is not None:
            await self.offboarding.sweep()

    async def tell_interrupted(self) -> None:
        """Slash commands whose process died between the ack and the answer: the person hears so, once."""
        from bot.acks import SharedRespond
        from bot.blocks.requests import command_interrupted

        async for command in self.commands.interrupted():
            payload = command_interrupted(command["text"])
            told = False
            if command.get("response_url"):
                try:
                    await SharedRespond(command["response_url"], self.http)(
                        response_type="ephemeral", replace_original=False, **payload)
                    told = True
                except Exception as exc:  # expired or unreachable: a DM instead
                    log.info("command.interrupted_response_url_failed", **fields(error=type(exc).__name__))
            if not told:
                gateway = self.gateway.for_team(command["team_id"])
                await gateway.notify_user(command["user_id"], command.get("channel_id"), payload)
            log.warning("command.interrupted", **fields(team=command["team_id"], user=command["user_id"]))
            await self.commands.forget(command["_id"])

    async def close(self) -> None:
        await self.xero_sync.stop()
        if self.forecast_ticker is not None:
            await self.forecast_ticker.stop()
        if self.sweeper is not None:
            await self.sweeper.stop()
        await self.runner.stop()
        await self.http.close()


REFRESH_HOME = "slack.refresh_home"
# Queued by versions before 0.2 under their old names: still run.
LEGACY_REDRAW_EXPORT = "slack.sync_export"
LEGACY_REDRAW_BATCH = "slack.sync_batch"
REDRAW_RETRY_BASE = 2.0  # seconds: Slack's blips are short


def _secret(value) -> str | None:
    return value.get_secret_value() if value else None


@dataclass(frozen=True)
class Core:
    """What every feature shares."""

    settings: Settings
    storage: Storage
    http: aiohttp.ClientSession
    box: SecretBox
    gateway: SlackGateway
    jobs: JobQueue
    runner: JobRunner
    permissions: Permissions
    workspace_settings: WorkspaceSettingsService
    links: LinkStore
    forecast: ForecastApi
    installations: Installations | None


def build_slack(settings: Settings, token_for: TokenLookup | None = None,
                installations: Installations | None = None) -> SlackGateway:
    """Each workspace's bot token through `token_for`; unset, from its installation (distributed mode), else
    SLACK_BOT_TOKEN for every team (one workspace's app)."""
    if token_for is None and installations is not None:
        return SlackGateway(settings.slack_api_url, installations.tokens.token_for)
    token = _secret(settings.slack_bot_token)
    return SlackGateway(settings.slack_api_url, token_for or same_token_for_every_team(token), bolt_token=token)


def build_core(settings: Settings, storage: Storage, encryption_key: str, token_for: TokenLookup | None,
               installed: Hook[[Installation]]) -> Core:
    http = aiohttp.ClientSession()
    box = SecretBox(encryption_key)
    installations = build_installations(settings, storage, box, installed)
    gateway = build_slack(settings, token_for, installations)
    lease = settings.job_lease_seconds
    jobs = JobQueue(storage.jobs, lease_seconds=lease)
    return Core(
        settings=settings, storage=storage, http=http, box=box, gateway=gateway, jobs=jobs,
        runner=JobRunner(jobs, heartbeat_seconds=lease / 3),
        permissions=Permissions(SlackUserDirectory(gateway), settings.bot_admin_ids),
        workspace_settings=WorkspaceSettingsService(storage, box, SettingsDefaults(
            approval_channel=settings.approval_channel,
            notify_channel=settings.notify_channel,
            forecast_api_key=_secret(settings.forecast_api_key),
        )),
        links=LinkStore(storage, claim_seconds=settings.import_claim_seconds),
        forecast=ForecastApi(http, settings.forecast_api_url),
        installations=installations,
    )


@dataclass(frozen=True)
class Connections:
    """Xero: consent, tokens, the organisations connected, the API client and each organisation's lists."""

    tokens: TokenService
    connections: ConnectionsService
    xero: XeroClient
    reference: OrgReferenceStore
    ledger_choices: LedgerChoices
    xero_cache: XeroCache


def build_connections(core: Core, xero_sleep: Callable[[float], Awaitable[object]]) -> Connections:
    settings, storage = core.settings, core.storage
    oauth = XeroOAuth(
        core.http,
        client_id=settings.xero_client_id or "",
        client_secret=_secret(settings.xero_client_secret),
        redirect_uri=settings.xero_redirect_uri,
        authorize_url=settings.xero_authorize_url,
        token_url=settings.xero_token_url,
        revocation_url=settings.xero_revocation_url,  # unset: beside the token URL
        scopes=settings.xero_scopes,
    )
    needs_reconnect: Hook[[str]] = Hook("needs_reconnect")  # Xero refused a token set's refresh token
    tokens = TokenService(storage, core.box, oauth, lease=timedelta(seconds=2 * settings.job_lease_seconds),
                          on_needs_reconnect=needs_reconnect)
    connections = ConnectionsService(storage, core.box, oauth, XeroIdentity(core.http, settings.xero_api_url), tokens,
                                     links=core.links, needs_reconnect=needs_reconnect)
    # One limiter per process: Xero's limits are per organisation, whoever calls.
    xero = XeroClient(core.http, settings.xero_api_url, tokens, limiter=TenantLimiter(), sleep=xero_sleep,
                      web_url=settings.xero_web_url, on_refused=connections.mark_needs_reconnect,
                      on_success=connections.record_success)
    reference = OrgReferenceStore(storage, xero)
    return Connections(tokens=tokens, connections=connections, xero=xero, reference=reference,
                       ledger_choices=LedgerChoices(connections, reference), xero_cache=XeroCache(storage, xero))


@dataclass(frozen=True)
class Exports:
    exports: ExportService
    batches: BatchExportService
    batch_outbox: BatchOutbox


def build_exports(core: Core, xero: Connections) -> Exports:
    """Export requests, batches and the messages that show them; registers their job kinds."""
    routing_changed: Hook[[str, str, list[str]]] = Hook("routing_changed")  # a pending batch's invoices rerouted
    exports = ExportService(
        core.storage, forecast=core.forecast, xero=xero.xero, connections=xero.connections, links=core.links,
        workspace_settings=core.workspace_settings, permissions=core.permissions, queue=core.jobs, runner=core.runner,
        reference=xero.reference, routing_changed=routing_changed,
    )
    batches = BatchExportService(core.storage, exports, xero.reference, routing_changed=routing_changed)

    async def refresh_home_soon(team_id: str) -> None:
        """One keyed job per workspace: a burst of export changes (a batch) redraws each Home tab once or twice,
        not once per change."""
        await core.jobs.enqueue(REFRESH_HOME, {"team_id": team_id}, key=f"home:{team_id}")

    outbox = ExportOutbox(exports, core.gateway, after_sync=refresh_home_soon, batch_sync=batches.sync_of)
    batch_outbox = BatchOutbox(batches, core.gateway)
    runner = core.runner
    runner.register(EXPORT_RUN, exports.run_export_job, on_give_up=exports.on_export_gave_up)
    runner.register(EXPORT_BATCH, batches.run_batch_job, on_give_up=batches.on_batch_gave_up)
    for kind in (REDRAW_EXPORT, LEGACY_REDRAW_EXPORT):
        runner.register(kind, outbox.run, retry_base=REDRAW_RETRY_BASE)
    for kind in (REDRAW_BATCH, LEGACY_REDRAW_BATCH):
        runner.register(kind, batch_outbox.run, retry_base=REDRAW_RETRY_BASE)
    return Exports(exports=exports, batches=batches, batch_outbox=batch_outbox)


def build_home(core: Core, xero: Connections, exports: ExportService) -> HomeTab:
    """The App Home tab; registers the keyed job that redraws a workspace's tabs."""
    home = HomeTab(core.gateway, xero.connections, xero.tokens, exports, core.permissions, core.workspace_settings,
                   HomeViewerStore(core.storage.home_viewers))

    async def refresh_home(job: Job) -> None:
        await home.refresh(job.payload["team_id"])

    core.runner.register(REFRESH_HOME, refresh_home)
    return home


def build_sync(core: Core, xero: Connections, exports: ExportService) -> XeroSync:
    """Xero -> Forecast and the notices it leaves for Slack; registers their job kinds."""
    settings = core.settings
    notices = SyncNoticeStore(core.storage.sync_notices)
    outbox = SyncOutbox(notices, core.gateway)
    sync = XeroSync(
        core.storage, xero=xero.xero, forecast=core.forecast, connections=xero.connections, links=core.links,
        workspace_settings=core.workspace_settings, queue=core.jobs, notices=notices, notifier=outbox,
        export_requests=exports.requests,
        settings=SyncSettings(interval_seconds=settings.sync_interval_minutes * 60,
                              day_reserve=settings.sync_day_reserve),
        export_changed=exports.redraw,
    )
    core.runner.register(SYNC_JOB, sync.handle)
    core.runner.register(DRIFT_JOB, sync.drift.handle)
    core.runner.register(SYNC_NOTICE, outbox.run, retry_base=REDRAW_RETRY_BASE)
    return sync


def build_auto_requests(core: Core, exports: Exports) -> AutoRequests:
    """Invoices that ask to be exported (Forecast read periodically) and the daily digest; registers their jobs."""
    auto = AutoRequests(core.storage, exports.exports, exports.batches, core.workspace_settings, core.jobs,
                        interval_seconds=core.settings.forecast_watch_minutes * 60)
    core.runner.register(AUTO_REQUEST, auto.run_job)
    core.runner.register(DIGEST, DigestOutbox(auto, core.gateway).run, retry_base=REDRAW_RETRY_BASE)
    return auto


@dataclass(frozen=True)
class Imports:
    customers: CustomerImportService
    purchase_orders: PurchaseOrderImportService


def build_imports(core: Core, xero: Connections, exports: ExportService) -> Imports:
    """Customers and purchase orders from Xero into Forecast; registers their job kinds."""
    shared = (xero.connections, core.workspace_settings, xero.xero_cache, core.links, core.forecast)
    imports = Imports(customers=CustomerImportService(*shared), purchase_orders=PurchaseOrderImportService(*shared))
    ImportJobs(imports.customers, imports.purchase_orders, exports, core.gateway).register(core.runner)
    return imports


def build_container(settings: Settings, storage: Storage, encryption_key: str, *,
                    xero_sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                    token_for: TokenLookup | None = None) -> Container:
    """`xero_sleep` is how the Xero client waits between retries (tests pass one that does not wait);
    `token_for` finds each workspace's bot token (unset: SLACK_BOT_TOKEN for every team)."""
    installed: Hook[[Installation]] = Hook("installed")  # distributed mode: a workspace (or org) installed the app
    core = build_core(settings, storage, encryption_key, token_for, installed)
    xero = build_connections(core, xero_sleep)
    offboarding = build_offboarding(core, xero, installed)
    exports = build_exports(core, xero)
    home = build_home(core, xero, exports.exports)
    sync = build_sync(core, xero, exports.exports)
    imports = build_imports(core, xero, exports.exports)
    auto_requests = build_auto_requests(core, exports)
    container = Container(
        settings=settings,
        storage=storage,
        http=core.http,
        gateway=core.gateway,
        box=core.box,
        tokens=xero.tokens,
        connections=xero.connections,
        permissions=core.permissions,
        xero=xero.xero,
        forecast=core.forecast,
        workspace_settings=core.workspace_settings,
        links=core.links,
        xero_cache=xero.xero_cache,
        exports=exports.exports,
        batches=exports.batches,
        batch_outbox=exports.batch_outbox,
        customer_import=imports.customers,
        po_import=imports.purchase_orders,
        ledger_choices=xero.ledger_choices,
        settings_checks=SettingsChecks(core.workspace_settings, core.forecast, xero.ledger_choices),
        home=home,
        jobs=core.jobs,
        runner=core.runner,
        xero_sync=sync,
        auto_requests=auto_requests,
        installations=core.installations,
        offboarding=offboarding,
        commands=CommandJournal(storage, core.box, lease_seconds=settings.job_lease_seconds),
    )
    return container


def build_offboarding(core: Core, xero: Connections, installed: Hook[[Installation]]) -> Offboarding | None:
    """Distributed mode: what an uninstall does, and what a new install (or a reinstall) does."""
    if core.installations is None:
        return None
    settings = core.settings
    offboarding = Offboarding(core.installations, xero.connections, core.jobs, core.storage,
                              retention_days=settings.data_retention_days, client_id=settings.slack_client_id or "")

    async def welcome(installation: Installation) -> None:
        """A new install DMs the installer how to start."""
        if installation.user_id:
            gateway = core.gateway.for_team(installation.team_id or "", installation.enterprise_id)
            await gateway.notify_user(installation.user_id, None, install_blocks.welcome())

    installed.listen(offboarding.reinstalled)
    installed.listen(welcome)
    return offboarding
