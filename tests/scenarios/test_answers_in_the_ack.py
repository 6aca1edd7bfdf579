"""An answer that needs nothing from Xero or Forecast is the ack itself (one trip); the others come after.

Each command goes through the real aiohttp app as a signed request; the words are the builders' own.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from bot import acks
from bot.blocks import connections as connection_blocks
from bot.blocks import exports as export_blocks
from bot.blocks import requests as request_blocks
from services.shared.settings import SettingsChanges
from tests.support.export_flow import prepare
from tests.support.forecast_standin import FORECAST_KEY
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import connect_organisations


async def said_in_the_ack(bot, text: str, **kwargs) -> dict:
    """Types /xero <text>; the answer the ack carried, after checking nothing went to the response_url."""
    name = await bot.command(text, **kwargs)
    assert name in bot.acks, f"/xero {text}: the ack was empty"
    answer = bot.acks[name]
    assert answer["response_type"] == "ephemeral"
    assert [c for c in bot.slack.called("response_url") if c["name"] == name] == []
    return answer


async def said_later(bot, text: str, **kwargs) -> dict:
    """Types /xero <text>; checks the ack was empty and returns what came to the response_url."""
    name = await bot.command(text, **kwargs)
    assert name not in bot.acks, f"/xero {text}: answered in the ack"
    return await bot.later_reply_to(name)


def same_words(answer: dict, expected: dict) -> None:
    """The same message, whichever way it went (slack_sdk's webhook client adds block ids of its own)."""
    def words(blocks: list[dict]) -> list[dict]:
        return [{k: v for k, v in block.items() if k != "block_id"} for block in blocks]

    assert words(answer["blocks"]) == words(expected["blocks"])
    assert answer.get("text", "") == expected.get("text", "")


@pytest.mark.parametrize("text", ["", "help", "HELP"])
async def test_help_is_the_ack(bot, text):
    answer = await said_in_the_ack(bot, text)
    assert "/xero connect" in json.dumps(answer["blocks"]) and "I don't know" not in json.dumps(answer)


async def test_an_unknown_word_is_answered_in_the_ack_with_help(bot):
    answer = await said_in_the_ack(bot, "frobnicate now")
    assert "frobnicate now" in answer["blocks"][0]["text"]["text"]


async def test_which_import_is_answered_in_the_ack(bot):
    answer = await said_in_the_ack(bot, "import")
    text = json.dumps(answer["blocks"])
    assert "/xero import customers" in text and "/xero import purchase-orders" in text


async def test_a_refusal_to_a_member_is_the_ack(bot):
    for text, usage in (("connect", "/xero connect"), ("sync", "/xero sync"), ("settings", "/xero settings"),
                        ("import customers", "/xero import customers"), ("remove Demo", "/xero remove [organisation]")):
        answer = await said_in_the_ack(bot, text, user="U0MEMBER")
        same_words(answer, connection_blocks.not_admin(usage, await bot.container.permissions.admins(TEAM_ID)))
    assert bot.slack.called("views.open") == []


async def test_list_from_the_database_is_the_ack(bot, xero):
    await connect_organisations(bot, xero)
    answer = await said_in_the_ack(bot, "list", user="U0MEMBER")
    same_words(answer, connection_blocks.organisations_list(await bot.container.connections.list_tenants(TEAM_ID)))
    assert "Demo Company (UK)" in json.dumps(answer["blocks"])


async def test_connect_prompt_is_the_ack(bot):
    answer = await said_in_the_ack(bot, "connect")
    url = answer["blocks"][0]["accessory"]["url"]
    assert url.startswith("https://login.xero.test/")
    same_words(answer, connection_blocks.connect_prompt(url, 10))


async def test_remove_picker_and_not_found_are_the_ack(bot, xero):
    await connect_organisations(bot, xero)
    tenants = await bot.container.connections.list_tenants(TEAM_ID)
    same_words(await said_in_the_ack(bot, "remove"), connection_blocks.remove_picker(tenants))
    same_words(await said_in_the_ack(bot, "remove Nowhere Ltd"), connection_blocks.remove_not_found("Nowhere Ltd"))


async def test_remove_of_one_organisation_acks_empty_and_opens_the_confirmation(bot, xero):
    await connect_organisations(bot, xero)
    name = await bot.command("remove Demo Company (UK)")
    assert name not in bot.acks
    assert (await bot.slack.wait_for("views.open"))["view"]["callback_id"] == connection_blocks.REMOVE_CALLBACK_ID


async def test_sync_started_is_the_ack(bot, xero):
    await connect_organisations(bot, xero)
    answer = await said_in_the_ack(bot, "sync")
    assert "Demo Company (UK)" in json.dumps(answer["blocks"])


async def test_export_usage_and_too_many_are_the_ack(bot):
    same_words(await said_in_the_ack(bot, "export", user="U0MEMBER"), export_blocks.usage())
    many = " ".join(f"INV-{n}" for n in range(1, 503))
    same_words(await said_in_the_ack(bot, f"export {many}", user="U0MEMBER"),
               export_blocks.too_many_references(502, 500))


async def test_what_an_export_lacks_is_the_ack(bot, xero):
    same_words(await said_in_the_ack(bot, "export INV-101", user="U0MEMBER"), export_blocks.refused("no_api_key", {}))
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(forecast_api_key=FORECAST_KEY),
                                                  updated_by="U0ADMIN")
    same_words(await said_in_the_ack(bot, "export INV-101 INV-102", user="U0MEMBER"),
               export_blocks.refused("no_organisation", {}))


async def test_an_export_that_reads_forecast_answers_at_the_response_url(bot, xero):
    await prepare(bot, xero)
    answer = await said_later(bot, "export INV-101", user="U0MEMBER")
    assert answer["response_type"] == "ephemeral"
    assert "Acme Ltd" in json.dumps(answer["blocks"]) and "C0APPROVALS" in json.dumps(answer["blocks"])


async def test_an_unknown_invoice_is_said_at_the_response_url_with_forecasts_answer(bot, xero):
    await prepare(bot, xero)
    answer = await said_later(bot, "export INV-999", user="U0MEMBER")
    assert "No Forecast invoice has the reference INV-999" in json.dumps(answer["blocks"])


async def test_settings_acks_empty_and_opens_the_form(bot):
    name = await bot.command("settings")
    assert name not in bot.acks
    await bot.slack.wait_for("views.open")


async def test_a_failure_before_any_answer_is_said_in_the_ack(bot):
    from services.platform.storage import Storage

    unreachable = Storage("mongodb://127.0.0.1:9", "x", timeout_ms=200)
    bot.container.connections.storage = unreachable
    try:
        answer = await said_in_the_ack(bot, "list")
        same_words(answer, request_blocks.unexpected_failure())
    finally:
        await unreachable.close()


async def test_an_ack_that_the_database_delays_goes_out_empty_and_the_answer_follows(bot, monkeypatch):
    monkeypatch.setattr(acks, "ANSWER_BUDGET", 0.05)  # the database is slower than the budget
    connections = bot.container.connections
    real = connections.list_tenants

    async def slow(team_id):
        await asyncio.sleep(0.5)
        return await real(team_id)

    monkeypatch.setattr(connections, "list_tenants", slow)
    answer = await said_later(bot, "list")
    same_words(answer, connection_blocks.organisations_list([]))
