"""Socket Mode payloads meet the same typed reader as signed HTTP requests (only the signature is not theirs)."""

from __future__ import annotations

import pytest

from bot.requests import BlockAction, SlashCommand
from bot.requests.reader import Rejected, RequestReader

reader = RequestReader("")  # Socket Mode without a signing secret


def test_a_command_envelope_is_read_as_a_slash_command():
    inbound = reader.read_envelope("slash_commands", {
        "command": "/xero", "text": "help payload", "team_id": "T0TEST", "user_id": "U0MEMBER",
        "channel_id": "C0GENERAL", "response_url": "https://hooks.slack.test/commands/1", "trigger_id": "1.2.abc"})
    assert isinstance(inbound.payload, SlashCommand) and inbound.payload.words == ["help", "payload"]


def test_an_interactive_envelope_is_read_as_a_click():
    inbound = reader.read_envelope("interactive", {
        "type": "block_actions", "team": {"id": "T0TEST"}, "user": {"id": "U0ADMIN"},
        "actions": [{"action_id": "export_approve", "value": "job1"}]})
    assert isinstance(inbound.payload, BlockAction) and inbound.payload.record_id() == "job1"


@pytest.mark.parametrize("payload", [
    {"type": "block_actions", "team": {"id": "T0TEST"}, "user": {"$ne": ""}, "actions": [{"action_id": "a"}]},
    {"type": "block_actions", "team": {"id": "T0TEST"}, "user": {"id": {"$ne": ""}}, "actions": [{"action_id": "a"}]},
])
def test_an_odd_id_over_the_socket_never_becomes_a_payload(payload):
    assert reader.read_envelope("interactive", payload).payload is None


def test_a_command_with_odd_field_types_is_unreadable_not_a_crash():
    assert reader.read_envelope("slash_commands", {"command": "/xero", "team_id": ["T0TEST"]}).payload is None


def test_an_unknown_envelope_type_is_refused():
    with pytest.raises(Rejected):
        reader.read_envelope("hello", {})


def test_without_a_signing_secret_nothing_posted_is_accepted():
    with pytest.raises(Rejected) as refused:
        reader.read(b"command=%2Fxero", {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=" + "0" * 64})
    assert refused.value.status == 401
