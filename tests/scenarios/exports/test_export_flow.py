"""/xero export end to end: request, approval message, approve, the invoice in Xero, the links."""

from __future__ import annotations

from datetime import datetime

from tests.support.export_flow import (
    CLIENT,
    INVOICE,
    click,
    final_update,
    invoice,
    job,
    job_id_of,
    prepare,
    request,
    requester_dm,
    text_of,
)
from tests.support.xero_identity import UK_TENANT


def called(books) -> list[str]:
    """The Xero calls made so far, as `METHOD Resource`."""
    return [f"{method} {url.split('/2.0/')[1].split('?')[0]}" for method, url, _, _ in books.calls]


async def test_export_asks_for_approval_and_creates_the_invoice_in_xero_when_approved(bot, xero):
    books = await prepare(bot, xero)
    answer, approval = await request(bot)

    said = text_of(answer)
    assert "Acme Ltd" in said and "GBP 1,140.00" in said and "Demo Company (UK)" in said
    assert '"Lines\\n2"' in said.replace("*", "") and "C0APPROVALS" in said
    assert answer["response_type"] == "ephemeral"
    shown = text_of(approval)
    assert "INV-101" in shown and "<@U0MEMBER>" in shown and "Demo Company (UK)" in shown
    buttons = {e["action_id"]: e for b in approval["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert buttons["export_approve"]["style"] == "primary" and buttons["export_reject"]["style"] == "danger"
    job_id = job_id_of(approval)
    assert (await job(bot, job_id))["state"] == "pending"
    assert "ready" in shown  # the batch's pre-flight line: client, total, organisation, result
    reads = called(books)  # reads only; the three reference lists are read at once, in any order
    assert set(reads[:3]) == {"GET Currencies", "GET Accounts", "GET TaxRates"} and reads[3:] == ["GET Invoices"]

    await click(bot, "export_approve", job_id)
    exporting = await bot.slack.wait_for("chat.update", lambda c: "Exporting" in text_of(c))
    done = await final_update(bot, job_id, "exported")
    stored = await job(bot, job_id)
    assert exporting["ts"] == done["ts"] == stored["approval_ts"] and done["channel"] == "C0APPROVALS"
    assert stored["state"] == "exported" and stored["approved_by"] == "U0APPROVER"

    # reference data from the request's cache: the number look-up, the contact, the invoice
    assert called(books)[4:] == ["GET Invoices", "GET Contacts", "PUT Contacts", "PUT Invoices"]
    [sent] = books.bodies("PUT", "Invoices")
    [xero_invoice] = sent["Invoices"]
    assert xero_invoice["Type"] == "ACCREC" and xero_invoice["InvoiceNumber"] == "INV-101"
    assert xero_invoice["Reference"] == "March work" and xero_invoice["CurrencyCode"] == "GBP"
    assert (xero_invoice["Date"], xero_invoice["DueDate"]) == ("2026-03-01", "2026-03-31")
    assert xero_invoice["LineAmountTypes"] == "Exclusive" and xero_invoice["Status"] == "DRAFT"
    design, hosting = xero_invoice["LineItems"]
    assert design == {"Description": "Design — Sprint 4", "Quantity": 10.0, "UnitAmount": 100.0, "DiscountRate": 10.0,
                      "AccountCode": "200", "TaxType": "OUTPUT2"}
    assert "DiscountRate" not in hosting and hosting["UnitAmount"] == 50.0
    [contact] = books.contacts(UK_TENANT)
    assert xero_invoice["Contact"] == {"ContactID": contact["ContactID"]}
    assert contact["Name"] == "Acme Ltd" and contact["TaxNumber"] == "GB123456789"
    assert contact["Addresses"] == [{"AddressType": "STREET", "AddressLine1": "1 High Street", "City": "London",
                                     "PostalCode": "N1 1AA", "Country": "GB"}]

    invoice_id = books.invoices(UK_TENANT)[0]["InvoiceID"]
    assert f"InvoiceID={invoice_id}" in text_of(done)
    links = {doc["kind"]: doc async for doc in bot.storage.links.find({})}
    assert links["invoice"]["xero_id"] == invoice_id and links["invoice"]["forecast_id"] == "101"
    assert links["invoice"]["xero_number"] == "INV-101" and links["invoice"]["tenant_id"] == UK_TENANT
    assert links["client"]["xero_id"] == contact["ContactID"] and links["client"]["forecast_id"] == "7"
    told = await requester_dm(bot, "U0MEMBER", invoice_id)  # a DM: Slack keeps it, unlike an ephemeral
    [permalink] = [c.response["permalink"] for c in bot.slack.called("chat.getPermalink")
                   if c["channel"] == "C0APPROVALS" and c["message_ts"] == stored["approval_ts"]]
    assert permalink in text_of(told)  # links to the approval message


async def test_every_transition_is_recorded_with_who_and_when(bot, xero):
    await prepare(bot, xero)
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    await click(bot, "export_approve", job_id)
    await final_update(bot, job_id, "exported")
    events = [e async for e in bot.storage.job_events.find({"job_id": job_id, "kind": "transition"}).sort("seq", 1)]
    assert [(e["from_state"], e["to_state"], e["by"]) for e in events] == [
        (None, "pending", "U0MEMBER"), ("pending", "approved", "U0APPROVER"),
        ("approved", "exporting", "U0APPROVER"), ("exporting", "exported", "U0APPROVER")]
    assert all(isinstance(e["at"], datetime) for e in events)


async def test_idempotency_key_is_derived_from_tenant_invoice_and_generation(bot, xero):
    books = await prepare(bot, xero)
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    [call] = books.sent("PUT", "Invoices")
    headers = call.headers
    key = headers["Idempotency-Key"]
    assert UK_TENANT in key and "inv101" in key and key.endswith(":g1") and len(key) <= 128


async def test_settings_choose_status_account_and_tax_type(bot, xero):
    zero_rated = invoice(entries=[{**entry, "tax": 0} for entry in INVOICE["entries"]])  # NONE is a 0% rate
    books = await prepare(bot, xero, invoices=[zero_rated], settings={
        "export_status": "AUTHORISED", "account_code": "4000", "tax_type": "NONE"})
    books.add_account(UK_TENANT, "4000", "Consulting")
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    [sent] = books.bodies("PUT", "Invoices")
    assert sent["Invoices"][0]["Status"] == "AUTHORISED"
    assert {(li["AccountCode"], li["TaxType"]) for li in sent["Invoices"][0]["LineItems"]} == {("4000", "NONE")}
    assert len(books.sent("GET", "Accounts")) == 1  # read once, when it was requested (the export used that copy)


async def test_an_existing_contact_with_the_same_name_is_used_not_created(bot, xero):
    books = await prepare(bot, xero)
    existing = books.add_contact(UK_TENANT, "Acme Ltd")
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    assert books.sent("PUT", "Contacts") == []
    assert books.bodies("PUT", "Invoices")[0]["Invoices"][0]["Contact"] == {"ContactID": existing}
    link = await bot.storage.links.find_one({"kind": "client"})
    assert link["xero_id"] == existing


async def test_a_linked_client_uses_its_linked_contact_without_searching(bot, xero):
    books = await prepare(bot, xero)
    linked = books.add_contact(UK_TENANT, "Acme Trading")  # named otherwise: found by its id, not its name
    await bot.container.links.link("T0TEST", "client", 7, UK_TENANT, xero_id=linked)
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    assert books.sent("GET", "Contacts") == [] and books.sent("PUT", "Contacts") == []
    assert books.bodies("PUT", "Invoices")[0]["Invoices"][0]["Contact"] == {"ContactID": linked}


async def test_an_invoice_already_waiting_for_approval_is_not_requested_twice(bot, xero):
    await prepare(bot, xero)
    await request(bot)
    again = await bot.ask("export INV-101", user="U0ADMIN")
    assert "waiting for approval" in text_of(again)
    assert await bot.storage.export_jobs.count_documents({}) == 1


async def test_a_bare_number_finds_the_invoice_reference(bot, xero):
    await prepare(bot, xero)
    answer, _ = await request(bot, "101")
    assert "INV-101" in text_of(answer) and "Acme Ltd" in text_of(answer)
    assert CLIENT["name"] in text_of(answer)
