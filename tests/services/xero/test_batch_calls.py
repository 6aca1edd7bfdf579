"""The Xero client's batch calls and Xero's own remaining counts, against the sandbox's organisations."""

from __future__ import annotations

import re

import pytest
from aioresponses import CallbackResult

from services.xero.client import TenantAuth, XeroClient
from services.xero.limiter import TenantLimiter
from services.xero.models import XeroContact, XeroInvoice, XeroLineItem
from tests.support.xero_standin import API_URL, Tokens, no_sleep


def new_invoice(number: str, contact_name: str, **changes) -> XeroInvoice:
    return XeroInvoice(type="ACCREC", invoice_number=number, contact=XeroContact(name=contact_name),
                       line_amount_types="Exclusive", status="DRAFT",
                       line_items=[XeroLineItem(description="Work", quantity=2, unit_amount="12.3456",
                                                account_code="200", tax_type="OUTPUT2")], **changes)


async def test_one_lookup_per_fifty_invoice_numbers_and_only_sales_invoices_come_back(session, standin):
    uk = TenantAuth(standin.tenant_id("UK"), "t")
    xero = XeroClient(session, API_URL, Tokens(), sleep=no_sleep)
    answers = await xero.create_invoice_batch(uk, [new_invoice(f"B-{n}", "Acme Corporation") for n in range(3)],
                                              idempotency_key="lookup-test")
    assert [a.invoice_number for a in answers] == ["B-0", "B-1", "B-2"]

    found = await xero.find_invoices_by_numbers(uk, [f"B-{n}" for n in range(120)])

    assert sorted(found) == ["B-0", "B-1", "B-2"]
    lookups = standin.sent("GET", "Invoices")
    assert len(lookups) == 3 and all("InvoiceNumbers=" in c.url for c in lookups)


async def test_per_invoice_refusals_come_back_in_order_and_the_others_are_created(session, standin):
    uk = TenantAuth(standin.tenant_id("UK"), "t")
    xero = XeroClient(session, API_URL, Tokens(), sleep=no_sleep)

    answers = await xero.create_invoice_batch(uk, [
        new_invoice("C-1", "Acme Corporation"),
        new_invoice("C-2", "Acme Corporation", currency_code="JPY"),
        new_invoice("C-3", "Globex Ltd"),
    ], idempotency_key="per-item")

    assert [bool(a.has_errors) for a in answers] == [False, True, False]
    assert answers[1].validation_messages == ["Organisation is not subscribed to currency JPY"]
    assert answers[0].total is not None and answers[0].invoice_id
    assert "unitdp=4" in standin.sent("PUT", "Invoices")[0].url
    assert [i for i in standin.organisations[uk.tenant_id]["Invoices"].values()
            if i["InvoiceNumber"] == "C-1"][0]["LineItems"][0]["UnitAmount"] == 12.3456


async def test_contacts_are_found_by_name_twenty_at_a_time_and_created_several_per_call(session, standin):
    uk = TenantAuth(standin.tenant_id("UK"), "t")
    xero = XeroClient(session, API_URL, Tokens(), sleep=no_sleep)

    found = await xero.find_contacts_by_names(uk, ["Acme Corporation", 'Quote "Inc"'] + [f"N{n}" for n in range(30)])
    created = await xero.create_contacts(uk, [XeroContact(name="New One"), XeroContact(name="Globex Ltd"),
                                              XeroContact(name="New Two")], idempotency_key="contacts-1")

    assert [c.name for c in found] == ["Acme Corporation"]
    assert len(standin.sent("GET", "Contacts")) == 2
    assert [bool(c.validation_errors) for c in created] == [False, True, False]
    assert created[0].contact_id and created[2].contact_id


async def test_xeros_remaining_counts_are_read_from_every_answer(session, xero):
    limiter = TenantLimiter()
    client = XeroClient(session, API_URL, Tokens(), limiter=limiter, sleep=no_sleep)
    xero.get(re.compile(r".*/Currencies.*"), callback=lambda url, **kw: CallbackResult(
        payload={"Currencies": []}, headers={"X-MinLimit-Remaining": "41", "X-DayLimit-Remaining": "120"}),
        repeat=True)
    tenant = TenantAuth("tenant-a", "t")

    await client.get_currencies(tenant)
    assert client.calls_left_today("tenant-a") == 120  # another process spent the rest; our own count says 4,999

    await client.get_currencies(tenant)
    assert client.calls_left_today("tenant-a") == 120


async def test_when_xero_says_the_minute_is_used_up_calls_wait_without_meeting_a_429():
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = TenantLimiter(clock=lambda: now[0], sleep=sleep)
    limiter.observe("tenant-a", {"X-MinLimit-Remaining": "2", "X-DayLimit-Remaining": "4000"})
    for _ in range(3):
        async with limiter.slot("tenant-a"):
            pass

    assert slept and sum(slept) >= 1  # the third call waited for Xero's minute instead of being refused
    assert limiter.calls_left_today("tenant-a") == 4000 - 3


async def test_a_day_budget_read_from_xero_says_when_it_comes_back():
    now = [100.0]
    limiter = TenantLimiter(clock=lambda: now[0], time_scale=60)
    limiter.observe("tenant-a", {"X-DayLimit-Remaining": "0"})
    assert limiter.calls_left_today("tenant-a") == 0
    assert 0 < limiter.day_resets_in("tenant-a") <= 86_400 / 60
    with pytest.raises(Exception) as refused:
        async with limiter.slot("tenant-a"):
            pass
    assert getattr(refused.value, "problem", None) == "day"


async def test_a_slow_call_counts_in_the_minute_until_a_minute_after_its_answer():
    # Xero counts a call when it arrives, which may be late in a slow call: only its answer bounds that.
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = TenantLimiter(per_minute=2, clock=lambda: now[0], sleep=sleep)
    async with limiter.slot("tenant-a"):
        now[0] += 10  # a slow answer
    async with limiter.slot("tenant-a"):
        pass
    async with limiter.slot("tenant-a"):
        started_third = now[0]

    assert started_third == 70  # not 60: the first call may have reached Xero only at 10


async def test_a_deleted_invoice_does_not_count_as_already_in_xero(session, standin):
    uk = TenantAuth(standin.tenant_id("UK"), "t")
    xero = XeroClient(session, API_URL, Tokens(), sleep=no_sleep)
    invoices = [new_invoice("D-1", "Acme Corporation"), new_invoice("D-2", "Acme Corporation")]
    await xero.create_invoice_batch(uk, invoices, idempotency_key="deleted")
    for document in standin.invoices_numbered(uk.tenant_id, "D-1"):
        document["Status"] = "DELETED"

    assert sorted(await xero.find_invoices_by_numbers(uk, ["D-1", "D-2"])) == ["D-2"]
