"""No request can break the bot: bad signatures, odd bodies and odd payloads get 401/400/200, never 500."""

from __future__ import annotations

import json
import logging
import sys
import time
from urllib.parse import urlencode

import pytest

from bot.blocks import exports as export_blocks
from bot.blocks import imports as import_blocks
from bot.blocks import requests as request_blocks
from bot.blocks.connections import REMOVE_CALLBACK_ID
from bot.requests import MAX_BODY_BYTES
from tests.support.signing import command_body, payload_body, signed_headers
from tests.support.slack_standin import TEAM_ID

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def logged(caplog) -> str:
    return "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)


def tracebacks(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info]


async def post(bot, body: str | bytes, headers: dict):
    return await bot.client.post("/slack/events", data=body, headers=headers)


ODD_BODIES = {
    "payload is null": "payload=null",
    "payload is a list": "payload=%5B1%5D",
    "payload is not JSON": "payload=%7Bnot-json",
    "payload is a string": 'payload="hello"',
    "3,000 nested brackets": "payload=" + "%5B" * 3000 + "%5D" * 3000,
    "3,000 nested objects": "payload=" + '{"a":' * 3000 + "1" + "}" * 3000,
    "neither a command nor a payload": "hello=world",
    "empty": "",
}


@pytest.mark.parametrize("body", ODD_BODIES.values(), ids=ODD_BODIES.keys())
async def test_odd_bodies_without_a_signature_get_401_and_are_not_logged(bot, logs, body):
    response = await post(bot, body, {"Content-Type": FORM})
    assert response.status == 401
    assert await response.text() == ""
    assert tracebacks(logs) == []


@pytest.mark.parametrize("body", ODD_BODIES.values(), ids=ODD_BODIES.keys())
async def test_odd_bodies_with_a_valid_signature_get_a_clean_400(bot, logs, body):
    response = await post(bot, body, signed_headers(body))
    assert response.status == 400
    assert tracebacks(logs) == []
    assert bot.slack.calls == []


async def test_bytes_that_are_not_utf8_are_refused_before_anything_is_parsed(bot, logs):
    body = b"payload=\xff\xfe\xfa"
    for headers in ({"Content-Type": FORM}, {**signed_headers(b"payload="), "Content-Type": FORM}):
        response = await post(bot, body, headers)
        assert response.status == 401
    assert tracebacks(logs) == []


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "-5", "١٢٣", "99999999999999999999", " 1 "])
async def test_a_timestamp_that_is_not_a_number_gets_401(bot, logs, timestamp):
    body = command_body("list", user_id="U0ADMIN", team_id=TEAM_ID, channel_id="C0GENERAL",
                        response_url=bot.slack.response_url("x"))
    headers = {**signed_headers(body), "X-Slack-Request-Timestamp": timestamp}
    response = await post(bot, body, headers)
    assert response.status == 401
    assert tracebacks(logs) == []
    assert bot.slack.called("response_url") == []


@pytest.mark.parametrize("signature", ["v0=é", "v1=" + "0" * 64, "v0=" + "G" * 64, "v0=", "sha256=abc"])
async def test_a_signature_of_the_wrong_shape_gets_401(bot, logs, signature):
    body = command_body("list", user_id="U0ADMIN", team_id=TEAM_ID, channel_id="C0GENERAL",
                        response_url=bot.slack.response_url("x"))
    response = await post(bot, body.encode(), {**signed_headers(body), "X-Slack-Signature": signature})
    assert response.status == 401
    assert tracebacks(logs) == []


async def test_a_body_over_one_megabyte_is_refused(bot):
    body = "payload=" + "a" * MAX_BODY_BYTES
    response = await post(bot, body, signed_headers(body))
    assert response.status == 413


async def test_a_settings_form_that_fails_the_signature_check_never_reaches_the_logs(bot, logs):
    key = "fc-live-key-DO-NOT-LOG-1234567"
    body = payload_body({"type": "view_submission", "team": {"id": TEAM_ID}, "user": {"id": "U0ADMIN"},
                         "view": {"callback_id": "workspace_settings", "state": {"values": {
                             "forecast_api_key": {"forecast_api_key": {"type": "plain_text_input", "value": key}}}}}})
    for headers in (signed_headers(body, secret="forged-secret-0000"),
                    signed_headers(body, timestamp=int(time.time()) - 3600), {"Content-Type": FORM}):
        response = await post(bot, body, headers)
        assert response.status == 401
    assert "fc-live-key" not in logged(logs)
    assert "slack.request_rejected" in logged(logs)  # refused, and said so, without the body


@pytest.mark.parametrize("text, answer", [("help payload", "/xero connect"),
                                          ("export payload", "No Forecast API key is set"),
                                          ("frobnicate payload=1", "frobnicate payload=1")])
async def test_a_command_whose_text_contains_payload_is_still_a_command(bot, text, answer):
    """slack-bolt's parser took any form containing `payload` for an interaction and dropped it."""
    reply = await bot.ask(text)
    assert reply["response_type"] == "ephemeral"
    assert answer in json.dumps(reply["blocks"])


