"""/xero settings per organisation: account and tax pickers from Xero, a checked Forecast key, a way back to
the server's default key, and refusals in the form itself."""

from __future__ import annotations

import json

import pytest

from services.shared.settings import SettingsChanges
from tests.support.export_flow import (
    INVOICE,
    click,
    final_update,
    forecast_holding,
    invoice,
    job_id_of,
    prepare,
    request,
)
from tests.support.forecast_standin import ForecastStandIn
from tests.support.harness import start_harness, stop_harness
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import UK, UK_TENANT, US, US_TENANT

ACCOUNT, TAX = f"account_code|{UK_TENANT}", f"tax_type|{UK_TENANT}"


def channel(value):
    return {"type": "conversations_select", "selected_conversation": value}


def picked(value):
    return {"type": "static_select", "selected_option": {"value": value}}


def form(key: str | None = None, **pickers) -> dict:
    values = {"approval_channel": channel("C0APPROVALS"), "notify_channel": channel("C0ALERTS"),
              "export_status": {"type": "radio_buttons", "selected_option": {"value": "AUTHORISED"}},
              "forecast_api_key": {"type": "plain_text_input", "value": key}}
    values.update(pickers)
    return {block_id: {block_id: element} for block_id, element in values.items()}


async def saved_confirmation(bot, count: int = 1):
    """Waits until the bot confirmed `count` saves (it saves after answering Slack)."""
    def confirmations():
        return [c for c in bot.slack.called("chat.postEphemeral") if "settings saved" in c["text"]]

    await bot.slack.wait_for("chat.postEphemeral", lambda c: len(confirmations()) >= count)
    return confirmations()[count - 1]


async def filled_modal(bot) -> dict:
    """Types /xero settings; returns the modal once the organisations' lists are filled in."""
    await bot.command("settings")
    await bot.slack.wait_for("views.open")
    return (await bot.slack.wait_for("views.update"))["view"]


