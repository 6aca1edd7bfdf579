"""Invoices that ask to be exported: Forecast has no invoice webhooks, so the bot reads `GET /invoices`.

A workspace that turned on "ask when Forecast approves" and/or "sends" (services/shared/settings.py) is read every
FORECAST_WATCH_MINUTES by one `exports.auto_request` job (key `auto_request:{team}`). `forecast_watch` (owned by
`ForecastWatchStore`) keeps per workspace the status each invoice had at the last read and a digest of them, so a
read that finds nothing changed stops there (one Forecast call, one database read). An invoice that became APPROVED
or SENT (a watched one), is not in Xero and has no open request is asked for: all of one run in one batch
(services/exports/batches.py), requested by `AUTO_REQUESTER`, with who changed it in Forecast when Forecast says.
A pending request whose invoice is back in DRAFT or deleted is withdrawn.

Crash safety: the statuses are saved only after the batch is made, so a rerun sees the same changes again; the
open request of each invoice (a unique index) makes the rerun request nothing, and the batch's message is posted
once by its outbox job (bot/outbox/batches.py, `post_once`). The first read of a workspace only records what
Forecast holds: invoices approved before the setting was turned on are asked for with `/xero export unexported`.

The daily digest of what still waits is computed here (`waiting`) and posted by bot/outbox/digest.py at the hour
the settings say, in the time zone of the admin who chose it, once a day (job key `digest:{team}:{date}`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.exports.batches import BatchExportService
from services.exports.refs import ExportRequestArgs
from services.exports.service import ExportRefused, ExportService
from services.exports.store import AUTO_REQUESTER, PENDING, REJECTED, ExportRequest
from services.forecast import ForecastError, ForecastInvoice
from services.platform.crash_points import crash_point
from services.platform.jobs import Job, JobQueue
from services.platform.logfmt import fields
from services.platform.storage import Storage
from services.shared.audit import AuditTrail
from services.shared.settings import WorkspaceSettings, WorkspaceSettingsService
from services.xero.tokens import utcnow

log = logging.getLogger(__name__)

AUTO_REQUEST = "exports.auto_request"
DIGEST = "exports.digest"
DRAFT = "DRAFT"
MAX_IN_DIGEST = 500


@dataclass
class WatchRun:
    """What one read of Forecast did."""

    changed: bool = False
    first_read: bool = False
    batch_id: str | None = None
    requested: list[str] = field(default_factory=list)  # references
    withdrawn: list[str] = field(default_factory=list)


class ForecastWatchStore:
    """Owns `forecast_watch`: one document per workspace (its last read of Forecast, its digests)."""

    def __init__(self, storage: Storage):
        self.docs = storage.forecast_watch

    async def get(self, team_id: str) -> dict[str, Any]:
        return await self.docs.find_one({"_id": team_id}) or {}

    async def save_read(self, team_id: str, statuses: dict[str, str], digest: str, at: datetime) -> None:
        await self.docs.update_one({"_id": team_id}, {"$set": {"statuses": statuses, "digest": digest,
                                                              "checked_at": at}}, upsert=True)

    async def forget_statuses(self, team_id: str) -> None:
        """The next read is a first read again: what Forecast holds then is not asked for."""
        await self.docs.update_one({"_id": team_id}, {"$unset": {"statuses": "", "digest": ""}})

    async def checked(self, team_id: str, at: datetime) -> None:
        await self.docs.update_one({"_id": team_id}, {"$set": {"checked_at": at}}, upsert=True)

    async def mark_digest_posting(self, team_id: str, day: str, at: datetime) -> None:
        """Saved right before the digest is posted (a map of dates, as the codec wants: only today's is kept)."""
        await self.docs.update_one({"_id": team_id}, {"$set": {"digest_posting": {day: at}}}, upsert=True)

    async def digest_done(self, team_id: str, day: str, message: dict[str, str] | None) -> None:
        await self.docs.update_one({"_id": team_id}, {"$set": {f"digest_sent.{day}": message or {"nothing": "1"}}},
                                   upsert=True)


def _digest(statuses: dict[str, str]) -> str:
    return hashlib.sha256(repr(sorted(statuses.items())).encode()).hexdigest()


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class AutoRequests:
    def __init__(self, storage: Storage, exports: ExportService, batches: BatchExportService,
                 workspace_settings: WorkspaceSettingsService, queue: JobQueue, *, interval_seconds: float,
                 clock: Callable[[], datetime] = utcnow):
        self.watch = ForecastWatchStore(storage)
        self.audit = AuditTrail(storage, clock=clock)
        self.exports = exports
        self.batches = batches
        self.settings = workspace_settings
        self.queue = queue
        self.interval = timedelta(seconds=interval_seconds)
        self.clock = clock

    # Scheduling ----------------------------------------------------------------------
    async def tick(self) -> None:
        """Every process, every minute: each watching workspace's read is queued (once: the job key), and
        each digest whose hour has come."""
        now = self.clock()
        for team_id in await self.settings.watching_forecast():
            await self.queue.enqueue(AUTO_REQUEST, {"team_id": team_id}, key=f"auto_request:{team_id}")
        for team_id in await self.settings.with_digest():
            day = await self.digest_due(team_id, now)
            if day is not None:
                await self.queue.enqueue(DIGEST, {"team_id": team_id, "day": day}, key=f"digest:{team_id}:{day}")

    async def started(self, team_id: str) -> None:
        """Asking by itself was just turned on: Forecast is read at once, so what is approved from now on is asked
        for (without it, an invoice approved before the first tick was taken as approved before)."""
        await self.watch.forget_statuses(team_id)
        await self.queue.enqueue(AUTO_REQUEST, {"team_id": team_id, "force": True}, key=f"auto_request:{team_id}")

    async def digest_due(self, team_id: str, now: datetime) -> str | None:
        """The local date of today's digest when its hour has come and it was not sent yet; else None."""
        settings = await self.settings.get(team_id)
        if settings.digest_hour is None:
            return None
        local = now.astimezone(zone_of(settings.digest_tz))
        if local.hour < settings.digest_hour:
            return None
        day = local.date().isoformat()
        sent = (await self.watch.get(team_id)).get("digest_sent") or {}
        return None if day in sent else day

    # The read ---------------------------------------------------------------------------
    async def run_job(self, job: Job) -> None:
        await self.read(job.payload["team_id"], force=bool(job.payload.get("force")))

    async def read(self, team_id: str, *, force: bool = False) -> WatchRun:
        settings = await self.settings.get(team_id)
        if not settings.auto_request_on:
            return WatchRun()
        now = self.clock()
        stored = await self.watch.get(team_id)
        last = stored.get("checked_at")
        if not force and isinstance(last, datetime) and now - last < self.interval:
            return WatchRun()
        api_key = await self.settings.forecast_api_key(team_id)
        if not api_key:
            return WatchRun()
        try:
            invoices = await self.exports.forecast.list_invoices(api_key)
        except ForecastError as exc:  # tried again at the next tick
            log.warning("forecast_watch.unreadable", **fields(team=team_id, error=str(exc)))
            return WatchRun()
        statuses = {str(i.id): (i.status or "").upper() for i in invoices}
        digest = _digest(statuses)
        if stored.get("digest") == digest:
            await self.watch.checked(team_id, now)
            return WatchRun()
        run = WatchRun(changed=True, first_read="statuses" not in stored)
        run.withdrawn = await self._withdraw(team_id, statuses)
        if not run.first_read:
            seen: dict[str, str] = stored.get("statuses") or {}
            became = [i for i in invoices if statuses[str(i.id)] in settings.auto_request_on
                      and seen.get(str(i.id)) != statuses[str(i.id)]]
            if became:
                await self._request(team_id, api_key, settings, became, run)
        crash_point("after_auto_request")
        await self.watch.save_read(team_id, statuses, digest, now)
        return run

    async def _request(self, team_id: str, api_key: str, settings: WorkspaceSettings,
                       became: list[ForecastInvoice], run: WatchRun) -> None:
        people = await self._who_changed(api_key, became)
        origins: dict[str, dict[str, str]] = {}
        for invoice in became:
            who = people.get(invoice.updated_by) if invoice.updated_by is not None else None
            origin = {"status": (invoice.status or "").upper()}
            origins[invoice.invoice_reference] = {**origin, "by": who} if who else origin
        asked = ExportRequestArgs(references=tuple(origins))
        try:
            requested = await self.batches.request(team_id, AUTO_REQUESTER, None, asked, origins=origins)
        except ExportRefused as refused:  # no organisation, no approval channel: asked for again once set up
            log.info("forecast_watch.not_requested", **fields(team=team_id, reason=refused.code))
            return
        if requested.batch is None:
            return  # each was already waiting, exported or not exportable (a rerun after a crash lands here)
        for job in requested.jobs:
            origin = origins.get(job.reference, {})
            await self.audit.record(team_id, "auto_requested", reference=job.reference,
                                    forecast_invoice_id=job.forecast_invoice_id, tenant_id=job.tenant_id,
                                    tenant_name=job.tenant_name, by_name=origin.get("by"),
                                    details={"status": origin.get("status"), "forecast_by": origin.get("by"),
                                             "batch": job.batch_id})
        run.batch_id = requested.batch.batch_id
        run.requested = [job.reference for job in requested.jobs]
        log.info("forecast_watch.requested", **fields(team=team_id, batch=run.batch_id, invoices=len(run.requested)))

    async def _who_changed(self, api_key: str, invoices: list[ForecastInvoice]) -> dict[int, str]:
        """Forecast's `updated_by` of each invoice, by name (one read per person; unknown when Forecast won't say)."""
        names: dict[int, str] = {}
        for person_id in {i.updated_by for i in invoices if i.updated_by is not None}:
            try:
                names[person_id] = (await self.exports.forecast.get_person(api_key, person_id)).full_name
            except ForecastError:
                continue
        return names

    async def _withdraw(self, team_id: str, statuses: dict[str, str]) -> list[str]:
        """Pending requests of invoices now back in DRAFT, or deleted, in Forecast."""
        withdrawn: list[str] = []
        batches: set[str] = set()
        for job in await self.exports.requests.in_states((PENDING,), team_id=team_id, limit=MAX_IN_DIGEST):
            status = statuses.get(str(job.forecast_invoice_id))
            if status is not None and status != DRAFT:
                continue
            reason = "forecast_deleted" if status is None else "forecast_draft"
            moved = await self.exports.requests.transition(job, REJECTED, by=None, withdrawn=reason, note=reason,
                                                           finished_at=self.clock())
            if moved is None:
                continue
            withdrawn.append(job.reference)
            if job.batch_id:
                batches.add(job.batch_id)
            else:
                await self.exports.redraw(moved)
        for batch_id in batches:
            await self.batches.after_withdrawal(team_id, batch_id)
        return withdrawn

    # The digest ---------------------------------------------------------------------
    async def waiting(self, team_id: str) -> list[ExportRequest]:
        """Every request still waiting for approval, oldest first."""
        jobs = await self.exports.requests.in_states((PENDING,), team_id=team_id, limit=MAX_IN_DIGEST)
        return sorted(jobs, key=lambda job: job.requested_at)

    def digest_day_of(self, settings: WorkspaceSettings, now: datetime) -> date:
        return now.astimezone(zone_of(settings.digest_tz)).date()