async def test_a_command_typed_in_a_channel_named_payload_team_is_answered(bot):
    body = urlencode({"token": "legacy", "team_id": TEAM_ID, "channel_id": "C0GENERAL", "channel_name": "payload-team",
                      "user_id": "U0MEMBER", "command": "/xero", "text": "help",
                      "response_url": bot.slack.response_url("pt"), "trigger_id": "trigger-pt"})
    response = await post(bot, body, signed_headers(body))
    assert response.status == 200
    reply = await bot.reply_to("pt")
    assert "/xero connect" in json.dumps(reply["blocks"])


async def test_a_command_with_a_malformed_user_id_gets_a_polite_answer(bot, logs):
    body = urlencode({"team_id": TEAM_ID, "user_id": "not a slack id", "command": "/xero", "text": "list"})
    response = await post(bot, body, signed_headers(body))
    assert response.status == 200
    answer = await response.json()
    assert answer["response_type"] == "ephemeral"
    assert request_blocks.UNREADABLE in json.dumps(answer)
    assert tracebacks(logs) == []


async def test_an_id_that_is_a_query_operator_never_reaches_a_handler(bot, logs):
    for user in ({"$ne": ""}, {"id": {"$ne": ""}}):
        response = await bot.send_payload({"type": "block_actions", "user": user,
                                           "actions": [{"action_id": export_blocks.APPROVE_ACTION, "value": "j"}]})
        assert response.status == 400  # nothing to answer on: no response_url
    assert bot.slack.calls == []
    assert tracebacks(logs) == []


async def test_a_button_value_that_is_a_query_operator_gets_a_polite_ephemeral_error(bot, logs):
    name = "neq"
    response = await bot.send_payload({
        "type": "block_actions", "user": {"id": "U0APPROVER"}, "response_url": bot.slack.response_url(name),
        "actions": [{"action_id": export_blocks.APPROVE_ACTION, "value": {"$ne": ""}}]})
    assert response.status == 200
    reply = await bot.reply_to(name)
    assert reply["response_type"] == "ephemeral"
    assert request_blocks.UNREADABLE in json.dumps(reply["blocks"])
    assert tracebacks(logs) == []


async def test_a_button_without_a_value_gets_a_polite_ephemeral_error(bot, logs):
    name = await bot.click(export_blocks.RETRY_ACTION, "", user="U0APPROVER")
    reply = await bot.reply_to(name)
    assert request_blocks.UNREADABLE in json.dumps(reply["blocks"])
    assert tracebacks(logs) == []


async def test_an_unknown_action_gets_a_quiet_200_without_its_body_in_the_logs(bot, logs):
    name = await bot.click("no_such_action", "secret-value-XYZ-123")
    assert bot.slack.called("response_url") == []
    assert "secret-value-XYZ-123" not in logged(logs)
    assert "slack.unhandled" in logged(logs)
    assert tracebacks(logs) == []
    assert name


async def test_an_unknown_view_and_unknown_options_get_a_clean_200(bot, logs):
    response = await bot.submit({"callback_id": "no_such_view", "private_metadata": "{}"})
    assert response.status == 200
    assert await bot.suggest("no_such_select", "abc") == {"options": []}
    assert tracebacks(logs) == []


async def test_other_interactions_get_a_clean_200(bot, logs):
    for kind in ("shortcut", "view_closed", "message_action", 42):
        response = await bot.send_payload({"type": kind, "user": {"id": "U0ADMIN"}})
        assert response.status == 200
    assert tracebacks(logs) == []


@pytest.mark.parametrize("metadata", ["not json", "[1]", '{"tenant_id": {"$ne": ""}}', '{"channel_id": 5}'])
async def test_bad_private_metadata_replaces_the_modal_with_a_polite_notice_at_once(bot, logs, metadata):
    started = time.monotonic()
    response = await bot.submit({"callback_id": REMOVE_CALLBACK_ID, "private_metadata": metadata})
    assert time.monotonic() - started < 2  # no waiting for an ack that never comes
    assert response.status == 200
    answer = await response.json()
    assert answer["response_action"] == "update"
    assert request_blocks.UNREADABLE in json.dumps(answer["view"])
    assert tracebacks(logs) == []


async def test_a_form_missing_what_it_needs_gets_a_polite_notice(bot, logs):
    for callback_id in (REMOVE_CALLBACK_ID, export_blocks.REJECT_CALLBACK_ID):
        response = await bot.submit({"callback_id": callback_id, "private_metadata": '{"channel_id": "C0GENERAL"}'})
        answer = await response.json()
        assert answer["response_action"] == "update"
        assert request_blocks.UNREADABLE in json.dumps(answer["view"])
    assert tracebacks(logs) == []


async def test_members_get_no_customer_options(bot):
    assert await bot.suggest(import_blocks.CUSTOMERS_ACTION, "a", user="U0MEMBER") == {"options": []}


