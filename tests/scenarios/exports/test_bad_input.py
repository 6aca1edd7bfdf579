"""Every way /xero export can be asked wrongly gets a clear answer and changes nothing."""

from __future__ import annotations

from services.shared.settings import SettingsChanges
from tests.support.export_flow import (
    FORECAST_KEY,
    click,
    final_update,
    forecast_holding,
    invoice,
    job_id_of,
    prepare,
    request,
    text_of,
)
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import UK_TENANT


async def nothing_requested(bot) -> bool:
    return await bot.storage.export_jobs.count_documents({}) == 0 and not [
        c for c in bot.slack.called("chat.postMessage") if c["channel"] == "C0APPROVALS"]


async def test_export_without_a_reference_shows_how_to_use_it(bot):
    said = text_of(await bot.ask("export", user="U0MEMBER"))
    assert "/xero export INV-123" in said and "Which invoice" in said
    assert await nothing_requested(bot)


async def test_an_unknown_reference_is_named_and_nothing_is_requested(bot, xero):
    await prepare(bot, xero)
    said = text_of(await bot.ask("export INV-999", user="U0MEMBER"))
    assert "No Forecast invoice has the reference INV-999" in said
    assert await nothing_requested(bot)


async def test_a_bad_forecast_key_is_reported_without_echoing_it(bot, xero):
    books = await prepare(bot, xero, forecast=False)
    forecast_holding(xero).use_key("a-key-someone-made-since")
    said = text_of(await bot.ask("export INV-101", user="U0MEMBER"))
    assert "Forecast refused the API key" in said and "/xero settings" in said
    assert FORECAST_KEY not in said
    assert await nothing_requested(bot) and books.calls == []


async def test_a_forecast_outage_is_reported_in_plain_words(bot, xero):
    await prepare(bot, xero, forecast=False)
    forecast_holding(xero).refuse = lambda call: (503, "down")
    bot.container.forecast.sleep = _no_wait
    said = text_of(await bot.ask("export INV-101", user="U0MEMBER"))
    assert "I could not read the invoice from Forecast" in said and "try again" in said
    assert await nothing_requested(bot)


async def _no_wait(seconds: float) -> None:
    return None


async def test_an_invoice_without_lines_is_not_exported(bot, xero):
    await prepare(bot, xero, invoices=[invoice(entries=[])])
    said = text_of(await bot.ask("export INV-101", user="U0MEMBER"))
    assert "has no lines in Forecast" in said
    assert await nothing_requested(bot)


async def test_no_organisation_connected_says_how_to_connect(bot, xero):
    await bot.container.workspace_settings.update(
        TEAM_ID, SettingsChanges(forecast_api_key=FORECAST_KEY, approval_channel="C0APPROVALS"), updated_by="U0ADMIN")
    said = text_of(await bot.ask("export INV-101", user="U0MEMBER"))
    assert "No Xero organisation is connected" in said and "/xero connect" in said
    assert await nothing_requested(bot)


async def test_no_approval_channel_tells_the_requester_what_an_admin_must_set(bot, xero):
    await prepare(bot, xero, settings={"approval_channel": None})
    said = text_of(await bot.ask("export INV-101", user="U0MEMBER"))
    assert "No approval channel is set" in said and "/xero settings" in said
    assert await nothing_requested(bot)


async def test_no_forecast_key_tells_the_requester_what_an_admin_must_set(bot, xero):
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(approval_channel="C0APPROVALS"),
                                                  updated_by="U0ADMIN")
    said = text_of(await bot.ask("export INV-101", user="U0MEMBER"))
    assert "No Forecast API key" in said and "/xero settings" in said


async def test_an_approval_channel_the_bot_cannot_post_in_is_reported_and_the_request_withdrawn(bot, xero):
    await prepare(bot, xero, settings={"approval_channel": "C0GONE"})
    said = text_of(await bot.ask("export INV-101", user="U0MEMBER"))
    assert "could not post the approval request" in said and "channel_not_found" in said
    withdrawn = await bot.storage.export_jobs.find_one({})
    assert withdrawn["state"] == "rejected" and withdrawn["withdrawn"] == "channel_not_found"
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(approval_channel="C0APPROVALS"),
                                                  updated_by="U0ADMIN")
    again = text_of(await bot.ask("export INV-101", user="U0MEMBER"))  # nothing blocks asking again
    assert "will be exported to Xero once approved" in again


async def test_exporting_an_exported_invoice_answers_with_it_and_creates_nothing(bot, xero):
    books = await prepare(bot, xero)
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    said = text_of(await bot.ask("export INV-101", user="U0MEMBER"))
    invoice_id = books.invoices(UK_TENANT)[0]["InvoiceID"]
    assert "already in" in said and "Demo Company (UK)" in said and invoice_id in said
    assert await bot.storage.export_jobs.count_documents({}) == 1
    assert len(books.sent("PUT", "Invoices")) == 1


async def test_an_invoice_already_in_xero_with_that_number_is_linked_not_duplicated(bot, xero):
    books = await prepare(bot, xero)
    made_before = books.add_invoice(UK_TENANT, "INV-101", Status="AUTHORISED")
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    done = await final_update(bot, job_id_of(approval), "exported")
    assert made_before in text_of(done) and "already in" in text_of(done)
    assert books.sent("PUT", "Invoices") == [] and books.sent("PUT", "Contacts") == []
    link = await bot.storage.links.find_one({"kind": "invoice"})
    assert link["xero_id"] == made_before
