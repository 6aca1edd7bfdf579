"""The drift report: once a day (and after /xero sync) the exported invoices are compared with Xero and
Forecast, and those that disagree are posted once to the notify channel with what differs and a way to fix
it. A day with no drift posts nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from services.exports.service import REDRAW_EXPORT
from services.sync.drift import DRIFT_JOB
from services.sync.engine import SYNC_JOB
from services.sync.notices import SYNC_NOTICE
from tests.scenarios.sync.test_xero_sync import deliver, export_invoice, in_seconds, invoice_event, text_of
from tests.support.export_flow import replies
from tests.support.harness import start_harness, stop_harness
from tests.support.slack_standin import TEAM_ID
from tests.support.sync_flow import WEBHOOK_KEY
from tests.support.xero_identity import UK_TENANT

DAY = "2026-12-07"
NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
async def bot(storage):
    harness = await start_harness(storage, xero_webhook_key=WEBHOOK_KEY)
    yield harness
    await stop_harness(harness)


async def settle(bot, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while await bot.container.jobs.count(kind={"$in": [DRIFT_JOB, SYNC_JOB, SYNC_NOTICE, REDRAW_EXPORT]}, **{"$or": [
            {"state": "running"}, {"state": "queued", "due_at": {"$lte": in_seconds(5)}}]}):
        assert time.monotonic() < deadline, "drift jobs did not finish"
        await asyncio.sleep(0.05)


async def in_sync(bot, xero):
    """INV-101 exported and authorised in Xero, and the bot has seen that: nothing disagrees."""
    books, forecast, approval = await export_invoice(bot, xero)
    await deliver(bot, invoice_event(books))
    books.calls.clear()
    return books, forecast, approval


async def daily_check(bot) -> int:
    """The daily ticker of one replica, at noon."""
    drift = bot.container.xero_sync.drift
    drift.clock = lambda: NOON
    enqueued = await drift.enqueue_due()
    await settle(bot)
    return enqueued


def reports(bot) -> list[str]:
    return [text_of(c) for c in bot.slack.called("chat.postMessage") if "Drift check" in text_of(c)]


async def test_a_day_with_no_drift_posts_nothing(bot, xero):
    books, forecast, _ = await in_sync(bot, xero)
    assert await daily_check(bot) == 1

    assert reports(bot) == []
    [read] = books.sent("GET", "Invoices")  # one batched read per organisation
    assert "IDs=" in read.url
    assert await bot.container.xero_sync.state.drift_checked(TEAM_ID, DAY)
    assert await daily_check(bot) == 0  # the day's check ran: the next tick starts none


async def test_drift_is_found_and_posted_once_with_what_differs_and_how_to_fix_it(bot, xero):
    books, forecast, approval = await in_sync(bot, xero)
    books.edit_line(UK_TENANT, 1, Quantity=12.0)  # edited in Xero; the webhook never arrived
    books.pay(UK_TENANT, "100.00")

    await daily_check(bot)
    await daily_check(bot)  # the same replica's next tick
    await bot.container.jobs.enqueue(DRIFT_JOB, {"team_id": TEAM_ID, "run": DAY})  # another replica's, late
    await settle(bot)
    await bot.storage.xero_sync.delete_many({"kind": "drift"})  # two replicas checking at the same moment
    await bot.container.jobs.enqueue(DRIFT_JOB, {"team_id": TEAM_ID, "run": DAY})
    await settle(bot)

    [report] = reports(bot)
    [posted] = [c for c in bot.slack.called("chat.postMessage") if "Drift check" in text_of(c)]
    assert posted["channel"] == "C0ALERTS"
    assert "INV-101" in report and "Demo Company (UK)" in report
    assert "Total: exported GBP 1,140.00, Xero has GBP 1,356.00" in report
    assert "Status: Ledgerline last saw it awaiting payment, Xero says part paid" in report
    assert "Payments: Forecast holds GBP 0.00, Xero has GBP 100.00 paid or credited" in report
    buttons = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {b["text"]["text"] for b in buttons} == {"Re-sync", "Open in Xero"}


async def test_xero_sync_reports_the_drift_the_sync_cannot_mend(bot, xero):
    books, forecast, approval = await in_sync(bot, xero)
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books, when="2026-12-03T12:00:00.000"))
    [payment] = forecast.payments(101)
    forecast.store.rows("invoices")[0]["payments"] = []  # someone deleted it in Forecast by hand
    assert not forecast.payments(101)

    await bot.ask("sync", user="U0ADMIN")
    await settle(bot)

    [report] = reports(bot)
    assert "Payments: Forecast holds GBP 0.00, Xero has GBP 500.00 paid or credited" in report
    assert "after `/xero sync`" in report
    assert payment


async def test_a_failed_export_nobody_retried_is_in_the_report_with_retry(bot, xero):
    books, forecast, approval = await in_sync(bot, xero)
    job = await bot.storage.export_jobs.find_one({"approval_ts": approval["ts"]})
    await bot.storage.export_jobs.update_one({"_id": job["_id"]}, {"$set": {"state": "failed"}})
    await bot.storage.links.delete_many({"kind": "invoice"})

    await daily_check(bot)

    [posted] = [c for c in bot.slack.called("chat.postMessage") if "Drift check" in text_of(c)]
    assert "Its export failed and was not retried" in text_of(posted)
    [retry] = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (retry["action_id"], retry["value"]) == ("export_retry", job["_id"])


async def test_the_re_sync_button_syncs_for_admins_only(bot, xero):
    await in_sync(bot, xero)
    name = await bot.click("drift_resync", UK_TENANT, user="U0MEMBER", channel="C0ALERTS")
    [refused] = await replies(bot, name, 1)
    assert "Only admins" in text_of(refused)
    assert await bot.container.xero_sync.state.open_requests(TEAM_ID, UK_TENANT, made_before=in_seconds(5)) == []

    name = await bot.click("drift_resync", UK_TENANT, user="U0ADMIN", channel="C0ALERTS")
    [started] = await replies(bot, name, 1)
    assert "Syncing *Demo Company (UK)* now" in text_of(started)
    await settle(bot)
    await bot.slack.wait_for("chat.postEphemeral", lambda c: "nothing changed" in text_of(c))
