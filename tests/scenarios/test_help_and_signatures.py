"""Slack requests must be signed; /xero with no or unknown words shows help."""

import time

from tests.support.signing import command_body, signed_headers


async def test_help_lists_every_sub_command_with_an_example(bot):
    reply = await bot.ask("")
    text = str(reply["blocks"])
    for usage in ("/xero connect", "/xero list", "/xero remove", "/xero help"):
        assert usage in text
    assert "Example" in text
    assert reply["response_type"] == "ephemeral"


async def test_unknown_sub_command_says_so_and_shows_help(bot):
    reply = await bot.ask("frobnicate now")
    assert "frobnicate now" in reply["blocks"][0]["text"]["text"]
    assert any("/xero list" in str(b) for b in reply["blocks"])


async def test_help_word_shows_help(bot):
    reply = await bot.ask("help")
    assert "I don't know" not in str(reply["blocks"])
    assert "/xero connect" in str(reply["blocks"])


def _body(bot):
    return command_body("list", user_id="U0ADMIN", team_id="T0TEST", channel_id="C0GENERAL",
                        response_url=bot.slack.response_url("x"))


async def test_request_with_a_bad_signature_is_refused(bot):
    body = _body(bot)
    headers = signed_headers(body, secret="not-the-secret")
    response = await bot.client.post("/slack/events", data=body, headers=headers)
    assert response.status == 401
    assert bot.slack.called("response_url") == []


async def test_request_without_signature_is_refused(bot):
    response = await bot.client.post("/slack/events", data=_body(bot),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 401


async def test_request_older_than_five_minutes_is_refused(bot):
    body = _body(bot)
    headers = signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    response = await bot.client.post("/slack/events", data=body, headers=headers)
    assert response.status == 401
    assert bot.slack.called("response_url") == []


async def test_an_unexpected_failure_gets_a_friendly_answer_not_silence(bot):
    from services.platform.storage import Storage

    unreachable = Storage("mongodb://127.0.0.1:9", "x", timeout_ms=200)
    bot.container.connections.storage = unreachable  # the database goes away mid-flight
    reply = await bot.ask("list")
    assert "Something went wrong on our side" in str(reply["blocks"])
    assert reply["response_type"] == "ephemeral"
    await unreachable.close()