def block(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def values_of(view: dict, block_id: str) -> list[str]:
    return [o["value"] for o in block(view, block_id)["element"]["options"]]


async def test_each_organisation_gets_pickers_filled_from_its_own_accounts_and_tax_rates(bot, xero):
    books = await prepare(bot, xero, tenants=(UK, US))
    books.add_account(UK_TENANT, "4000", "Consulting")
    books.add_account(UK_TENANT, "4100", "Old sales", Status="ARCHIVED")
    view = await filled_modal(bot)  # besides, each demo organisation has expense accounts 400 and 429
    assert values_of(view, ACCOUNT) == ["default", "200", "260", "270", "4000"]  # active revenue accounts only
    assert values_of(view, TAX) == ["default", "OUTPUT2", "NONE"]  # active rates that apply to sales
    assert values_of(view, f"account_code|{US_TENANT}") == ["default", "200", "260", "270"]
    labels = json.dumps(block(view, TAX))
    assert "20% (VAT on Income)" in labels and "VAT on Expenses" not in labels
    assert "(20%) (20%)" not in labels and "20% (VAT on Income) (20%)" not in labels  # the name says it already
    assert "No VAT (0%)" in labels
    assert block(view, ACCOUNT)["optional"] is False


async def test_choices_are_stored_per_organisation_and_used_by_the_export(bot, xero):
    zero_rated = invoice(entries=[{**entry, "tax": 0} for entry in INVOICE["entries"]])  # NONE is a 0% rate
    books = await prepare(bot, xero, tenants=(UK,), invoices=[zero_rated])
    books.add_account(UK_TENANT, "4000", "Consulting")
    view = await filled_modal(bot)
    response = await bot.submit(view, values=form(**{ACCOUNT: picked("4000"), TAX: picked("NONE")}))
    assert "errors" not in await response.text()
    confirmation = await saved_confirmation(bot)
    saved = await bot.container.workspace_settings.get(TEAM_ID)
    assert saved.line_defaults(UK_TENANT) == ("4000", "NONE")
    said = json.dumps(confirmation["blocks"])
    assert "Demo Company (UK)" in said and "4000 Consulting" in said and "No VAT" in said
    assert "Approved (Authorised)" in said and "AUTHORISED" not in said.replace("Approved (Authorised)", "")

    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    [sent] = books.bodies("PUT", "Invoices")
    assert {(li["AccountCode"], li["TaxType"]) for li in sent["Invoices"][0]["LineItems"]} == {("4000", "NONE")}


async def test_the_chosen_tax_rate_wins_over_the_forecast_lines_rate_and_the_approval_message_says_so(bot, xero):
    """INV-101's lines carry 20% in Forecast; the admin chose account 260 and No VAT (0%) for UK."""
    books = await prepare(bot, xero, tenants=(UK,), settings={"export_status": "DRAFT"})
    view = await filled_modal(bot)
    await bot.submit(view, values=form(**{ACCOUNT: picked("260"), TAX: picked("NONE")}))
    await saved_confirmation(bot)

    answer, approval = await request(bot)
    said = json.dumps(approval["blocks"], ensure_ascii=False)
    assert "account 260" in said and "No VAT (0%)" in said and "chosen in `/xero settings`" in said
    assert "Xero will total GBP 950.00" in said and "Forecast says GBP 1,140.00" in said
    assert "account 260" in json.dumps(answer["blocks"])  # the requester's answer shows the same line
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    [sent] = books.bodies("PUT", "Invoices")
    assert {(li["AccountCode"], li["TaxType"]) for li in sent["Invoices"][0]["LineItems"]} == {("260", "NONE")}


async def test_without_a_chosen_tax_rate_each_line_keeps_its_forecast_rate_and_the_line_names_it(bot, xero):
    books = await prepare(bot, xero, tenants=(UK,))
    _, approval = await request(bot)
    said = json.dumps(approval["blocks"], ensure_ascii=False)
    assert "tax 20% (VAT on Income)" in said and "chosen in" not in said
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    [sent] = books.bodies("PUT", "Invoices")
    assert {li["TaxType"] for li in sent["Invoices"][0]["LineItems"]} == {"OUTPUT2"}


async def test_an_account_the_organisation_does_not_have_is_refused_in_the_form(bot, xero):
    await prepare(bot, xero, tenants=(UK,))
    view = await filled_modal(bot)
    response = await bot.submit(view, values=form(**{ACCOUNT: picked("ZZZ9"), TAX: picked("default")}))
    answer = await response.json()
    assert answer["response_action"] == "errors" and "not an active revenue account" in answer["errors"][ACCOUNT]
    assert (await bot.container.workspace_settings.get(TEAM_ID)).line_defaults(UK_TENANT) == (None, None)


async def test_an_organisation_xero_cannot_read_keeps_its_choice_and_says_why(bot, xero):
    books = await prepare(bot, xero, tenants=(UK,), settings={"account_code": "200", "tax_type": "OUTPUT2"})
    books.fail_next("GET", "Accounts", 403, {"Type": None, "Title": "Forbidden", "Status": 403,
                                             "Detail": "AuthenticationUnsuccessful"})
    view = await filled_modal(bot)
    assert not any(b.get("block_id") == ACCOUNT for b in view["blocks"])
    said = json.dumps(view["blocks"])
    assert "could not be read" in said and "account 200" in said
    response = await bot.submit(view, values=form())
    assert "errors" not in await response.text()
    await saved_confirmation(bot)
    assert (await bot.container.workspace_settings.get(TEAM_ID)).line_defaults(UK_TENANT) == ("200", "OUTPUT2")


async def test_a_key_forecast_refuses_is_refused_in_the_form_and_not_saved(bot, xero):
    await prepare(bot, xero, tenants=(UK,))  # Forecast accepts the workspace's key only
    view = await filled_modal(bot)
    response = await bot.submit(view, values=form("wrong-key", **{ACCOUNT: picked("default"), TAX: picked("default")}))
    answer = await response.json()
    assert answer["response_action"] == "errors" and "Forecast refused this key" in answer["errors"]["forecast_api_key"]
    assert "wrong-key" not in json.dumps(answer)
    assert await bot.container.workspace_settings.forecast_api_key(TEAM_ID) != "wrong-key"


async def test_a_key_forecast_accepts_is_saved(bot, xero):
    await prepare(bot, xero, tenants=(UK,), forecast=False)
    forecast_holding(xero).use_key("good-key")  # a key the admin just made in Forecast
    view = await filled_modal(bot)
    response = await bot.submit(view, values=form("good-key", **{ACCOUNT: picked("default"), TAX: picked("default")}))
    assert "errors" not in await response.text()
    await saved_confirmation(bot)
    assert await bot.container.workspace_settings.forecast_api_key(TEAM_ID) == "good-key"


@pytest.fixture
async def bot_with_default_key(storage):
    harness = await start_harness(storage, forecast_api_key="server-default-key")
    yield harness
    await stop_harness(harness)


async def test_the_stored_key_can_be_dropped_for_the_servers_default(bot_with_default_key):
    bot = bot_with_default_key
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(forecast_api_key="stored-key"),
                                                  updated_by="U0ADMIN")
    await bot.command("settings")
    view = (await bot.slack.wait_for("views.open"))["view"]
    assert "default key from the server settings" in json.dumps(block(view, "forecast_key_default"))
    use_default = {"type": "checkboxes", "selected_options": [{"value": "yes"}]}
    response = await bot.submit(view, values=form(forecast_key_default=use_default))
    assert "errors" not in await response.text()
    saved = await saved_confirmation(bot)
    assert await bot.container.workspace_settings.forecast_api_key(TEAM_ID) == "server-default-key"
    assert "default key from the server settings" in json.dumps(saved["blocks"])


