"""Credit notes, overpayments and prepayments applied to an exported invoice in Xero flow back: Forecast gets
each as an invoice payment naming the credit, the approval message's status line and thread say so, the
requester hears when it settles the invoice, and removing the allocation or voiding the credit note takes it
back. Through the real webhook route (CREDITNOTE and INVOICE events) and the sync job."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest

from tests.scenarios.sync.test_xero_sync import (
    PAYMENTS,
    deliver,
    dms,
    export_invoice,
    invoice_event,
    settle,
    status_updates,
    thread,
)
from tests.support.harness import start_harness, stop_harness
from tests.support.sync_flow import WEBHOOK_KEY, delivery, event, post_webhook
from tests.support.xero_identity import UK_TENANT


@pytest.fixture
async def bot(storage):
    harness = await start_harness(storage, xero_webhook_key=WEBHOOK_KEY)
    yield harness
    await stop_harness(harness)


def credit_event(credit_id: str, when: str = "2026-12-05T10:00:00.000") -> dict:
    return event(credit_id, UK_TENANT, category="CREDITNOTE", when=when)


async def test_a_credit_note_allocated_in_xero_becomes_a_forecast_payment_naming_it_and_the_thread_says_so(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    credit = books.credit_note(UK_TENANT, "140.00")
    books.allocate(UK_TENANT, credit, "140.00", on="2026-12-05")
    await deliver(bot, credit_event(credit))  # only the credit note's event: the bot finds the invoice itself

    [recorded] = forecast.bodies("POST", PAYMENTS)
    assert recorded == {"amount": 140, "date": "2026-12-05",
                        "notes": f"Xero credit note {credit} applied 140.00 · CN-0001"}
    assert "Credited 140.00 of GBP 1,140.00 · 1,000.00 due" in status_updates(bot, approval)[-1]
    assert any("Credit note CN-0001 of GBP 140.00 was applied to INV-101 in Xero on 5 Dec" in t
               and "added to INV-101 in Forecast as a payment" in t for t in thread(bot, approval))
    assert dms(bot, "U0MEMBER") == []  # not settled yet
    [lookup] = books.sent("GET", "CreditNotes")
    assert f'CreditNoteID==Guid("{credit}")' in unquote_plus(lookup.url)


async def test_repeated_credit_note_webhooks_copy_the_credit_once(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    credit = books.credit_note(UK_TENANT, "140.00")
    books.allocate(UK_TENANT, credit, "140.00")
    body = delivery([credit_event(credit), invoice_event(books, when="2026-12-05T10:00:00.000")])
    for _ in range(3):  # Xero retries a delivery for a day
        assert (await post_webhook(bot, body)).status == 200
    await settle(bot)
    await deliver(bot, credit_event(credit, when="2026-12-05T10:00:09.000"))  # the same change, another event

    assert len(forecast.bodies("POST", PAYMENTS)) == 1 and len(forecast.payments(101)) == 1
    assert len([t for t in thread(bot, approval) if "Credit note CN-0001" in t]) == 1
    assert await bot.storage.links.count_documents({"kind": "payment", "status": "linked"}) == 1


async def test_removing_the_allocation_deletes_the_forecast_payment_and_says_so(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    credit = books.credit_note(UK_TENANT, "140.00")
    allocation = books.allocate(UK_TENANT, credit, "140.00")
    await deliver(bot, credit_event(credit))
    [kept] = forecast.payments(101)

    books.remove_allocation(UK_TENANT, credit, allocation)
    await deliver(bot, credit_event(credit, when="2026-12-05T11:00:00.000"))

    assert [c.path for c in forecast.calls if c.method == "DELETE"] == [f"/invoice_payments/{kept['id']}"]
    assert forecast.payments(101) == []
    assert any("Credit note CN-0001 of GBP 140.00 no longer applies to INV-101" in t for t in thread(bot, approval))
    assert "Awaiting payment · GBP 1,140.00 due" in status_updates(bot, approval)[-1]
    assert await bot.storage.links.count_documents({"kind": "payment", "status": "linked"}) == 0


async def test_voiding_the_credit_note_takes_its_credit_back_in_forecast(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    credit = books.credit_note(UK_TENANT, "200.00")
    books.allocate(UK_TENANT, credit, "200.00")
    await deliver(bot, credit_event(credit))
    assert len(forecast.payments(101)) == 1

    books.void_credit_note(UK_TENANT, credit)
    await deliver(bot, credit_event(credit, when="2026-12-06T09:00:00.000"))

    assert forecast.payments(101) == []
    assert any("no longer applies to INV-101" in t for t in thread(bot, approval))
    assert "Awaiting payment · GBP 1,140.00 due" in status_updates(bot, approval)[-1]


async def test_a_second_allocation_of_the_same_credit_note_replaces_the_forecast_payment_with_the_new_amount(
        bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    credit = books.credit_note(UK_TENANT, "300.00")
    books.allocate(UK_TENANT, credit, "100.00")
    await deliver(bot, credit_event(credit))
    books.allocate(UK_TENANT, credit, "50.00")
    await deliver(bot, credit_event(credit, when="2026-12-05T12:00:00.000"))

    assert [p["amount"] for p in forecast.payments(101)] == [150]
    assert "Credited 150.00 of GBP 1,140.00 · 990.00 due" in status_updates(bot, approval)[-1]


async def test_an_overpayment_allocated_to_the_invoice_settles_it_and_the_requester_hears(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    books.pay(UK_TENANT, "1000.00", on="2026-12-02")
    overpayment = books.overpayment(UK_TENANT, "500.00")
    books.allocate(UK_TENANT, overpayment, "140.00", kind="overpayment", on="2026-12-06")
    await deliver(bot, invoice_event(books))  # Xero has no webhook category for overpayments

    payment, credit = [body["notes"] for body in forecast.bodies("POST", PAYMENTS)]
    assert payment.startswith("Xero payment ") and credit == f"Xero overpayment {overpayment} applied 140.00"
    assert "Paid 1,000.00 of GBP 1,140.00 on 6 Dec · 140.00 credited" in status_updates(bot, approval)[-1]
    assert any("An overpayment of GBP 140.00 was applied to INV-101" in t for t in thread(bot, approval))
    [paid] = dms(bot, "U0MEMBER")
    assert "INV-101" in paid and "is paid" in paid


async def test_a_credit_note_that_settles_the_invoice_tells_the_requester(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    credit = books.credit_note(UK_TENANT, "1140.00")
    books.allocate(UK_TENANT, credit, "1140.00", on="2026-12-07")
    await deliver(bot, credit_event(credit))

    assert "Settled by credit 1,140.00 of GBP 1,140.00 on 7 Dec" in status_updates(bot, approval)[-1]
    [settled] = dms(bot, "U0MEMBER")
    assert "INV-101" in settled and "is settled" in settled


async def test_a_sync_that_died_after_forecast_took_the_credit_finds_it_by_its_notes_instead_of_copying_it_again(
        bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    links = bot.container.xero_sync.invoices.links
    real_link, died = links.link, []

    async def dies_once(team_id, kind, *args, **kwargs):
        if kind == "payment" and not died:
            died.append(True)  # the process stops after Forecast created the payment, before the link was written
            raise RuntimeError("process stopped")
        return await real_link(team_id, kind, *args, **kwargs)

    links.link = dies_once
    credit = books.credit_note(UK_TENANT, "140.00")
    books.allocate(UK_TENANT, credit, "140.00")
    await deliver(bot, credit_event(credit))

    assert died and len(forecast.bodies("POST", PAYMENTS)) == 1 and len(forecast.payments(101)) == 1
    assert await bot.storage.links.count_documents({"kind": "payment", "status": "linked"}) == 1
    assert len([t for t in thread(bot, approval) if "Credit note CN-0001" in t]) == 1


async def test_credit_notes_of_an_organisation_with_nothing_exported_are_ignored_without_calling_xero(bot, xero):
    books, forecast, _ = await export_invoice(bot, xero)
    await deliver(bot, event("a3b4c5d6-0000-4000-8000-00000000000c", "another-tenant", category="CREDITNOTE"))
    assert await bot.storage.xero_events.count_documents({}) == 0
    assert books.sent("GET", "CreditNotes") == []


async def test_a_credit_note_allocated_to_an_invoice_the_bot_did_not_export_changes_nothing(bot, xero):
    books, forecast, approval = await export_invoice(bot, xero)
    contact = books.invoice(UK_TENANT)["Contact"]["ContactID"]
    books.add_invoice(UK_TENANT, "INV-900", Contact={"ContactID": contact}, Status="AUTHORISED",
                      Total=500.0, AmountDue=500.0, CurrencyCode="GBP")
    credit = books.credit_note(UK_TENANT, "100.00")
    books.allocate(UK_TENANT, credit, "100.00", number="INV-900")
    await deliver(bot, credit_event(credit))

    assert forecast.bodies("POST", PAYMENTS) == []
    assert len(books.sent("GET", "CreditNotes")) == 1 and books.sent("GET", "Invoices") == []
    assert await bot.storage.xero_events.count_documents({"state": "new"}) == 0
