"""One invoice is a batch of one: its approval message shows the batch's line (client, total, organisation,
pre-flight result), and an invoice that would not go into Xero as it is cannot be approved."""

from __future__ import annotations

import json

from tests.support.export_flow import (
    click,
    final_update,
    invoice,
    job,
    job_id_of,
    prepare,
    request,
)
from tests.support.xero_identity import UK, UK_TENANT, US, US_TENANT
from tests.support.xero_standin import validation_error

PICKER_BLOCK = "export_pick_tenant_block"


def text_of(payload) -> str:
    return json.dumps(payload.get("blocks"), ensure_ascii=False) + " " + str(payload.get("text"))


def called(books) -> list[str]:
    return [f"{method} {url.split('/2.0/')[1].split('?')[0]}" for method, url, _, _ in books.calls]


def pick(tenant_id: str) -> dict:
    return {PICKER_BLOCK: {"export_pick_tenant": {
        "type": "static_select", "selected_option": {"value": tenant_id, "text": {"type": "plain_text", "text": "x"}}}}}


async def refusal(bot, name: str) -> str:
    return text_of(await bot.reply_to(name))


async def redrawn(bot, job_id: str, words: str):
    approval_ts = (await job(bot, job_id))["approval_ts"]
    return await bot.slack.wait_for("chat.update", lambda c: c.get("ts") == approval_ts and words in text_of(c))


async def test_the_single_approval_message_shows_the_batch_line_with_the_pre_flight_result(bot, xero):
    books = await prepare(bot, xero)
    answer, approval = await request(bot)
    line = "`INV-101` Acme Ltd · GBP 1,140.00 → Demo Company (UK) — :large_green_circle: ready"
    assert line in text_of(approval) and line in text_of(answer)
    stored = await job(bot, job_id_of(approval))
    assert (stored["check"], stored["check_tenant_id"]) == ("ready", UK_TENANT)
    assert books.sent("PUT", "Invoices") == []


async def test_a_eur_invoice_to_an_organisation_without_eur_is_flagged_and_not_exported_on_approve(bot, xero):
    books = await prepare(bot, xero, invoices=[invoice(currency="EUR")])
    books.remove_currency(UK_TENANT, "EUR")
    books.remove_currency(UK_TENANT, "USD")
    _, approval = await request(bot)
    shown = text_of(approval)
    assert "EUR 1,140.00 → Demo Company (UK) — :no_entry: EUR is not enabled there (it has GBP)" in shown
    assert "*Approve* is refused until this is fixed" in shown
    job_id = job_id_of(approval)

    name = await click(bot, "export_approve", job_id)
    said = await refusal(bot, name)
    assert "INV-101 cannot go into Demo Company (UK) as it is: EUR is not enabled there" in said
    assert "Nothing was exported" in said
    stored = await job(bot, job_id)
    assert stored["state"] == "pending" and stored["check"] == "currency_not_enabled"
    assert books.sent("PUT", "Invoices") == [] and books.sent("PUT", "Contacts") == []
    assert books.sent("GET", "Contacts") == []  # it never got as far as the export

    books.add_currency(UK_TENANT, "EUR")  # fixed in Xero: Approve checks again with fresh data
    await click(bot, "export_approve", job_id)
    await final_update(bot, job_id, "exported")
    assert books.bodies("PUT", "Invoices")[0]["Invoices"][0]["CurrencyCode"] == "EUR"


async def test_an_invoice_already_in_the_organisation_says_it_will_be_linked_and_is_linked(bot, xero):
    books = await prepare(bot, xero)
    existing = books.add_invoice(UK_TENANT, "INV-101", Status="AUTHORISED", Total=1140.0)
    _, approval = await request(bot)
    assert "already in Xero with this number: it will be linked, not created" in text_of(approval)
    assert "is refused until" not in text_of(approval)
    job_id = job_id_of(approval)
    await click(bot, "export_approve", job_id)
    done = await final_update(bot, job_id, "exported")
    assert "linked to it instead of creating another" in text_of(done)
    assert books.sent("PUT", "Invoices") == [] and (await job(bot, job_id))["xero_invoice_id"] == existing


async def test_a_total_xero_would_round_differently_shows_both_amounts_on_the_line(bot, xero):
    entries = [{"name": f"Line {n}", "quantity": 1, "unit_price": 0.625, "discount": 0, "tax": 20} for n in range(3)]
    books = await prepare(bot, xero, invoices=[invoice(entries=entries)])
    _, approval = await request(bot)
    assert ":no_entry: Xero would total GBP 2.28, Forecast says GBP 2.25 (line rounding)" in text_of(approval)
    name = await click(bot, "export_approve", job_id_of(approval))
    assert "Xero would total GBP 2.28" in await refusal(bot, name)
    assert books.sent("PUT", "Invoices") == []


async def test_a_tax_rate_xero_does_not_have_shows_on_the_line(bot, xero):
    entries = [{"name": "Design", "quantity": 2, "unit_price": 100, "discount": 0, "tax": 12.5}]
    books = await prepare(bot, xero, invoices=[invoice(entries=entries)])
    _, approval = await request(bot)
    assert ":no_entry: no active sales tax rate of 12.5% there" in text_of(approval)
    await click(bot, "export_approve", job_id_of(approval))
    assert (await job(bot, job_id_of(approval)))["state"] == "pending" and books.sent("PUT", "Invoices") == []


async def test_a_zero_percent_line_goes_with_a_zero_rate_not_the_accounts_default(bot, xero):
    entries = [{"name": "Design", "quantity": 2, "unit_price": 100, "discount": 0, "tax": 0}]
    books = await prepare(bot, xero, invoices=[invoice(entries=entries)])
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    [line] = books.bodies("PUT", "Invoices")[0]["Invoices"][0]["LineItems"]
    assert (line["AccountCode"], line["TaxType"]) == ("200", "NONE")  # account 200's own default is 20%


