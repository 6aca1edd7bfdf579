"""Payments, statuses and contact changes in Xero flow back to Forecast and Slack: webhooks through the
real route, the sync job, the periodic scan and /xero sync."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from services.exports.service import REDRAW_EXPORT
from services.shared.settings import SettingsChanges
from services.sync.engine import SYNC_JOB
from services.sync.notices import SYNC_NOTICE
from tests.support.contracts import require_contracts, validate_xero_accounting_request
from tests.support.export_flow import FORECAST_KEY, click, final_update, forecast_holding, job_id_of, request
from tests.support.harness import start_harness, stop_harness
from tests.support.slack_standin import TEAM_ID
from tests.support.sync_flow import WEBHOOK_KEY, delivery, event, post_webhook
from tests.support.xero_identity import UK, UK_TENANT, US_TENANT, connect_organisations
from tests.support.xero_standin import connected_books


@pytest.fixture
async def bot(storage):
    harness = await start_harness(storage, xero_webhook_key=WEBHOOK_KEY)
    yield harness
    await stop_harness(harness)


async def export_invoice(bot, xero, *, integer_amounts: bool = False, approve: bool = True):
    """INV-101 exported to Demo Company (UK) and authorised there; the periodic scan just ran."""
    await connect_organisations(bot, xero, tenants=(UK,))
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(
        forecast_api_key=FORECAST_KEY, approval_channel="C0APPROVALS", notify_channel="C0ALERTS"), updated_by="U0ADMIN")
    forecast = forecast_holding(xero)
    forecast.whole_payment_amounts = integer_amounts
    books = connected_books(xero, {"UK": UK_TENANT, "US": US_TENANT})
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    await click(bot, "export_approve", job_id)
    await final_update(bot, job_id, "exported")
    if approve:
        books.approve(UK_TENANT)
    await bot.container.xero_sync.state.scanned(TEAM_ID, UK_TENANT, in_seconds(0))
    books.calls.clear()
    stored = await bot.storage.export_jobs.find_one({"_id": job_id})
    return books, forecast, {"ts": stored["approval_ts"], "channel": stored["approval_channel"]}


INVOICE = "/invoices/101"  # INV-101 in Forecast: its payments come with it
PAYMENTS = "/invoices/101/invoice_payments"


def in_seconds(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def settle(bot, timeout: float = 8.0) -> None:
    """Waits until no sync job, and none of the Slack jobs after it, is running or due in the next few
    seconds (a retry after a failure is)."""
    deadline = time.monotonic() + timeout
    while True:
        busy = await bot.container.jobs.count(kind={"$in": [SYNC_JOB, SYNC_NOTICE, REDRAW_EXPORT]}, **{"$or": [
            {"state": "running"}, {"state": "queued", "due_at": {"$lte": in_seconds(5)}}]})
        if not busy:
            return
        assert time.monotonic() < deadline, "sync jobs did not finish"
        await asyncio.sleep(0.05)


async def deliver(bot, *events) -> None:
    response = await post_webhook(bot, delivery(list(events)))
    assert response.status == 200 and await response.read() == b""
    await settle(bot)


def text_of(payload) -> str:
    return json.dumps(payload.get("blocks"), ensure_ascii=False) + " " + str(payload.get("text"))


def invoice_event(books, **kwargs) -> dict:
    return event(books.invoice(UK_TENANT)["InvoiceID"], UK_TENANT, **kwargs)


def thread(bot, approval) -> list[str]:
    return [text_of(c) for c in bot.slack.called("chat.postMessage") if c.get("thread_ts") == approval["ts"]]


def status_updates(bot, approval) -> list[str]:
    updates = bot.slack.called("chat.update")
    return [text_of(c) for c in updates if c["ts"] == approval["ts"] and "In Xero" in text_of(c)]


def dms(bot, user: str) -> list[str]:
    """DMs about payments (the requester's DM about the export itself is the outbox's)."""
    return [text_of(c) for c in bot.slack.called("chat.postMessage")
            if c["channel"] == user and "Your export of" not in text_of(c)]


# ----------------------------------------------------------------------------- the route


async def test_wrong_or_missing_signatures_get_401_without_a_body_and_nothing_is_stored(bot):
    body = delivery([event("a3b4c5d6-0000-4000-8000-000000000001", UK_TENANT)])
    for response in (await post_webhook(bot, body, key="another-key"), await post_webhook(bot, body, key=None),
                     await post_webhook(bot, body, signature="bm90IGEgc2lnbmF0dXJl"),
                     await post_webhook(bot, body, signature="")):
        assert response.status == 401
        assert await response.read() == b""
    assert await bot.storage.xero_events.count_documents({}) == 0


async def test_intent_to_receive_is_answered_200_with_no_body_within_five_seconds(bot):
    body = delivery([])
    started = time.monotonic()
    good = await post_webhook(bot, body)
    assert good.status == 200 and await good.read() == b""
    assert time.monotonic() - started < 5
    tampered = await post_webhook(bot, body.replace(b"SOMERANDOMLETTERS", b"OTHERRANDOMLETTER"),
                                  signature=good.request_info.headers["x-xero-signature"])
    assert tampered.status == 401 and await tampered.read() == b""


async def test_without_a_webhook_key_every_delivery_gets_401(storage):
    harness = await start_harness(storage)
    try:
        response = await post_webhook(harness, delivery([]))
        assert response.status == 401 and await response.read() == b""
    finally:
        await stop_harness(harness)


async def test_the_webhook_key_is_masked_in_every_log_line(bot):
    from bot.logging_setup import Redactor

    redactor = Redactor(bot.container.settings.secrets())
    assert WEBHOOK_KEY not in redactor.redact(f"xero webhook key={WEBHOOK_KEY}")




async def test_events_of_unknown_organisations_and_unlinked_invoices_are_ignored_without_calling_xero(bot, xero):
    books, forecast, _ = await export_invoice(bot, xero)
    await deliver(bot, event("a3b4c5d6-0000-4000-8000-000000000009", US_TENANT),
                  event("a3b4c5d6-0000-4000-8000-00000000000a", UK_TENANT),
                  event("a3b4c5d6-0000-4000-8000-00000000000b", UK_TENANT, category="CONTACT"))
    assert await bot.storage.xero_events.count_documents({}) == 0
    assert await bot.container.jobs.count(kind=SYNC_JOB) == 0
    assert books.calls == [] and forecast.bodies("POST", PAYMENTS) == []


# ----------------------------------------------------------------------------- payments and statuses


async def test_a_partial_payment_then_the_rest_reach_forecast_once_each_and_slack_shows_the_status(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    first = books.pay(UK_TENANT, "500.00", on="2026-12-02")
    await deliver(bot, invoice_event(books, when="2026-12-02T09:00:00.000"))

    [recorded] = forecast.bodies("POST", PAYMENTS)
    assert recorded == {"amount": 500, "date": "2026-12-02", "notes": f"Xero payment {first} · Bank transfer"}
    assert "Part paid 500.00 of GBP 1,140.00" in status_updates(bot, approval)[-1]
    assert any("payment of GBP 500.00 on 2 Dec" in t and "added to INV-101 in Forecast" in t
               for t in thread(bot, approval))
    assert dms(bot, "U0MEMBER") == []
    [invoice_gets] = books.sent("GET", "Invoices")
    assert "IDs=" in invoice_gets.url

    books.pay(UK_TENANT, "640.00", on="2026-12-03")
    await deliver(bot, invoice_event(books, when="2026-12-03T09:00:00.000"))

    assert [p["amount"] for p in forecast.bodies("POST", PAYMENTS)] == [500, 640]
    assert "Paid 1,140.00 of GBP 1,140.00 on 3 Dec" in status_updates(bot, approval)[-1]
    assert any("is now paid in Xero" in t for t in thread(bot, approval))
    [paid] = dms(bot, "U0MEMBER")
    assert "INV-101" in paid and "is paid" in paid
    assert await bot.storage.links.count_documents({"kind": "payment", "status": "linked"}) == 2
    link = await bot.storage.links.find_one({"kind": "invoice"})
    assert link["details"]["sync_status"] == "paid" and link["details"]["amount_paid"] == "1140"


async def test_duplicated_and_out_of_order_events_record_each_payment_once(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    books.pay(UK_TENANT, "500.00")
    later = invoice_event(books, when="2026-12-03T10:00:05.000")
    earlier = invoice_event(books, when="2026-12-03T10:00:01.000")
    body = delivery([later, earlier, later])
    for _ in range(3):  # Xero retries a delivery it thinks failed
        response = await post_webhook(bot, body)
        assert response.status == 200
    await settle(bot)

    assert len(forecast.bodies("POST", PAYMENTS)) == 1
    assert await bot.storage.xero_events.count_documents({}) == 2
    assert await bot.storage.xero_events.count_documents({"state": "new"}) == 0
    assert len([t for t in thread(bot, approval) if "payment of GBP 500.00" in t]) == 1


async def test_a_payment_removed_in_xero_is_deleted_in_forecast(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    payment = books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books, when="2026-12-03T10:00:00.000"))
    [kept] = forecast.payments(101)

    books.remove_payment(UK_TENANT, payment)
    await deliver(bot, invoice_event(books, when="2026-12-03T11:00:00.000"))

    assert [c.path for c in forecast.calls if c.method == "DELETE"] == [f"/invoice_payments/{kept['id']}"]
    assert forecast.payments(101) == []
    assert any("was removed in Xero" in t for t in thread(bot, approval))
    assert "Awaiting payment · GBP 1,140.00 due" in status_updates(bot, approval)[-1]
    link = await bot.storage.links.find_one({"kind": "payment"})
    assert link["status"] == "unlinked"


async def test_a_voided_invoice_is_reported_not_deleted_in_forecast(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    books.void(UK_TENANT)
    await deliver(bot, invoice_event(books))

    assert "Voided · Forecast keeps the invoice" in status_updates(bot, approval)[-1]
    assert any("was voided in Xero" in t and "Nothing was deleted in Forecast" in t for t in thread(bot, approval))
    deletes = [key for key in xero.requests if key[0] == "DELETE" and "/invoices/" in str(key[1])]
    assert deletes == []


async def test_an_invoice_edited_in_xero_after_the_export_is_reported_with_what_differs(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    books.edit_line(UK_TENANT, 1, Quantity=12.0)
    await deliver(bot, invoice_event(books))

    [edited] = [t for t in thread(bot, approval) if "edited in Xero" in t]
    assert "Line 1 quantity: 10 → 12" in edited and "Total before tax: 950 → 1130" in edited


async def test_an_amount_forecast_cannot_hold_exactly_is_reported_in_slack(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero, integer_amounts=True)
    books.pay(UK_TENANT, "500.50")
    await deliver(bot, invoice_event(books))

    assert forecast.bodies("POST", PAYMENTS)[0]["amount"] == 500.5  # the exact amount was sent
    said = [t for t in thread(bot, approval) if "Forecast kept GBP 500.00" in t]
    assert said and "GBP 500.50" in said[0]
    assert any("Forecast kept GBP 500.00" in text_of(c) for c in bot.slack.called("chat.postMessage")
               if c["channel"] == "C0ALERTS")


async def test_a_sync_that_dies_after_forecast_created_the_payment_creates_nothing_twice(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    links = bot.container.xero_sync.invoices.links
    real_link, died = links.link, []

    async def dies_once(team_id, kind, *args, **kwargs):
        if kind == "payment" and not died:
            died.append(True)  # the process stops after Forecast created the payment, before the link was written
            raise RuntimeError("process stopped")
        return await real_link(team_id, kind, *args, **kwargs)

    links.link = dies_once
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books))

    assert died and len(forecast.bodies("POST", PAYMENTS)) == 1 and len(forecast.payments(101)) == 1
    assert await bot.storage.links.count_documents({"kind": "payment", "status": "linked"}) == 1
    assert await bot.storage.xero_events.count_documents({"state": "new"}) == 0


def dies_before_saving(bot, what: str) -> list[str]:
    """The process stops after the Forecast write, before the notices about `what` are saved."""
    notices = bot.container.xero_sync.notices
    real_add, died = notices.add, []

    async def add(saved):
        if not died and any(notice.what == what for notice in saved):
            died.append(what)
            raise RuntimeError("process stopped")
        return await real_add(saved)

    notices.add = add
    return died


async def test_a_sync_that_dies_after_recording_a_payment_before_saving_its_notice_tells_the_thread_once(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    died = dies_before_saving(bot, "payment_recorded")
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books))

    assert died and len(forecast.sent("POST", PAYMENTS)) == 1 and len(forecast.payments(101)) == 1
    assert len([t for t in thread(bot, approval) if "payment of GBP 500.00" in t]) == 1
    assert await bot.storage.links.count_documents({"kind": "payment", "status": "linked"}) == 1


async def test_a_sync_that_dies_after_deleting_a_payment_before_saving_its_notice_tells_the_thread_once(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    payment = books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books, when="2026-12-03T10:00:00.000"))
    [kept] = forecast.payments(101)
    died = dies_before_saving(bot, "payment_removed")
    books.remove_payment(UK_TENANT, payment)
    await deliver(bot, invoice_event(books, when="2026-12-03T11:00:00.000"))

    deleted = [call.path for call in forecast.calls if call.method == "DELETE"]
    assert died and deleted == [f"/invoice_payments/{kept['id']}"] and forecast.payments(101) == []
    assert len([t for t in thread(bot, approval) if "was removed in Xero" in t]) == 1
    assert (await bot.storage.links.find_one({"kind": "payment"}))["status"] == "unlinked"


async def test_a_restart_in_the_middle_of_handling_events_hands_them_to_the_next_process(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    reads: list = []

    async def first_read_never_answers(call) -> None:  # the job's process dies while it waits
        if call.method == "GET" and call.path == INVOICE:
            reads.append(call)
            if len(reads) == 1:
                await asyncio.Event().wait()

    forecast.before = first_read_never_answers
    books.pay(UK_TENANT, "500.00")
    response = await post_webhook(bot, delivery([invoice_event(books)]))
    assert response.status == 200
    for _ in range(100):
        if reads:
            break
        await asyncio.sleep(0.05)
    assert len(reads) == 1  # the job is in the middle of its work

    runner = bot.container.runner
    real_release = runner.queue.release

    async def process_dies(job):
        return False  # a killed process hands nothing back

    runner.queue.release = process_dies
    await runner.stop()
    runner.queue.release = real_release
    assert await bot.storage.xero_events.count_documents({"state": "new"}) == 1
    await bot.storage.jobs.update_many({"kind": SYNC_JOB, "state": "running"},
                                       {"$set": {"lease_until": in_seconds(-1)}})  # its lease ran out
    runner.start()  # the bot comes back
    await settle(bot)

    assert len(forecast.bodies("POST", PAYMENTS)) == 1 and len(forecast.payments(101)) == 1
    assert await bot.storage.xero_events.count_documents({"state": "new"}) == 0
    assert any("payment of GBP 500.00" in t for t in thread(bot, approval))


# ----------------------------------------------------------------------------- contacts


async def test_a_contact_edited_in_xero_updates_the_forecast_client_and_tells_the_notify_channel(bot, xero):
    books, forecast, _ = await export_invoice(bot, xero)
    contact = books.edit_contact(UK_TENANT, Name="Acme Group Ltd", TaxNumber="GB999999999")
    await deliver(bot, event(contact["ContactID"], UK_TENANT, category="CONTACT"))

    assert forecast.bodies("PUT", "/clients/7") == [{"name": "Acme Group Ltd", "vat_number": "GB999999999"}]
    [told] = [text_of(c) for c in bot.slack.called("chat.postMessage") if c["channel"] == "C0ALERTS"]
    assert "Name: Acme Ltd → Acme Group Ltd" in told and "VAT number: GB123456789 → GB999999999" in told


# ----------------------------------------------------------------------------- without webhooks


async def test_the_periodic_sync_catches_a_change_that_had_no_event(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    await bot.container.xero_sync.state.scanned(TEAM_ID, UK_TENANT, in_seconds(-16 * 60))
    books.pay(UK_TENANT, "1140.00")

    assert await bot.container.xero_sync.enqueue_due() == 1
    await settle(bot)

    assert [p["amount"] for p in forecast.bodies("POST", PAYMENTS)] == [1140]
    assert "Paid 1,140.00 of GBP 1,140.00" in status_updates(bot, approval)[-1]
    scans = [c.headers for c in books.calls if "/Invoices" in c.url and "IDs=" not in c.url]
    assert scans and scans[0]["If-Modified-Since"].endswith("Z")
    assert await bot.container.xero_sync.enqueue_due() == 0  # just scanned: not due again


async def test_xero_sync_runs_now_and_answers_with_what_changed(bot, xero):
    books, forecast, _ = await export_invoice(bot, xero)
    refused = await bot.ask("sync", user="U0MEMBER")
    assert "admin" in text_of(refused).lower()

    books.pay(UK_TENANT, "500.00")
    started = await bot.ask("sync", user="U0ADMIN")
    assert "Demo Company (UK)" in text_of(started)
    answer = await bot.slack.wait_for("chat.postEphemeral", lambda c: c.get("user") == "U0ADMIN"
                                      and "what changed" in text_of(c))
    assert "INV-101" in text_of(answer) and "Part paid 500.00" in text_of(answer)
    assert len(forecast.bodies("POST", PAYMENTS)) == 1

    again = await bot.ask("sync", user="U0ADMIN")
    assert again
    await bot.slack.wait_for("chat.postEphemeral", lambda c: "nothing changed" in text_of(c))



def xero_last_said(bot, tenant_id: str, headers: dict[str, str]) -> None:
    """Xero's last answer for this organisation carried these limit headers (the client reads them off every
    answer)."""
    bot.container.xero._observe(tenant_id, headers)

async def test_sync_waits_when_the_days_calls_are_needed_for_exports(bot, xero):
    books, forecast, _ = await export_invoice(bot, xero)
    xero_last_said(bot, UK_TENANT, {"X-DayLimit-Remaining": "150"})
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books))

    assert books.calls == [] and forecast.bodies("POST", PAYMENTS) == []
    assert await bot.storage.xero_events.count_documents({"state": "new"}) == 1
    [waiting] = [j async for j in bot.storage.jobs.find({"kind": SYNC_JOB, "state": "queued"})]
    assert waiting["due_at"] > in_seconds(3000)


async def test_every_request_sync_sends_to_xero_matches_xeros_spec(bot, xero):
    require_contracts()
    books, forecast, _ = await export_invoice(bot, xero)
    contact = books.edit_contact(UK_TENANT, Name="Acme Group Ltd")
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books), event(contact["ContactID"], UK_TENANT, category="CONTACT"))
    await bot.container.xero_sync.state.scanned(TEAM_ID, UK_TENANT, in_seconds(-16 * 60))
    await bot.container.xero_sync.enqueue_due()
    await settle(bot)

    sent = {(c.method, c.url.split("/api.xro/2.0")[1].split("?")[0], "IDs=" in c.url) for c in books.calls}
    assert sent == {("GET", "/Invoices", True), ("GET", "/Contacts", True), ("GET", "/Invoices", False),
                    ("GET", "/Contacts", False)}
    for call in books.calls:
        validate_xero_accounting_request(call.method, call.url, call.headers, call.body)


async def test_xero_sync_says_at_once_when_the_days_calls_are_kept_for_exports(bot, xero):
    books, forecast, _ = await export_invoice(bot, xero)
    xero_last_said(bot, UK_TENANT, {"X-DayLimit-Remaining": "120"})
    answer = await bot.ask("sync", user="U0ADMIN")
    assert "Not syncing *Demo Company (UK)*" in text_of(answer) and "kept for exports" in text_of(answer)
    assert await bot.container.jobs.count(kind=SYNC_JOB) == 0 and books.calls == []


async def test_sync_reads_wait_while_this_minutes_calls_are_nearly_gone(bot, xero):
    books, forecast, _ = await export_invoice(bot, xero)
    paused: list[float] = []

    async def no_wait(seconds: float) -> None:
        paused.append(seconds)

    bot.container.xero_sync.sleep = no_wait
    xero_last_said(bot, UK_TENANT, {"X-MinLimit-Remaining": "4"})
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books))

    assert paused and len(forecast.bodies("POST", PAYMENTS)) == 1  # it waited, then read


async def test_xero_sync_on_an_organisation_xero_refuses_says_why(bot, xero):
    books, forecast, _ = await export_invoice(bot, xero)
    books.fail_next("GET", "Invoices", 401)
    books.fail_next("GET", "Invoices", 401)  # and again after the refresh: Xero refuses us this organisation
    await bot.ask("sync", user="U0ADMIN")
    answer = await bot.slack.wait_for("chat.postEphemeral", lambda c: "could not be read" in text_of(c))
    assert "Demo Company (UK)" in text_of(answer) and "reconnect" in text_of(answer)
    assert forecast.bodies("POST", PAYMENTS) == []


# ----------------------------------------------------------------------------- Slack away, crashes, limits


async def test_a_thread_reply_slack_refused_once_is_delivered_later_exactly_once(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    await settle(bot)  # the export's own messages are all out
    bot.slack.fail_next("chat.postMessage", "fatal_error")  # Slack's own trouble: worth trying again
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books))

    # the refused call, then the one Slack took; nothing after it
    assert len([t for t in thread(bot, approval) if "payment of GBP 500.00" in t]) == 2
    [notice] = [n async for n in bot.storage.sync_notices.find({"what": "payment_recorded"})]
    assert notice["state"] == "sent" and notice["ts"]
    assert await bot.storage.sync_notices.count_documents({"state": "unsent"}) == 0
    assert len(forecast.bodies("POST", PAYMENTS)) == 1


async def test_a_notice_slack_refuses_for_good_is_skipped_and_the_others_are_sent(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    await settle(bot)
    bot.slack.fail_next("chat.postMessage", "channel_not_found")
    books.pay(UK_TENANT, "1140.00")
    await deliver(bot, invoice_event(books))

    assert len([t for t in thread(bot, approval) if "payment of GBP 1,140.00" in t]) == 1  # refused, not retried
    assert len([t for t in thread(bot, approval) if "is now paid in Xero" in t]) == 1
    assert len(dms(bot, "U0MEMBER")) == 1
    refused = await bot.storage.sync_notices.find_one({"state": "refused"})
    assert refused["what"] == "payment_recorded" and refused["error"] == "channel_not_found"


async def test_notices_saved_before_a_crash_are_posted_once_after_the_restart(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    sync = bot.container.xero_sync
    real_deliver = sync.deliver_notices

    async def process_dies_before_posting(team_id):
        raise RuntimeError("process stopped")

    sync.deliver_notices = process_dies_before_posting
    books.pay(UK_TENANT, "1140.00")
    await deliver(bot, invoice_event(books, when="2026-12-03T10:00:00.000"))
    sync.deliver_notices = real_deliver
    assert thread(bot, approval) == [] and dms(bot, "U0MEMBER") == []
    assert await bot.storage.sync_notices.count_documents({"state": "unsent"}) >= 2

    # Xero delivers the event again and the job runs again: the same notices, not saved twice
    await bot.storage.xero_events.update_many({}, {"$set": {"state": "new"}})
    await sync.enqueue(TEAM_ID, UK_TENANT)
    await settle(bot)
    await bot.container._sweep()  # the next process's sweep finds what was never posted
    await settle(bot)
    outbox = bot.container.runner.kinds[SYNC_NOTICE].handler  # and a second run of the job posts nothing more
    await outbox(type("Queued", (), {"payload": {"team_id": TEAM_ID}})())

    assert len([t for t in thread(bot, approval) if "payment of GBP 1,140.00" in t]) == 1
    assert len([t for t in thread(bot, approval) if "is now paid in Xero" in t]) == 1
    assert len(dms(bot, "U0MEMBER")) == 1
    assert len(forecast.bodies("POST", PAYMENTS)) == 1


@pytest.mark.parametrize("dies_after", ["payment_recorded", "paid"])  # a reply in the thread; a DM
async def test_a_crash_between_posting_a_notice_and_marking_it_finds_the_post_instead_of_sending_it_again(
        bot, xero, dies_after):
    books, forecast, approval = await export_invoice(bot, xero)
    notices = bot.container.xero_sync.notices
    real_mark, died = notices.mark, []

    async def dies_after_the_post(notice, state, **kwargs):
        if notice.what == dies_after and not died:
            died.append(notice.what)
            raise RuntimeError("process stopped")
        return await real_mark(notice, state, **kwargs)

    notices.mark = dies_after_the_post  # the outbox job and sync share the one store
    books.pay(UK_TENANT, "1140.00")
    await deliver(bot, invoice_event(books))
    await settle(bot)  # the job runs again after its failed attempt

    replies = thread(bot, approval)
    assert died == [dies_after]
    assert len([t for t in replies if "payment of GBP 1,140.00" in t]) == 1  # found by its metadata
    assert len([t for t in replies if "is now paid in Xero" in t]) == 1
    assert len(dms(bot, "U0MEMBER")) == 1
    assert await bot.storage.sync_notices.count_documents({"state": {"$ne": "sent"}}) == 0
    lookups = bot.slack.called("conversations.replies" if dies_after == "payment_recorded" else "conversations.history")
    assert lookups, "the lost post was looked for before posting again"


async def test_the_approval_message_keeps_the_xero_status_across_an_outbox_redraw(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    exported_status = (await bot.storage.export_jobs.find_one({"approval_ts": approval["ts"]}))["xero_status"]
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books))

    job_doc = await bot.storage.export_jobs.find_one({"approval_ts": approval["ts"]})
    assert job_doc["in_xero"]["label"] == "part_paid" and float(job_doc["in_xero"]["amount_paid"]) == 500
    job = await bot.container.exports.get_job(TEAM_ID, job_doc["_id"])
    await bot.container.exports.redraw(job)  # any later redraw of the export's messages
    await settle(bot)

    updates = [text_of(c) for c in bot.slack.called("chat.update") if c["ts"] == approval["ts"]]
    assert len(updates) >= 2
    assert "Part paid 500.00 of GBP 1,140.00" in updates[-1]
    shown = f"({exported_status.capitalize()})"  # DRAFT shows as (Draft) on every message
    assert exported_status and any(shown in u for u in updates)  # the export's wording
    assert shown not in updates[-1]  # Xero's newer status replaces it


async def test_sync_backs_off_when_xeros_answers_say_the_days_calls_are_needed_for_exports(bot, xero):
    books, forecast, _ = await export_invoice(bot, xero)
    books.day_remaining = 150  # below SYNC_DAY_RESERVE: what Xero says on its next answer
    contact = books.edit_contact(UK_TENANT, Name="Acme Group Ltd")
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books), event(contact["ContactID"], UK_TENANT, category="CONTACT"))

    assert len(books.calls) == 1  # the invoices were read; Xero's answer stopped the contacts' read
    assert len(forecast.bodies("POST", PAYMENTS)) == 1 and forecast.bodies("PUT", "/clients/7") == []
    assert bot.container.xero.calls_left_today(UK_TENANT) == 150
    [waiting] = [j async for j in bot.storage.jobs.find({"kind": SYNC_JOB, "state": "queued"})]
    assert waiting["due_at"] > in_seconds(3000)
    assert await bot.storage.xero_events.count_documents({"state": "new"}) == 2


async def test_handled_events_and_sent_notices_are_forgotten_after_a_week(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books, when="2026-12-03T10:00:00.000"))
    books.pay(UK_TENANT, "100.00")
    await deliver(bot, invoice_event(books, when="2026-12-04T10:00:00.000"))
    first = await bot.storage.xero_events.find_one({"event_date": "2026-12-03T10:00:00.000"})
    await bot.storage.xero_events.update_one({"_id": first["_id"]}, {"$set": {"handled_at": in_seconds(-8 * 86400)}})
    sent = await bot.storage.sync_notices.count_documents({"state": "sent"})
    await bot.storage.sync_notices.update_many({}, {"$set": {"finished_at": in_seconds(-8 * 86400)}})

    await bot.container._sweep()

    assert await bot.storage.xero_events.count_documents({}) == 1
    assert sent and await bot.storage.sync_notices.count_documents({}) == 0


async def test_payments_not_copied_for_want_of_a_forecast_key_are_copied_at_the_next_scan_after_one_is_set(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    settings = bot.container.workspace_settings
    await settings.update(TEAM_ID, SettingsChanges(use_default_forecast_key=True), updated_by="U0ADMIN")
    assert await settings.forecast_api_key(TEAM_ID) is None
    books.pay(UK_TENANT, "500.00")
    await deliver(bot, invoice_event(books))
    assert forecast.bodies("POST", PAYMENTS) == []
    assert any("were not copied to Forecast" in t for t in thread(bot, approval))

    await settings.update(TEAM_ID, SettingsChanges(forecast_api_key=FORECAST_KEY), updated_by="U0ADMIN")
    books.invoice(UK_TENANT)["_updated"] = 0  # nothing changes in Xero again: only the bot remembers
    await bot.container.xero_sync.state.scanned(TEAM_ID, UK_TENANT, in_seconds(-16 * 60))
    assert await bot.container.xero_sync.enqueue_due() == 1
    await settle(bot)

    assert [p["amount"] for p in forecast.bodies("POST", PAYMENTS)] == [500]
    assert any("payment of GBP 500.00" in t and "added to INV-101" in t for t in thread(bot, approval))
    link = await bot.storage.links.find_one({"kind": "invoice"})
    assert "payments_wait_for_key" not in link["details"]


async def test_a_draft_in_xero_reads_draft_once_the_same_way_on_every_message(bot, xero):
    books, _, approval = await export_invoice(bot, xero, approve=False)
    told = await bot.slack.wait_for("chat.postMessage", lambda c: "Your export of" in text_of(c))
    assert "(Draft)" in text_of(told)  # the requester hears the status the approval message shows
    assert any("(Draft)" in text_of(c) for c in bot.slack.called("chat.update") if c["ts"] == approval["ts"])
    books.edit_line(UK_TENANT, 1, Description="Design work, revised")
    books.invoice(UK_TENANT)["Status"] = "DRAFT"  # edited in Xero's editor, still a draft
    await deliver(bot, invoice_event(books))
    assert any("*In Xero:* Draft" in t for t in status_updates(bot, approval))
    said = " ".join(text_of(c) for c in bot.slack.called("chat.update") + bot.slack.called("chat.postMessage"))
    assert "(DRAFT)" not in said and "A draft in Xero" not in said
