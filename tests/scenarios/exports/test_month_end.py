"""A month-end of 120 invoices into three organisations in one go, through the real routes: one answer, one
approval message, See all paging through every line, Approve all exporting the ready ones in a few Xero requests
per organisation."""

from __future__ import annotations

import json
import time

from tests.scenarios.exports.test_batch_flow import (
    GLOBEX,
    batch_id_of,
    batch_message,
    batch_shows,
    invoices_with,
    text_of,
)
from tests.support.export_flow import CLIENT, INVOICE, US_TAX, prepare
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import NZ, NZ_TENANT, UK, UK_TENANT, US, US_TENANT

ACME_INVOICES = range(1001, 1061)  # 60 to Demo Company (UK)
GLOBEX_INVOICES = range(2001, 2041)  # 40 to Demo Company (US)
KIWI_INVOICES = range(3001, 3021)  # 20 to Acme Holdings NZ
KIWI = {**CLIENT, "id": 9, "name": "Kiwi Design Ltd", "country": "NZ"}
NZ_TAX = [{**entry, "tax": 15} for entry in INVOICE["entries"]]  # Acme Holdings NZ: 15% GST
NOT_ENABLED, UNMAPPED_TAX, REFUSED_BY_XERO = 1003, 1005, 2007


def month_end() -> list[dict]:
    acme = [invoices_with(n, created_date=f"2026-11-{1 + n % 28:02d}") for n in ACME_INVOICES]
    globex = [invoices_with(n, client=8, currency="USD", entries=US_TAX, created_date=f"2026-11-{1 + n % 28:02d}")
              for n in GLOBEX_INVOICES]
    for invoice in acme:
        if invoice["id"] == NOT_ENABLED:
            invoice["currency"] = "JPY"
        if invoice["id"] == UNMAPPED_TAX:
            invoice["entries"] = [{**entry, "tax": 12.5} for entry in invoice["entries"]]
    kiwi = [invoices_with(n, client=9, currency="NZD", entries=NZ_TAX, created_date=f"2026-11-{1 + n % 28:02d}")
            for n in KIWI_INVOICES]
    return acme + globex + kiwi


def lines_in(view: dict) -> set[str]:
    return {ref for ref in json.dumps(view["blocks"]).split("`") if ref.startswith("INV-")}


def page_button(view: dict, label: str) -> dict | None:
    return next(({"type": "button", "action_id": e["action_id"], "value": e["value"]} for b in view["blocks"]
                 if b["type"] == "actions" for e in b["elements"] if e["text"]["text"] == label), None)


async def test_a_month_end_of_120_invoices_goes_as_one_batch_and_exports_the_ready_ones_in_a_few_requests(bot, xero):
    started = time.monotonic()
    books = await prepare(bot, xero, tenants=(UK, US, NZ), clients=[CLIENT, GLOBEX, KIWI], invoices=month_end())
    await bot.container.links.link(TEAM_ID, "client", 7, UK_TENANT, xero_id=books.add_contact(UK_TENANT, "Acme Ltd"))
    await bot.container.links.link(TEAM_ID, "client", 8, US_TENANT,
                                   xero_id=books.add_contact(US_TENANT, "Globex Inc"))
    await bot.container.links.link(TEAM_ID, "client", 9, NZ_TENANT,
                                   xero_id=books.add_contact(NZ_TENANT, "Kiwi Design Ltd"))
    books.refuse_invoice(f"INV-{REFUSED_BY_XERO}", "Contact is archived")

    name = await bot.command("export unexported", user="U0MEMBER")
    answer = text_of(await bot.reply_to(name, timeout=15))
    assert "120 invoices went to <#C0APPROVALS> for approval" in answer and "Not sent" not in answer
    assert "*118* ready · *2* need attention first" in answer
    assert len([c for c in bot.slack.called("response_url") if c["name"] == name]) == 1

    message = await batch_message(bot)
    assert len([c for c in bot.slack.called("chat.postMessage") if c["channel"] == "C0APPROVALS"]) == 1
    shown = text_of(message)
    assert len(message["blocks"]) <= 50 and "Approve all (120)" in shown and "Approve ready only (118)" in shown
    assert "JPY is not enabled there" in shown and "no active sales tax rate of 12.5% there" in shown
    assert "…and 105 more" in shown
    preflight_reads = len(books.sent("GET", "Invoices"))
    assert preflight_reads <= 4  # one number look-up per 50 of an organisation's invoices: 2 for 60, 1, 1

    await bot.click("batch_see_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    call = await bot.slack.wait_for("views.open")
    page = {**call["view"], "id": call.response["view"]["id"]}
    seen = lines_in(page)
    assert len(seen) == 100 and len(page["blocks"]) <= 100 and "page 1 of 2" in text_of(page)
    assert page_button(page, "Previous") is None
    await bot.view_action(page, page_button(page, "Next"), user="U0APPROVER")
    update = await bot.slack.wait_for("views.update", lambda c: c.get("view_id") == page["id"])
    second = update["view"]
    assert "page 2 of 2" in text_of(second) and page_button(second, "Next") is None
    assert json.loads(second["private_metadata"])["page"] == 1
    seen |= lines_in(second)
    updates = len(bot.slack.called("views.update"))
    await bot.view_action(page, {"type": "button", "action_id": "batch_lines_page", "value": "last"},
                          user="U0APPROVER")  # not a page of ours: answered, nothing redrawn
    assert len(bot.slack.called("views.update")) == updates
    assert seen == {f"INV-{n}" for n in [*ACME_INVOICES, *GLOBEX_INVOICES, *KIWI_INVOICES]}

    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    done = text_of(await batch_shows(bot, message, "Exported 117 of 120 invoices to Xero", timeout=20))
    assert "*117* created · *1* refused by Xero · *2* not exportable" in done
    assert [len(books.invoices(t)) for t in (UK_TENANT, US_TENANT, NZ_TENANT)] == [58, 39, 20]
    numbers = [i["InvoiceNumber"] for tenant in (UK_TENANT, US_TENANT, NZ_TENANT) for i in books.invoices(tenant)]
    assert len(numbers) == len(set(numbers)) == 117  # nothing created twice
    assert len(books.sent("PUT", "Invoices")) == 2 + 1 + 1  # 50 a request: 2 for the UK's 58, 1 each for 39 and 20
    states = {j["reference"]: j["state"] async for j in bot.storage.export_jobs.find({})}
    failed = {ref for ref, state in states.items() if state == "failed"}
    assert failed == {f"INV-{n}" for n in (NOT_ENABLED, UNMAPPED_TAX, REFUSED_BY_XERO)}

    assert "Xero refused it: Contact is archived" in done and done.count(" — not exported") == 2
    assert time.monotonic() - started < 20
