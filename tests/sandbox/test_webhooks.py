"""The Xero stand-in's bookkeeping and webhooks against the real bot: intent to receive, signed deliveries
shaped as Xero's webhooks spec says, and Xero's rules for payments."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from sandbox.server import STAND_INS
from sandbox.xero import XERO_STATE
from sandbox.xero.keys import WEBHOOKS
from sandbox.xero.webhooks import payload
from tests.support.contracts import require_contracts, validate_xero_webhook_payload
from tests.support.sandbox_stack import start_sandbox_stack, stop_sandbox_stack
from tests.support.sync_flow import delivery, event
from tests.support.xero_identity import UK_TENANT


@pytest.fixture
async def stack(storage):
    running = await start_sandbox_stack(storage)
    yield running
    await stop_sandbox_stack(running)


def webhooks(stack):
    return stack.sandbox_app[STAND_INS].xero[WEBHOOKS]


async def intent_checked(stack) -> str:
    for _ in range(100):
        if webhooks(stack).intent != "not checked":
            return webhooks(stack).intent
        await asyncio.sleep(0.05)
    raise AssertionError("the stand-in never checked the bot's webhook route")


def demo_invoice(state, status: str) -> dict:
    uk = state.tenant_id("Demo Company (UK)")
    return uk, next(i for i in state.invoices(uk) if i["Status"] == status)


async def post_form(stack, path: str, data: dict | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{stack.plan.sandbox_url}/xero{path}", data=data or {},
                                allow_redirects=False) as response:
            return response.status, await response.text()


async def test_the_stand_in_checks_intent_to_receive_when_it_starts(stack):
    assert await intent_checked(stack) == "passed"


async def test_a_recorded_payment_reaches_the_bot_as_a_signed_webhook(stack):
    await intent_checked(stack)
    state = stack.sandbox_app[STAND_INS].xero[XERO_STATE]
    tenant, invoice = demo_invoice(state, "AUTHORISED")
    status, _ = await post_form(stack, f"/invoices/{tenant}/{invoice['InvoiceID']}/payments",
                                {"amount": "100.00", "date": "2026-12-03"})
    assert status == 303
    assert invoice["AmountPaid"] == 100.0 and invoice["Payments"][0]["Amount"] == 100.0
    [delivered] = webhooks(stack).deliveries
    assert (delivered.events, delivered.status) == (1, 200)  # accepted (and ignored: the bot never linked it)


async def test_xero_rules_for_payments_and_voids_are_kept(stack):
    state = stack.sandbox_app[STAND_INS].xero[XERO_STATE]
    tenant, draft = demo_invoice(state, "DRAFT")
    status, page = await post_form(stack, f"/invoices/{tenant}/{draft['InvoiceID']}/payments", {"amount": "1"})
    assert status == 400 and "approved invoices" in page
    _, authorised = demo_invoice(state, "AUTHORISED")
    status, page = await post_form(stack, f"/invoices/{tenant}/{authorised['InvoiceID']}/payments",
                                   {"amount": "999999"})
    assert status == 400 and "at most the amount due" in page


async def test_webhook_bodies_match_xeros_webhooks_spec():
    require_contracts()
    sent = event("0b1c2d3e-0000-4000-8000-000000000001", UK_TENANT)
    validate_xero_webhook_payload(json.loads(payload([sent], 7)))
    validate_xero_webhook_payload(json.loads(payload([], 1)))  # intent to receive
    validate_xero_webhook_payload(json.loads(delivery([sent])))
    with pytest.raises(AssertionError):
        validate_xero_webhook_payload({"events": [{"resourceId": "x"}], "entropy": "E"})


async def test_a_credit_applied_on_the_page_then_voided_reaches_the_bot_as_creditnote_and_invoice_webhooks(stack):
    await intent_checked(stack)
    state = stack.sandbox_app[STAND_INS].xero[XERO_STATE]
    tenant, invoice = demo_invoice(state, "AUTHORISED")
    status, _ = await post_form(stack, f"/invoices/{tenant}/{invoice['InvoiceID']}/credits",
                                {"kind": "credit_note", "amount": "10.00", "date": "2026-12-04"})
    assert status == 303
    assert invoice["AmountCredited"] == 10.0 and invoice["CreditNotes"][0]["AppliedAmount"] == 10.0
    [credit] = state.org(tenant)["CreditNotes"].values()
    assert credit["RemainingCredit"] == 0.0 and credit["Allocations"][0]["Invoice"]["InvoiceID"] == invoice["InvoiceID"]
    [delivered] = webhooks(stack).deliveries
    assert (delivered.events, delivered.status) == (3, 200)  # the credit note made, allocated; the invoice

    status, _ = await post_form(stack, f"/credits/{tenant}/credit_note/{credit['CreditNoteID']}/void")
    assert status == 303
    assert credit["Status"] == "VOIDED" and invoice["AmountCredited"] == 0.0 and "CreditNotes" not in invoice
    assert len(webhooks(stack).deliveries) == 2
    status, page = await post_form(stack, f"/credits/{tenant}/credit_note/{credit['CreditNoteID']}/void")
    assert status == 400 and "cannot be voided" in page


async def test_xero_rules_for_credits_are_kept(stack):
    state = stack.sandbox_app[STAND_INS].xero[XERO_STATE]
    tenant, draft = demo_invoice(state, "DRAFT")
    status, page = await post_form(stack, f"/invoices/{tenant}/{draft['InvoiceID']}/credits", {"amount": "1"})
    assert status == 400 and "approved invoices" in page
    _, authorised = demo_invoice(state, "AUTHORISED")
    status, page = await post_form(stack, f"/invoices/{tenant}/{authorised['InvoiceID']}/credits",
                                   {"kind": "overpayment", "amount": "999999"})
    assert status == 400 and "at most the remaining credit" in page
    status, page = await post_form(stack, f"/invoices/{tenant}/{authorised['InvoiceID']}/credits",
                                   {"amount": "lots"})
    assert status == 400 and "must be a number" in page


async def test_creditnote_webhook_bodies_match_xeros_webhooks_spec():
    require_contracts()
    sent = event("a3b4c5d6-0000-4000-8000-000000000001", UK_TENANT, category="CREDITNOTE")
    validate_xero_webhook_payload(json.loads(payload([sent], 7)))


async def test_the_browse_page_lists_credits_with_their_buttons(stack):
    state = stack.sandbox_app[STAND_INS].xero[XERO_STATE]
    tenant, invoice = demo_invoice(state, "AUTHORISED")
    await post_form(stack, f"/invoices/{tenant}/{invoice['InvoiceID']}/credits", {"amount": "5.00"})
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{stack.plan.sandbox_url}/xero/") as response:
            page = await response.text()
    assert "bookkeeping-credits" in page and "CN-0001" in page
    assert "Remove allocation" in page and "Void credit note" in page
