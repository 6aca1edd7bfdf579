"""A batch at month end: an approver chooses the organisation of a client nobody linked yet, a client linked
meanwhile re-checks its lines, and Reject asks why and tells the requester. Signed requests into the real app."""

from __future__ import annotations

from tests.scenarios.exports.test_batch_flow import (
    GLOBEX,
    US_TAX,
    batch_id_of,
    batch_message,
    batch_shows,
    invoices_with,
    text_of,
)
from tests.support.export_flow import CLIENT, US_TAX, prepare
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import UK, UK_TENANT, US, US_TENANT

ACME_PICKS_US = "→ Demo Company (US) — :large_green_circle: ready"


def picker_value(message, reference: str, organisation: str) -> str:
    """The value of `organisation` in the picker on the line of `reference` (or of a client, by its name)."""
    for block in message["blocks"]:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == "batch_choose_organisation" and reference in block["text"]["text"]:
            return next(o["value"] for o in accessory["options"] if o["text"]["text"] == organisation)
    raise AssertionError(f"no organisation picker for {reference}")


def pick(value: str) -> dict:
    return {"type": "static_select", "selected_option": {"value": value, "text": {"type": "plain_text", "text": "x"}}}


async def choose(bot, message, reference: str, organisation: str, *, user: str = "U0APPROVER") -> str:
    return await bot.click("batch_choose_organisation", "", user=user, channel="C0APPROVALS",
                           extra_action=pick(picker_value(message, reference, organisation)))


async def month_end_batch(bot, xero):
    """Acme (two USD invoices, US sales tax) is linked to no organisation, Globex to the UK one (which has no USD);
    both organisations connected."""
    books = await prepare(bot, xero, tenants=(UK, US), clients=[CLIENT, GLOBEX], invoices=[
        invoices_with(101, currency="USD", entries=US_TAX), invoices_with(102, currency="USD", entries=US_TAX),
        invoices_with(201, client=8)])
    books.remove_currency(UK_TENANT, "USD")
    globex = books.add_contact(UK_TENANT, "Globex Inc")
    await bot.container.links.link(TEAM_ID, "client", 8, UK_TENANT, xero_id=globex)
    said = text_of(await bot.ask("export INV-101 INV-102 INV-201", user="U0MEMBER"))
    assert "3 invoices went" in said
    return books, await batch_message(bot)


async def test_an_approver_chooses_the_organisation_of_a_line_which_is_checked_there_and_exported_there(bot, xero):
    books, message = await month_end_batch(bot, xero)
    lines = text_of(message)
    assert lines.count("choose its organisation") == 2 and "Approve ready only (1)" in lines
    assert "Acme Ltd*: the organisation of all 2 of its invoices" in lines  # one choice for the client's lines

    await choose(bot, message, "INV-101", "Demo Company (US)")
    chosen = await batch_shows(bot, message, ACME_PICKS_US)
    assert text_of(chosen).count("choose its organisation") == 1  # INV-102 still waits for its choice
    assert "Approve ready only (2)" in text_of(chosen)
    stored = await bot.storage.export_jobs.find_one({"reference": "INV-101"})
    assert (stored["state"], stored["tenant_id"]) == ("pending", US_TENANT)

    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    done = await batch_shows(bot, message, "Exported 2 of 3 invoices")  # INV-102 had no organisation: left out
    assert "*2* created · *1* left out" in text_of(done)
    assert [i["InvoiceNumber"] for i in books.invoices(US_TENANT)] == ["INV-101"]
    assert [i["InvoiceNumber"] for i in books.invoices(UK_TENANT)] == ["INV-201"]
    states = {j["reference"]: j["state"] async for j in bot.storage.export_jobs.find({})}
    assert states == {"INV-101": "exported", "INV-102": "rejected", "INV-201": "exported"}


async def test_a_line_chosen_into_an_organisation_that_cannot_take_it_says_why(bot, xero):
    _, message = await month_end_batch(bot, xero)
    await choose(bot, message, "INV-102", "Demo Company (UK)")
    shown = await batch_shows(bot, message, "USD is not enabled there")
    assert "→ Demo Company (UK)" in text_of(shown)


