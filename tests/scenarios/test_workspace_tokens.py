"""Every Slack call the bot makes for a request is made with the bot token of the workspace the request came from."""

from __future__ import annotations

import pytest

from tests.support.harness import start_harness, stop_harness
from tests.support.signing import command_body, signed_headers
from tests.support.slack_standin import BOT_TOKEN, TEAM_ID

TOKENS = {TEAM_ID: BOT_TOKEN, "T0OTHER": "xoxb-other-workspace"}


@pytest.fixture
async def two_workspaces(storage):
    async def token_for(team_id: str, enterprise_id: str | None) -> str | None:
        return TOKENS.get(team_id)

    harness = await start_harness(storage, token_for=token_for)
    harness.slack.tokens.add(TOKENS["T0OTHER"])
    yield harness
    await stop_harness(harness)


async def open_settings_from(bot, team_id: str, name: str) -> None:
    body = command_body("settings", user_id="U0ADMIN", team_id=team_id, channel_id="C0GENERAL",
                        response_url=bot.slack.response_url(name), trigger_id=bot.slack.trigger(name, "U0ADMIN"))
    response = await bot.client.post("/slack/events", data=body, headers=signed_headers(body))
    assert response.status == 200


async def test_each_workspace_is_answered_with_its_own_bot_token(two_workspaces):
    bot = two_workspaces
    await open_settings_from(bot, "T0OTHER", "other")
    opened = await bot.slack.wait_for("views.open", lambda c: c["trigger_id"] == "other")
    assert opened.token == TOKENS["T0OTHER"]
    asked = [c for c in bot.slack.called("users.info") if c["user"] == "U0ADMIN"]  # is the person an admin there?
    assert asked and {c.token for c in asked} == {TOKENS["T0OTHER"]}

    await open_settings_from(bot, TEAM_ID, "home")
    opened = await bot.slack.wait_for("views.open", lambda c: c["trigger_id"] == "home")
    assert opened.token == BOT_TOKEN
    filled = await bot.slack.wait_for("views.update", lambda c: c["view_id"] == opened.response["view"]["id"])
    assert filled.token == BOT_TOKEN


async def test_a_workspace_without_a_token_gets_no_call_made_for_it(two_workspaces):
    bot = two_workspaces
    await open_settings_from(bot, "T0GONE", "gone")  # uninstalled: no token for it
    await bot.slack.wait_for("response_url", lambda c: c["name"] == "gone")  # told it may not (admins only)
    assert not [c for c in bot.slack.calls if c.method != "response_url" and c.token != BOT_TOKEN]
    assert bot.slack.called("views.open") == []
