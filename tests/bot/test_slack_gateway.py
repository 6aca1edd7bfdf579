"""The one way out to Slack: retries what Slack asks to retry, says which failures are for good, logs once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from bot.slack_gateway import MessageTag, SlackGateway, SlackRefused, SlackUnavailable, same_token_for_every_team
from tests.support.slack_standin import BOT_TOKEN, TEAM_ID, SlackStandIn


@pytest.fixture
async def slack():
    standin = await SlackStandIn().start()
    yield standin
    await standin.close()


@pytest.fixture
def gateway(slack):
    return SlackGateway(slack.api_url, same_token_for_every_team(BOT_TOKEN)).for_team(TEAM_ID)


async def test_each_workspace_is_called_with_its_own_bot_token(slack):
    tokens = {"T0ONE": "xoxb-one", "T0TWO": "xoxb-two"}
    slack.tokens |= set(tokens.values())
    asked: list[tuple[str, str | None]] = []

    async def token_for(team_id: str, enterprise_id: str | None) -> str | None:
        asked.append((team_id, enterprise_id))
        return tokens.get(team_id)

    gateway = SlackGateway(slack.api_url, token_for)
    await gateway.for_team("T0ONE").post("C0GENERAL", {"text": "one"})
    await gateway.for_team("T0TWO", "E0GRID").post("C0GENERAL", {"text": "two"})
    await gateway.for_team("T0ONE").notify_user("U0MEMBER", "C0GENERAL", {"text": "one again"})
    assert [(c.token, c["text"]) for c in slack.calls] == [
        ("xoxb-one", "one"), ("xoxb-two", "two"), ("xoxb-one", "one again")]
    assert asked == [("T0ONE", None), ("T0TWO", "E0GRID"), ("T0ONE", None)]
    one, two = await gateway.client_for("T0ONE", None), await gateway.client_for("T0TWO", None)
    assert one is await gateway.client_for("T0ONE", None) and one is not two  # one client per token, kept
    with pytest.raises(SlackRefused) as refused:  # not installed there (any more): refused for good, unasked
        await gateway.for_team("T0GONE").post("C0GENERAL", {"text": "lost"})
    assert refused.value.error == "not_authed" and len(slack.calls) == 3


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


async def test_post_once_finds_a_dm_posted_before_a_crash_and_posts_only_what_is_missing(slack, gateway):
    tag, marks = MessageTag("ledgerline_requester_dm", {"job_id": "J1", "about": "exported"}), []

    async def mark():
        marks.append(True)

    channel, ts = await gateway.post_once("U0MEMBER", {"text": "done"}, tag, tried_since=None, before_post=mark)
    assert channel.startswith("D") and marks == [True]  # noted before the post; nothing looked for
    assert slack.called("conversations.history") == []
    # the process died before it saved (channel, ts): the next run finds that DM instead of posting again
    found = await gateway.post_once("U0MEMBER", {"text": "done"}, tag, tried_since=datetime.now(UTC), before_post=mark)
    assert found == (channel, ts) and marks == [True] and len(slack.called("chat.postMessage")) == 1
    other = MessageTag("ledgerline_requester_dm", {"job_id": "J1", "about": "failed:1"})  # another message
    assert await gateway.post_once("U0MEMBER", {"text": "failed"}, other, tried_since=datetime.now(UTC),
                                   before_post=mark) != (channel, ts)
    assert len(slack.called("chat.postMessage")) == 2


async def test_post_once_posts_again_when_it_may_not_read_the_history(slack, gateway):
    slack.fail_next("conversations.history", "missing_scope")  # installed before the history scopes
    tag = MessageTag("ledgerline_failure_notice", {"job_id": "J1", "about": "failed:1"})
    await gateway.post_once("C0GENERAL", {"text": "failed"}, tag, tried_since=datetime.now(UTC), before_post=_nothing)
    [posted] = slack.called("chat.postMessage")
    assert posted["metadata"]["event_type"] == "ledgerline_failure_notice"


async def test_post_once_looks_for_a_thread_reply_in_its_thread(slack, gateway):
    _, parent = await gateway.post("C0GENERAL", {"text": "approval"})
    tag = MessageTag("ledgerline_sync_notice", {"notice_id": "N1"})
    reply = {"text": "paid", "thread_ts": parent}
    first = await gateway.post_once("C0GENERAL", reply, tag, tried_since=None, before_post=_nothing)
    again = await gateway.post_once("C0GENERAL", reply, tag, tried_since=datetime.now(UTC), before_post=_nothing)
    assert again == first
    assert slack.called("conversations.replies")[0]["ts"] == parent


async def _nothing() -> None:
    return None


async def test_a_thread_whose_parent_was_deleted_is_no_reason_to_try_for_ever(slack, gateway):
    _, parent = await gateway.post("C0GENERAL", {"text": "approval"})
    slack.state.delete_message("C0GENERAL", parent)
    tag = MessageTag("ledgerline_sync_notice", {"notice_id": "N1"})
    with pytest.raises(SlackRefused):
        await gateway.find_tagged("C0GENERAL", tag, since=0.0, thread_ts=parent)