async def test_members_cannot_redraw_the_purchase_order_modal(bot):
    view = {"id": "V0PO", "callback_id": import_blocks.PO_CALLBACK, "private_metadata": '{"channel_id": "C0GENERAL"}'}
    await bot.view_action(view, {"type": "multi_static_select", "action_id": import_blocks.PO_STATUS_ACTION,
                                 "selected_options": [{"value": "DRAFT"}]}, user="U0MEMBER")
    told = await bot.slack.wait_for("chat.postEphemeral")
    assert told["user"] == "U0MEMBER" and "Only admins" in json.dumps(told["blocks"])
    assert bot.slack.called("views.update") == []


async def test_an_export_of_more_than_five_hundred_references_is_refused_with_a_clear_message(bot):
    references = " ".join(f"INV-{n}" for n in range(501))
    reply = await bot.ask(f"export {references}", user="U0MEMBER")
    text = json.dumps(reply["blocks"])
    assert "501 invoices" in text and "at most 500" in text


async def test_a_listener_that_fails_before_it_acks_answers_at_once_and_logs_the_whole_trace(bot, logs):
    async def broken(*args, **kwargs):
        raise RuntimeError("the settings store is on fire")

    bot.container.permissions.is_admin = broken  # save_settings asks before it acks
    started = time.monotonic()
    response = await bot.submit({"callback_id": "workspace_settings", "private_metadata": "{}"})
    assert time.monotonic() - started < 2
    answer = await response.json()
    assert answer["response_action"] == "update"
    assert request_blocks.FAILED in json.dumps(answer["view"])
    failures = [r for r in tracebacks(logs) if r.getMessage() == "listener_failed"]
    assert failures and failures[0].exc_info[0] is RuntimeError


async def test_a_failing_answer_never_leaves_slack_waiting(bot, logs):
    """The error answer itself fails (its response_url is dead): Slack still has its 200 at once."""
    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    bot.container.permissions.is_admin = broken
    body = command_body("settings", user_id="U0ADMIN", team_id=TEAM_ID, channel_id="C0GENERAL",
                        response_url="http://127.0.0.1:9/dead")
    started = time.monotonic()
    response = await post(bot, body, signed_headers(body))
    assert response.status == 200
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("formatter_name", ["KeyValueFormatter", "JsonFormatter"])
def test_log_lines_keep_the_whole_stack_trace_with_secrets_masked(formatter_name):
    from bot import logging_setup

    def deepest_frame():
        raise ValueError("refresh_token=rt-secret-123 rejected for xoxb-1-abc")

    try:
        deepest_frame()
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "listener_failed", None, sys.exc_info())
    logging_setup.Redactor(["my-signing-secret"]).filter(record)
    line = getattr(logging_setup, formatter_name)().format(record)
    assert "\n" not in line  # still one line per event
    assert "Traceback" in line and "deepest_frame" in line and "ValueError" in line
    assert "rt-secret-123" not in line and "xoxb-1-abc" not in line


def test_validation_errors_in_a_trace_do_not_show_what_was_typed():
    from pydantic import BaseModel

    from bot.logging_setup import KeyValueFormatter, Redactor

    class Form(BaseModel):
        account_code: int

    typed = {"account_code": "fc-typed-key-0099"}
    try:
        Form(**typed)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "listener_failed", None, sys.exc_info())
    Redactor([]).filter(record)
    assert "fc-typed-key-0099" not in KeyValueFormatter().format(record)


async def test_a_listener_that_fails_after_its_ack_does_not_keep_slack_waiting(bot, logs):
    """slack-bolt forgets an ack when the listener raises right after it, and waits 3 s for nothing."""
    started = time.monotonic()
    name = await bot.click(export_blocks.RETRY_ACTION, "not a record id!", user="U0APPROVER")
    assert time.monotonic() - started < 1.5
    assert request_blocks.UNREADABLE in json.dumps((await bot.reply_to(name))["blocks"])
    assert tracebacks(logs) == []


async def test_slacks_certificate_check_gets_a_200(bot):
    body = "ssl_check=1&token=legacy"
    response = await post(bot, body, signed_headers(body))
    assert response.status == 200


async def test_the_events_api_url_check_gets_its_challenge_back(bot):
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"type": "url_verification", "token": "legacy", "challenge": challenge})
    response = await post(bot, body, {**signed_headers(body), "Content-Type": "application/json"})
    assert response.status == 200
    assert (await response.json())["challenge"] == challenge


@pytest.mark.parametrize("user", ["U0ADMIN", {"$ne": ""}])
async def test_events_nobody_listens_for_or_that_cannot_be_read_get_a_quiet_200(bot, logs, user):
    body = json.dumps({"type": "event_callback", "team_id": TEAM_ID, "api_app_id": "A0TEST", "event_id": "Ev1",
                       "event": {"type": "app_home_opened", "user": user, "tab": "home"}})
    response = await post(bot, body, {**signed_headers(body), "Content-Type": "application/json"})
    assert response.status == 200
    assert tracebacks(logs) == []


async def test_json_that_is_not_an_event_gets_400(bot):
    body = json.dumps({"type": "block_actions", "user": {"id": "U0ADMIN"}})
    response = await post(bot, body, {**signed_headers(body), "Content-Type": "application/json"})
    assert response.status == 400