async def test_the_approval_channel_is_required(bot):
    await bot.command("settings")
    view = (await bot.slack.wait_for("views.open"))["view"]
    assert block(view, "approval_channel")["optional"] is False
    response = await bot.submit(view, values=form("k", approval_channel=channel(None)))
    answer = await response.json()
    assert "approval_channel" in answer["errors"]


async def test_the_bot_itself_cannot_be_an_approver(bot, xero):
    ForecastStandIn(key="k").install(xero)
    await bot.command("settings")
    view = (await bot.slack.wait_for("views.open"))["view"]
    users = {"type": "multi_users_select", "selected_users": ["U0APPROVER", "U0BOT"]}
    response = await bot.submit(view, values=form("k", approver_users=users))
    answer = await response.json()
    assert "is a bot" in answer["errors"]["approver_users"]
    assert (await bot.container.workspace_settings.get(TEAM_ID)).approver_users == []


async def test_a_form_opened_by_another_bot_process_is_checked_with_xero_on_save(bot, xero):
    books = await prepare(bot, xero, tenants=(UK,))
    books.add_account(UK_TENANT, "4000", "Consulting")
    view = await filled_modal(bot)
    await bot.storage.xero_reference.delete_many({})  # as if no process had read the organisation yet
    response = await bot.submit(view, values=form(**{ACCOUNT: picked("4000"), TAX: picked("OUTPUT2")}))
    assert "errors" not in await response.text()
    await saved_confirmation(bot)
    assert (await bot.container.workspace_settings.get(TEAM_ID)).line_defaults(UK_TENANT) == ("4000", "OUTPUT2")
    await bot.storage.xero_reference.delete_many({})
    response = await bot.submit(view, values=form(**{ACCOUNT: picked("ZZZ9"), TAX: picked("OUTPUT2")}))
    assert "not an active revenue account" in (await response.json())["errors"][ACCOUNT]
