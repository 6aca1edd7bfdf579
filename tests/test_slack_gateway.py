"""The one way out to Slack: retries what Slack asks to retry, says which failures are for good, logs once."""

from __future__ import annotations

import logging

import pytest

from bot.slack_gateway import SlackGateway, SlackRefused, SlackUnavailable, build_client
from tests.support.slack_standin import BOT_TOKEN, SlackStandIn


@pytest.fixture
async def slack():
    standin = await SlackStandIn().start()
    yield standin
    await standin.close()


@pytest.fixture
def gateway(slack):
    return SlackGateway(build_client(BOT_TOKEN, slack.api_url))


async def test_rate_limits_and_server_errors_are_retried_inside_one_call(slack, gateway):
    slack.fail_next("chat.postMessage", status=429)
    slack.fail_next("chat.postMessage", status=503)
    channel, ts = await gateway.post("C0GENERAL", {"text": "hello"})
    assert channel == "C0GENERAL" and ts
    assert len(slack.called("chat.postMessage")) == 3


async def test_a_refusal_for_good_is_told_apart_from_one_worth_retrying_and_logged(slack, gateway, caplog):
    caplog.set_level(logging.WARNING)
    with pytest.raises(SlackRefused) as refused:
        await gateway.post("C0NOWHERE", {"text": "hello"})
    assert refused.value.error == "channel_not_found"
    slack.fail_next("chat.update", "internal_error")
    with pytest.raises(SlackUnavailable):
        await gateway.update("C0GENERAL", "1.0", {"text": "hello"})
    logged = [r for r in caplog.records if r.getMessage() == "slack.call_failed"]
    assert len(logged) == 2


async def test_a_modal_changed_meanwhile_is_not_an_error(slack, gateway):
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Import"}, "blocks": []}
    view_id = slack.state.open_view("U0ADMIN", modal)["view"]["id"]
    assert await gateway.update_modal(view_id, modal, hash="old") is None  # Slack's hash_conflict
    assert slack.called("views.update")[0]["hash"] == "old"
    assert (await gateway.update_modal(view_id, modal))["id"] == view_id


async def test_notify_user_falls_back_to_a_dm_when_the_ephemeral_cannot_be_posted(slack, gateway):
    slack.not_joined.add("C0PRIVATE")
    await gateway.notify_user("U0MEMBER", "C0PRIVATE", {"text": "done"})
    [dm] = slack.called("chat.postMessage")
    assert dm["channel"] == "U0MEMBER" and dm["text"] == "done"
    await gateway.notify_user("U0MEMBER", "C0GENERAL", {"text": "again"})
    assert slack.called("chat.postEphemeral")[-1]["user"] == "U0MEMBER"
    assert len(slack.called("chat.postMessage")) == 1
