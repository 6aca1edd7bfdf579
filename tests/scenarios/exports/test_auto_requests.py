"""Invoices that ask to be exported: Forecast's invoices read by the bot's own job, one batch a run, nothing twice
(not on a rerun, not after a crash), withdrawn when back in Draft or deleted, and the daily digest."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from services.exports import auto_requests as auto_module
from services.exports.auto_requests import AUTO_REQUEST, DIGEST
from services.platform.jobs import Job
from services.shared.settings import SettingsChanges
from tests.scenarios.exports.test_batch_flow import batch_id_of, batch_message, batch_shows, invoices_with, text_of
from tests.support.export_flow import forecast_holding, prepare
from tests.support.slack_standin import TEAM_ID

FIONA = 2  # a person of the sandbox's Forecast company (sandbox/forecast_demo.py)


class Crash(Exception):
    pass


async def watching(bot, xero, *, on=("APPROVED", "SENT"), statuses=("DRAFT", "DRAFT", "APPROVED")):
    """INV-101.. in Forecast with these statuses; the workspace asks by itself; the first read has been made."""
    await prepare(bot, xero, forecast=False)
    forecast = forecast_holding(xero, invoices=[invoices_with(101 + n, status=s) for n, s in enumerate(statuses)])
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(auto_request_on=list(on)),
                                                  updated_by="U0ADMIN")
    first = await read(bot)
    assert first.first_read and first.batch_id is None  # what was approved before is not asked for
    return forecast


async def read(bot):
    return await bot.container.auto_requests.read(TEAM_ID, force=True)


def in_forecast(forecast, invoice_id: int, status: str, *, by: int = FIONA) -> None:
    """Someone changes the invoice's status in Forecast."""
    row = forecast.invoice(invoice_id)
    row.update(status=status, updated_by=by)


def approval_posts(bot) -> list:
    return [c for c in bot.slack.called("chat.postMessage") if c["channel"] == "C0APPROVALS"]


async def settled(bot) -> None:
    """Every job due now has run."""
    for _ in range(200):
        if not await bot.container.jobs.count(state={"$in": ["queued", "running"]}, due_at={"$lte": in_seconds(3)}):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("jobs did not finish")


def in_seconds(seconds: float):
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_invoices_approved_or_sent_in_forecast_ask_for_approval_in_one_batch_with_who_did_it(bot, xero):
    forecast = await watching(bot, xero)
    in_forecast(forecast, 101, "APPROVED")
    in_forecast(forecast, 102, "SENT", by=1)

    run = await read(bot)

    assert run.requested == ["INV-101", "INV-102"]
    message = await batch_message(bot)
    shown = text_of(message)
    assert "INV-101" in shown and "INV-102" in shown and "INV-103" not in shown
    assert "Asked for by itself" in shown and "INV-101 was approved in Forecast by Fiona Finance" in shown
    assert "INV-102 was sent in Forecast by Sam Planner" in shown
    assert len(approval_posts(bot)) == 1
    audit = [doc async for doc in bot.storage.audit.find({"action": "auto_requested"})]
    assert {(a["reference"], a["details"]["status"], a["by_name"]) for a in audit} == {
        ("INV-101", "APPROVED", "Fiona Finance"), ("INV-102", "SENT", "Sam Planner")}

    again = await read(bot)  # nothing changed in Forecast: one read, nothing asked

    assert not again.changed and again.batch_id is None
    in_forecast(forecast, 101, "SENT")  # approved, then sent: its request is already waiting
    third = await read(bot)
    assert third.changed and third.batch_id is None
    await settled(bot)
    assert len(approval_posts(bot)) == 1 and await bot.storage.export_batches.count_documents({}) == 1


async def test_only_the_chosen_forecast_status_asks(bot, xero):
    forecast = await watching(bot, xero, on=("SENT",))
    in_forecast(forecast, 101, "APPROVED")
    assert (await read(bot)).batch_id is None
    in_forecast(forecast, 101, "SENT")
    assert (await read(bot)).requested == ["INV-101"]


async def test_the_periodic_job_reads_forecast_by_itself_once_per_interval(bot, xero):
    await prepare(bot, xero, forecast=False)
    forecast = forecast_holding(xero, invoices=[invoices_with(101, status="DRAFT")])
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(auto_request_on=["APPROVED"]),
                                                  updated_by="U0ADMIN")
    auto = bot.container.auto_requests
    now = [datetime(2026, 12, 7, 9, 0, tzinfo=UTC)]
    auto.clock = lambda: now[0]
    watch_reads = lambda: len(forecast.sent("GET", "/invoices"))  # noqa: E731

    await auto.tick()  # what every process does every minute: the first read records what Forecast holds
    await settled(bot)
    assert watch_reads() == 1
    in_forecast(forecast, 101, "APPROVED")
    now[0] += timedelta(minutes=1)
    await auto.tick()  # within FORECAST_WATCH_MINUTES (5): Forecast is not read again
    await settled(bot)
    assert watch_reads() == 1 and approval_posts(bot) == []

    now[0] += timedelta(minutes=5)
    await auto.tick()
    await batch_message(bot)
    assert watch_reads() == 3  # the watch's read, and the request's own read of what it asks for
    assert await bot.container.jobs.count(kind=AUTO_REQUEST) == 3


async def test_a_crash_after_asking_and_before_saving_the_read_posts_nothing_twice(bot, xero, monkeypatch):
    forecast = await watching(bot, xero)
    in_forecast(forecast, 101, "APPROVED")

    def crash(name: str) -> None:
        if name == "after_auto_request":
            raise Crash(name)

    monkeypatch.setattr(auto_module, "crash_point", crash)
    with pytest.raises(Crash):
        await read(bot)  # the batch was made, the statuses not saved: the process "died"
    monkeypatch.setattr(auto_module, "crash_point", lambda name: None)
    rerun = await read(bot)  # the job runs again and sees the same change

    assert rerun.changed and rerun.batch_id is None
    await batch_message(bot)
    await settled(bot)
    assert len(approval_posts(bot)) == 1
    assert await bot.storage.export_batches.count_documents({}) == 1
    assert await bot.storage.export_jobs.count_documents({}) == 1


