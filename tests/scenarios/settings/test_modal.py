"""/xero settings: the modal, inline validation and what gets saved."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.shared.settings import SettingsChanges
from tests.support.forecast_standin import ForecastStandIn
from tests.support.slack_standin import TEAM_ID

NEW_KEY = "fc-new-key-456"


@pytest.fixture(autouse=True)
def forecast_accepts_keys(xero):
    """The sandbox's Forecast accepts the key typed in these tests when it is checked."""
    ForecastStandIn(key=NEW_KEY).install(xero)


def channel(value):
    return {"type": "conversations_select", "selected_conversation": value}


def form(**overrides) -> dict:
    values = {
        "approval_channel": channel("C0APPROVALS"),
        "notify_channel": channel("C0ALERTS"),
        "approver_users": {"type": "multi_users_select", "selected_users": ["U0APPROVER"]},
        "export_status": {"type": "radio_buttons", "selected_option": {"value": "AUTHORISED"}},
        "forecast_api_key": {"type": "plain_text_input", "value": NEW_KEY},
    }
    for key, value in overrides.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return {block_id: {block_id: element} for block_id, element in values.items()}


async def open_modal(bot, user="U0ADMIN") -> dict:
    await bot.command("settings", user=user)
    call = await bot.slack.wait_for("views.open")
    assert call["trigger_id"].startswith("trigger-cmd")
    return call["view"]


def block(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


async def test_admins_get_a_modal_with_every_setting_and_an_empty_key_field(bot):
    await bot.container.workspace_settings.update(
        TEAM_ID, SettingsChanges(approval_channel="C0APPROVALS", forecast_api_key="fc-stored-key",
                                 approver_users=["U0APPROVER"], account_code="200"), updated_by="U0ADMIN")
    view = await open_modal(bot)
    assert view["callback_id"] == "workspace_settings"
    assert block(view, "approval_channel")["element"]["type"] == "conversations_select"
    assert block(view, "approval_channel")["element"]["initial_conversation"] == "C0APPROVALS"
    assert block(view, "notify_channel")["element"]["type"] == "conversations_select"
    assert block(view, "approver_users")["element"]["initial_users"] == ["U0APPROVER"]
    assert block(view, "export_status")["element"]["initial_option"]["value"] == "DRAFT"
    assert not any(b.get("block_id") in ("account_code", "tax_type") for b in view["blocks"])  # per organisation now
    key = block(view, "forecast_api_key")
    assert "initial_value" not in key["element"] and "fc-stored-key" not in json.dumps(view)
    assert "leave this empty to keep it" in key["hint"]["text"]


async def test_members_cannot_open_settings(bot):
    said = json.dumps((await bot.ask("settings", user="U0MEMBER"))["blocks"])
    assert "Only admins" in said
    assert bot.slack.called("views.open") == []


async def test_saving_stores_the_settings_encrypts_the_key_and_confirms(bot):
    view = await open_modal(bot)
    response = await bot.submit(view, values=form())
    assert response.status == 200 and "errors" not in await response.text()
    confirmation = await bot.slack.wait_for("chat.postEphemeral", lambda c: c["user"] == "U0ADMIN")  # saved after ack
    saved = await bot.container.workspace_settings.get(TEAM_ID)
    assert (saved.approval_channel, saved.notify_channel) == ("C0APPROVALS", "C0ALERTS")
    assert saved.approver_users == ["U0APPROVER"] and saved.export_status == "AUTHORISED"
    assert await bot.container.workspace_settings.forecast_api_key(TEAM_ID) == "fc-new-key-456"
    stored = await bot.storage.workspace_settings.find_one({"_id": TEAM_ID})
    assert "fc-new-key-456" not in json.dumps(stored, default=str)
    assert "settings saved" in confirmation["text"] and "fc-new-key-456" not in json.dumps(confirmation.args)


async def test_an_unknown_channel_gets_an_inline_error_and_nothing_is_saved(bot):
    view = await open_modal(bot)
    response = await bot.submit(view, values=form(notify_channel=channel("C0NOWHERE")))
    answer = await response.json()
    assert answer["response_action"] == "errors" and "notify_channel" in answer["errors"]
    assert "approval_channel" not in answer["errors"]
    assert (await bot.container.workspace_settings.get(TEAM_ID)).notify_channel is None


async def test_a_channel_the_bot_is_not_in_gets_an_inline_error_saying_to_invite_it(bot):
    bot.slack.channels.add("C0OUTSIDE")
    bot.slack.not_joined.add("C0OUTSIDE")
    view = await open_modal(bot)
    response = await bot.submit(view, values=form(approval_channel=channel("C0OUTSIDE")))
    answer = await response.json()
    assert answer["response_action"] == "errors" and "/invite" in answer["errors"]["approval_channel"]
    assert (await bot.container.workspace_settings.get(TEAM_ID)).approval_channel is None


async def test_a_key_is_required_when_none_is_stored(bot):
    view = await open_modal(bot)
    response = await bot.submit(view, values=form(forecast_api_key=None))
    answer = await response.json()
    assert answer["response_action"] == "errors" and "Forecast API key" in answer["errors"]["forecast_api_key"]
    assert (await bot.container.workspace_settings.get(TEAM_ID)).approval_channel is None


async def test_an_empty_key_field_keeps_the_stored_key(bot):
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(forecast_api_key="fc-stored-key"),
                                                  updated_by="U0ADMIN")
    view = await open_modal(bot)
    response = await bot.submit(view, values=form(forecast_api_key={"type": "plain_text_input", "value": ""}))
    assert response.status == 200 and "errors" not in await response.text()
    await bot.slack.wait_for("chat.postEphemeral")
    assert await bot.container.workspace_settings.forecast_api_key(TEAM_ID) == "fc-stored-key"