async def test_one_choice_routes_all_of_a_clients_lines_from_the_see_all_list(bot, xero):
    _, message = await month_end_batch(bot, xero)
    await bot.click("batch_see_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    call = await bot.slack.wait_for("views.open")
    opened = {**call["view"], "id": call.response["view"]["id"]}
    value = picker_value(opened, "Acme Ltd", "Demo Company (US)")
    await bot.view_action(opened, {"action_id": "batch_choose_organisation", **pick(value)}, user="U0APPROVER")
    redrawn = await batch_shows(bot, message, ACME_PICKS_US)
    assert text_of(redrawn).count(ACME_PICKS_US) == 2 and "choose its organisation" not in text_of(redrawn)
    modal = await bot.slack.wait_for("views.update", lambda c: c.get("view_id") == opened["id"])
    assert text_of(modal["view"]).count(ACME_PICKS_US) == 2


async def test_only_approvers_choose_an_organisation(bot, xero):
    await prepare(bot, xero, tenants=(UK, US), invoices=[invoices_with(101), invoices_with(102)])
    await bot.ask("export INV-101 INV-102", user="U0ADMIN")
    message = await batch_message(bot)
    name = await choose(bot, message, "INV-101", "Demo Company (UK)", user="U0MEMBER")
    assert "Only approvers" in text_of(await bot.reply_to(name))
    own = await choose(bot, message, "INV-101", "Demo Company (UK)", user="U0ADMIN")
    assert "someone else must approve" in text_of(await bot.reply_to(own))
    assert {j["tenant_id"] async for j in bot.storage.export_jobs.find({})} == {None}


async def test_a_client_linked_while_its_batch_waits_has_its_lines_checked_again_and_redrawn(bot, xero):
    _, message = await month_end_batch(bot, xero)
    await bot.container.links.link(TEAM_ID, "client", 7, US_TENANT, xero_id="c-acme", linked_by="U0ADMIN")
    await bot.container.exports.redraw_pending(TEAM_ID)  # what a customer import does once it linked clients
    redrawn = await batch_shows(bot, message, ACME_PICKS_US)
    shown = text_of(redrawn)
    assert shown.count(ACME_PICKS_US) == 2 and "batch_choose_organisation" not in shown
    assert "Approve all (3)" in shown and "Approve ready only" not in shown
    batch = await bot.storage.db["export_batches"].find_one({"_id": batch_id_of(message)})
    assert {line["check"] for line in batch["lines"].values()} == {"ready"}


async def test_reject_asks_why_shows_the_reason_and_tells_the_requester(bot, xero):
    books, message = await month_end_batch(bot, xero)
    batch = batch_id_of(message)
    await bot.click("batch_reject", batch, user="U0APPROVER", channel="C0APPROVALS")
    view = (await bot.slack.wait_for("views.open"))["view"]
    assert view["callback_id"] == "batch_reject_reason" and "INV-201" in text_of(view)
    response = await bot.submit(view, user="U0APPROVER", values={
        "reason": {"reason": {"type": "plain_text_input", "value": "March rates are wrong"}}})
    assert response.status == 200

    rejected = await batch_shows(bot, message, "Rejected by <@U0APPROVER>: March rates are wrong")
    assert "batch_approve_all" not in text_of(rejected)
    told = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0MEMBER")
    assert "rejected" in text_of(told) and "March rates are wrong" in text_of(told) and "/xero export" in text_of(told)
    stored = await bot.storage.db["export_batches"].find_one({"_id": batch})
    assert (stored["decision"], stored["reject_reason"]) == ("rejected", "March rates are wrong")
    assert {(j["state"], j["reject_reason"]) async for j in bot.storage.export_jobs.find({})} == {
        ("rejected", "March rates are wrong")}
    assert books.sent("PUT", "Invoices") == []


async def test_a_non_approver_gets_no_reject_form(bot, xero):
    await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102)])
    await bot.ask("export INV-101 INV-102", user="U0ADMIN")
    message = await batch_message(bot)
    name = await bot.click("batch_reject", batch_id_of(message), user="U0MEMBER", channel="C0APPROVALS")
    assert "Only approvers" in text_of(await bot.reply_to(name))
    assert bot.slack.called("views.open") == []
    assert {j["state"] async for j in bot.storage.export_jobs.find({})} == {"pending"}