async def test_an_account_code_setting_the_organisation_lacks_is_flagged(bot, xero):
    books = await prepare(bot, xero, settings={"account_code": "4000"})
    _, approval = await request(bot)
    assert ":no_entry: account 4000 is not an active account there" in text_of(approval)
    await click(bot, "export_approve", job_id_of(approval))
    assert books.sent("PUT", "Invoices") == []


async def test_the_organisation_picked_on_the_message_is_checked_there_and_the_message_redrawn(bot, xero):
    books = await prepare(bot, xero, tenants=(UK, US))
    _, approval = await request(bot)
    assert books.calls == [] and "checked there as soon as you pick one" in text_of(approval)
    job_id = job_id_of(approval)
    await bot.click("export_pick_tenant", "", user="U0APPROVER", channel="C0APPROVALS", extra_action={
        "type": "static_select", "action_id": "export_pick_tenant", "block_id": f"{PICKER_BLOCK}_{job_id}",
        "selected_option": {"value": US_TENANT}})
    flagged = await redrawn(bot, job_id, "GBP is not enabled there (it has USD, CAD)")
    [picker] = [e for b in flagged["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["type"] == "static_select"]
    assert picker["initial_option"]["value"] == US_TENANT  # the pick stays shown
    assert "Demo Company (US)" in text_of(flagged)

    name = await click(bot, "export_approve", job_id)  # no state: the pick on the message counts
    assert "cannot go into Demo Company (US)" in await refusal(bot, name)
    await click(bot, "export_approve", job_id, state=pick(UK_TENANT))
    await final_update(bot, job_id, "exported")
    assert len(books.invoices(UK_TENANT)) == 1 and books.invoices(US_TENANT) == []


async def test_an_invoice_exported_to_a_removed_organisation_needs_an_admins_choice(bot, xero):
    books = await prepare(bot, xero)
    await bot.container.links.link("T0TEST", "invoice", 101, "tenant-gone", xero_id="old-inv", xero_number="INV-101")
    await bot.storage.links.update_many({"tenant_id": "tenant-gone"}, {"$set": {"status": "unlinked"}})
    _, approval = await request(bot)
    assert "exported before to an organisation since removed" in text_of(approval)
    job_id = job_id_of(approval)
    buttons = {e["action_id"] for b in approval["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert "export_allow_duplicate" in buttons

    name = await click(bot, "export_approve", job_id)
    assert "An admin can click *Export again anyway*" in await refusal(bot, name)
    name = await click(bot, "export_allow_duplicate", job_id, user="U0MEMBER")
    assert "Only a workspace admin" in await refusal(bot, name)
    await click(bot, "export_allow_duplicate", job_id, user="U0ADMIN")
    await redrawn(bot, job_id, ":large_green_circle: ready")
    assert (await job(bot, job_id))["allow_duplicate"]
    await click(bot, "export_approve", job_id)
    await final_update(bot, job_id, "exported")
    assert len(books.invoices(UK_TENANT)) == 1


async def test_routing_changed_meanwhile_is_checked_again_for_the_new_organisation(bot, xero):
    await prepare(bot, xero, tenants=(UK, US))
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    await bot.container.links.link("T0TEST", "client", 7, US_TENANT, xero_id="contact-us", linked_by="U0ADMIN")
    await bot.container.exports.redraw_pending("T0TEST")
    flagged = await redrawn(bot, job_id, "GBP is not enabled there")
    assert "→ Demo Company (US)" in text_of(flagged)
    assert (await job(bot, job_id))["check_tenant_id"] == US_TENANT


async def test_when_xero_cannot_be_asked_the_line_says_not_checked_and_approve_checks_again(bot, xero):
    books = await prepare(bot, xero)
    books.fail_next("GET", "Currencies", 400, validation_error("Sandbox: made to fail"))
    _, approval = await request(bot)
    assert ":question: not checked yet" in text_of(approval)
    job_id = job_id_of(approval)
    await click(bot, "export_approve", job_id)
    await final_update(bot, job_id, "exported")
    assert (await job(bot, job_id))["check"] == "ready"


async def test_the_single_path_makes_few_xero_calls_and_reads_reference_data_once_per_ttl(bot, xero):
    books = await prepare(bot, xero, invoices=[invoice(), invoice(id=102, company_invoice_id=102,
                                                                  invoice_reference="INV-102")])
    for reference in ("INV-101", "INV-102"):
        await bot.ask(f"export {reference}", user="U0MEMBER")
        approval = await bot.slack.wait_for("chat.postMessage", lambda c, ref=reference: c["channel"] == "C0APPROVALS"
                                            and f"export {ref} " in str(c.get("text")))
        await click(bot, "export_approve", job_id_of(approval))
        await final_update(bot, job_id_of(approval), "exported")
    calls = called(books)
    assert set(calls[:3]) == {"GET Currencies", "GET Accounts", "GET TaxRates"}  # read at once, in any order
    assert calls[3:] == [
        "GET Invoices",  # INV-101 requested: its check
        "GET Invoices", "GET Contacts", "PUT Contacts", "PUT Invoices",  # approved: look-up, contact, create
        "GET Invoices",  # INV-102 requested: reference data from the copy kept for 10 minutes
        "GET Invoices", "PUT Invoices",  # approved: the client is linked now
    ]
    assert json.loads(books.calls[-1].body)["Invoices"][0]["InvoiceNumber"] == "INV-102"