async def test_an_approver_user_group_can_be_chosen_and_cleared(bot):
    bot.slack.usergroups["S0FINANCE"] = ["U0MEMBER"]
    view = await open_modal(bot)
    options = block(view, "approver_usergroup")["element"]["options"]
    assert [o["value"] for o in options] == ["none", "S0APPROVERS", "S0FINANCE"]  # the sandbox's, and this one
    group = {"type": "static_select", "selected_option": {"value": "S0FINANCE"}}
    await bot.submit(view, values=form(approver_usergroup=group))
    await bot.slack.wait_for("chat.postEphemeral")
    assert (await bot.container.workspace_settings.get(TEAM_ID)).approver_usergroup == "S0FINANCE"
    none = {"type": "static_select", "selected_option": {"value": "none"}}
    await bot.submit(view, values=form(approver_usergroup=none, forecast_api_key=None))
    await bot.slack.wait_for("chat.postEphemeral", lambda c: len(bot.slack.called("chat.postEphemeral")) == 2)
    assert (await bot.container.workspace_settings.get(TEAM_ID)).approver_usergroup is None


async def test_a_submission_from_a_non_admin_is_not_saved(bot):
    view = await open_modal(bot)
    await bot.submit(view, user="U0MEMBER", values=form())
    refusal = await bot.slack.wait_for("chat.postEphemeral", lambda c: c["user"] == "U0MEMBER")
    assert "Only admins" in json.dumps(refusal.args)
    assert (await bot.container.workspace_settings.get(TEAM_ID)).approval_channel is None


async def test_invoices_that_ask_to_be_exported_and_the_digest_are_chosen_in_the_form(bot):
    bot.slack.users["U0ADMIN"] = {"id": "U0ADMIN", "name": "ada", "is_admin": True, "is_owner": True,
                                  "tz": "Pacific/Auckland"}
    view = await open_modal(bot)
    assert [o["value"] for o in block(view, "auto_request_on")["element"]["options"]] == ["APPROVED", "SENT"]
    assert block(view, "digest_hour")["element"]["initial_option"]["value"] == "off"

    response = await bot.submit(view, values=form(
        auto_request_on={"type": "checkboxes", "selected_options": [{"value": "APPROVED"}]},
        digest_hour={"type": "static_select", "selected_option": {"value": "9"}},
        digest_channel=channel("C0ALERTS")))
    assert response.status == 200 and "errors" not in await response.text()

    told = await bot.slack.wait_for("chat.postEphemeral", lambda c: "settings saved" in str(c.get("text")))
    saved = await bot.container.workspace_settings.get(TEAM_ID)
    assert saved.auto_request_on == ["APPROVED"] and saved.digest_hour == 9
    assert saved.digest_tz == "Pacific/Auckland" and saved.digest_channel == "C0ALERTS"
    assert "when an invoice is approved in Forecast" in json.dumps(told["blocks"])
    assert "09:00 (Pacific/Auckland)" in json.dumps(told["blocks"])
    changed = await bot.storage.audit.find_one({"action": "settings_changed"}, sort=[("at", -1)])
    assert "auto_request_on" in changed["details"]["fields"] and "digest_hour" in changed["details"]["fields"]
    assert NEW_KEY not in json.dumps(changed, default=str)

    await bot.command("settings")
    await bot.slack.wait_for("views.open", lambda c: len(bot.slack.called("views.open")) == 2)
    again = bot.slack.called("views.open")[-1]["view"]
    assert [o["value"] for o in block(again, "auto_request_on")["element"]["initial_options"]] == ["APPROVED"]
    assert block(again, "digest_hour")["element"]["initial_option"]["value"] == "9"


async def test_turning_on_asking_by_itself_reads_forecast_at_once_so_the_next_approval_is_asked_for(bot):
    """Without the read at once, an invoice approved before the first periodic read was taken as approved before."""
    view = await open_modal(bot)
    await bot.submit(view, values=form(
        auto_request_on={"type": "checkboxes", "selected_options": [{"value": "APPROVED"}]}))
    await bot.slack.wait_for("chat.postEphemeral", lambda c: "settings saved" in str(c.get("text")))

    for _ in range(200):  # the read is a job: it runs right after the save, not at the next minute's tick
        watched = await bot.storage.forecast_watch.find_one({"_id": TEAM_ID})
        if watched and "statuses" in watched:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("Forecast was not read when asking by itself was turned on")