async def test_an_invoice_back_in_draft_or_deleted_in_forecast_withdraws_its_pending_request(bot, xero):
    forecast = await watching(bot, xero)
    in_forecast(forecast, 101, "APPROVED")
    in_forecast(forecast, 102, "APPROVED")
    await read(bot)
    message = await batch_message(bot)

    in_forecast(forecast, 101, "DRAFT")
    assert (await read(bot)).withdrawn == ["INV-101"]
    await batch_shows(bot, message, "withdrawn: back in Draft in Forecast")
    batch = await bot.storage.export_batches.find_one({"_id": batch_id_of(message)})
    assert batch["decision"] == "pending"  # INV-102 still waits

    forecast.delete("invoices", 102)
    assert (await read(bot)).withdrawn == ["INV-102"]
    closed = await batch_shows(bot, message, "Withdrawn: its invoices are back in Draft or deleted in Forecast")
    assert "batch_approve_all" not in json.dumps(closed.get("blocks"))
    states = {doc["reference"]: (doc["state"], doc["withdrawn"]) async for doc in bot.storage.export_jobs.find({})}
    assert states == {"INV-101": ("rejected", "forecast_draft"), "INV-102": ("rejected", "forecast_deleted")}
    reasons = {doc["reference"]: doc["details"]["reason"]
               async for doc in bot.storage.audit.find({"action": "withdrawn"})}
    assert reasons == {"INV-101": "forecast_draft", "INV-102": "forecast_deleted"}


async def test_a_typed_request_is_withdrawn_too_when_its_invoice_goes_back_to_draft(bot, xero):
    forecast = await watching(bot, xero, statuses=("SENT",))
    await bot.ask("export INV-101", user="U0MEMBER")
    single = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "C0APPROVALS")
    in_forecast(forecast, 101, "DRAFT")

    await read(bot)

    updated = await bot.slack.wait_for("chat.update", lambda c: c.get("ts") == single.response["ts"]
                                       and "back in Draft in Forecast" in text_of(c))
    assert "export_approve" not in json.dumps(updated.get("blocks"))
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0MEMBER"
                                  and "was withdrawn" in text_of(c))
    assert "INV-101" in text_of(dm)


async def digest_settings(bot, hour: int = 0) -> None:
    await bot.container.workspace_settings.update(
        TEAM_ID, SettingsChanges(digest_hour=hour, digest_tz="UTC", digest_channel="C0ALERTS"), updated_by="U0ADMIN")


def digests(bot) -> list:
    return [c for c in bot.slack.called("chat.postMessage") if "Still waiting for approval" in str(c.get("text"))]


async def test_the_daily_digest_lists_what_still_waits_once_a_day(bot, xero):
    forecast = await watching(bot, xero)
    in_forecast(forecast, 101, "APPROVED")
    await read(bot)
    await batch_message(bot)
    await digest_settings(bot)

    await bot.container.auto_requests.tick()
    posted = await bot.slack.wait_for("chat.postMessage", lambda c: "Still waiting for approval" in str(c.get("text")))

    assert posted["channel"] == "C0ALERTS"
    assert "INV-101" in text_of(posted) and "Acme Ltd" in text_of(posted) and "GBP 1,140.00" in text_of(posted)
    await bot.container.auto_requests.tick()
    await settled(bot)
    assert len(digests(bot)) == 1


async def test_no_digest_on_a_day_when_nothing_waits_nor_before_its_hour(bot, xero):
    await watching(bot, xero)
    await digest_settings(bot, hour=0)
    await bot.container.auto_requests.tick()
    await settled(bot)
    assert digests(bot) == []
    assert await bot.container.jobs.count(kind=DIGEST, state="done") == 1

    later = await bot.container.auto_requests.digest_due(TEAM_ID, in_seconds(0).replace(hour=0))
    assert later is None  # today's is done; and before its hour nothing is due:
    await digest_settings(bot, hour=23)
    early = in_seconds(0).replace(hour=22)
    assert await bot.container.auto_requests.digest_due(TEAM_ID, early) is None


async def test_a_crash_right_after_the_digest_was_posted_posts_it_once(bot, xero, monkeypatch):
    forecast = await watching(bot, xero)
    in_forecast(forecast, 101, "APPROVED")
    await read(bot)
    await batch_message(bot)
    await digest_settings(bot)
    from bot.outbox import digest as digest_outbox

    crashes = []

    def crash(name: str) -> None:
        if name == "after_digest_post" and not crashes:
            crashes.append(name)
            raise Crash(name)

    monkeypatch.setattr(digest_outbox, "crash_point", crash)
    runner = digest_outbox.DigestOutbox(bot.container.auto_requests, bot.container.gateway)
    now = datetime.now(UTC)
    job = Job(id="d1", kind=DIGEST, payload={"team_id": TEAM_ID, "day": "2026-12-07"}, due_at=now, created_at=now)
    with pytest.raises(Crash):
        await runner.run(job)
    await runner.run(job)  # the job runs again: the post is found by its tag, not made again

    assert len(digests(bot)) == 1
    assert bot.slack.called("conversations.history")
    stored = await bot.storage.forecast_watch.find_one({"_id": TEAM_ID})
    assert stored["digest_sent"]["2026-12-07"]["ts"] == digests(bot)[0].response["ts"]
