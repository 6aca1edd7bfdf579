"""Small things a newcomer trips over: each answered in plain words through the real routes."""

from __future__ import annotations

import json

from tests.support.export_flow import invoice, prepare, text_of


async def test_import_alone_asks_which_import_instead_of_not_knowing_it(bot):
    said = text_of(await bot.ask("import"))
    assert "I don't know" not in said
    assert "/xero import customers" in said and "/xero import purchase-orders" in said


async def test_comma_separated_references_are_separate_invoices(bot, xero):
    second = invoice(id=102, company_invoice_id=102, invoice_reference="INV-102")
    await prepare(bot, xero, invoices=[invoice(), second])
    name = await bot.command("export INV-101,INV-102", user="U0MEMBER")
    await bot.slack.wait_for("response_url", lambda c: c["name"] == name and "INV-102" in json.dumps(c.args))
    answers = [json.dumps(c.args) for c in bot.slack.called("response_url") if c["name"] == name]
    assert len(answers) == 1 and "INV-101" in answers[0] and "INV-102" in answers[0]  # one answer, both named
    assert not any("INV-101,INV-102" in a for a in answers)
    requested = sorted([doc["forecast_invoice_id"] async for doc in bot.storage.export_jobs.find({})])
    assert requested == [101, 102]  # two requests, one per invoice, not one for "INV-101,INV-102"


async def test_a_clicked_connect_button_is_replaced_so_it_cannot_be_used_twice(bot):
    name = await bot.click("connect_xero_link", "", user="U0ADMIN")
    replaced = await bot.reply_to(name)
    assert replaced["replace_original"] is True
    assert "Connect to Xero" not in json.dumps(replaced.args) and "/xero connect" in replaced["text"] + json.dumps(
        replaced["blocks"])


async def test_the_reject_form_says_optional_once(bot, xero):
    from tests.support.export_flow import click, job_id_of, request
    await prepare(bot, xero)
    _, posted = await request(bot)
    await click(bot, "export_reject", job_id_of(posted))
    modal = (await bot.slack.wait_for("views.open"))["view"]
    reason = next(b for b in modal["blocks"] if b["type"] == "input")
    assert reason["optional"] is True and reason["label"]["text"] == "Reason"


async def test_help_and_refusals_do_not_name_server_settings(bot):
    said = text_of(await bot.ask("help")) + text_of(await bot.ask("connect", user="U0MEMBER"))
    assert "BOT_ADMINS" not in said and "operator" in said


async def test_the_bot_answers_its_own_front_page_instead_of_404(bot):
    response = await bot.client.get("/")
    assert response.status == 200
    assert "/slack/events" in await response.text()



async def test_help_shows_every_way_to_export_sync_and_per_organisation_settings_without_stray_asterisks(bot):
    said = text_of(await bot.ask("help", user="U0MEMBER"))
    assert "*`" not in said and "`*" not in said  # the sandbox (and Slack's fallback text) showed them literally
    assert "export unexported" in said and "INV-101..INV-130" in said and "/xero sync" in said
    assert "per organisation" in said and "default account" not in said


async def test_a_batch_where_nothing_went_does_not_promise_news(bot, xero):
    await prepare(bot, xero, invoices=[invoice()])
    said = text_of(await bot.ask("export INV-998 INV-999", user="U0MEMBER"))
    assert "Nothing went for approval" in said and "You will hear back" not in said


async def test_a_member_refused_settings_is_told_which_admins_to_ask(bot):
    said = json.dumps((await bot.ask("settings", user="U0MEMBER"))["blocks"])
    assert "Only admins" in said and "Ask one of them" not in said
    assert "<@U0ADMIN>" in said and "<@U0APPROVER>" in said and "<@U0LISTED>" in said  # Slack's and the operator's
    assert "<@U0MEMBER>" not in said
