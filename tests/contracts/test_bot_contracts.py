"""What the bot sends to Xero's identity API, and its Slack manifest, match the official contracts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.contracts import validate_slack_manifest, validate_xero_identity_request
from tests.support.xero_identity import UK, UK_TENANT, connect_organisations, identity_for

ROOT = Path(__file__).resolve().parents[2]


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


async def test_identity_requests_match_xeros_identity_spec(bot, xero):
    await connect_organisations(bot, xero, tenants=(UK,))
    await bot.click("remove_tenant_open", UK_TENANT)
    view = (await bot.slack.wait_for("views.open"))["view"]
    await bot.submit(view)
    await bot.slack.wait_for("chat.postEphemeral")
    requests = [c for c in identity_for(xero).calls if c.path.startswith("/connections")]
    assert [c.method for c in requests] == ["GET", "DELETE"]
    for call in requests:
        validate_xero_identity_request(call.method, call.url, call.headers)


def test_a_request_without_bearer_token_fails_the_identity_contract():
    with pytest.raises(AssertionError):
        validate_xero_identity_request("GET", "https://api.xero.com/connections", {})


def test_manifest_is_valid_for_slacks_manifest_schema():
    validate_slack_manifest(manifest())


def test_the_app_and_its_bot_user_have_a_name_of_their_own_without_xero():
    # Xero's partner branding rules forbid "Xero" in an app's name; the /xero command is fine.
    data = manifest()
    names = [data["display_information"]["name"], data["features"]["bot_user"]["display_name"]]
    assert all("xero" not in name.lower() for name in names), names


def test_every_invite_hint_names_the_bot_user_people_will_find_in_slack():
    import re

    bot_name = manifest()["features"]["bot_user"]["display_name"]
    hints = set()
    for folder in ("bot", "handlers", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            hints |= set(re.findall(r"/invite @([A-Za-z0-9_.-]+)", path.read_text()))
    assert hints == {bot_name}


def test_manifest_declares_the_command_interactivity_and_only_needed_scopes():
    data = manifest()
    command = data["features"]["slash_commands"][0]
    assert command["command"] == "/xero" and command["usage_hint"]
    assert data["settings"]["interactivity"]["is_enabled"] is True
    interactivity = data["settings"]["interactivity"]
    urls = {command["url"], interactivity["request_url"], interactivity["message_menu_options_url"]}
    assert len({u.split("/")[2] for u in urls}) == 1  # one placeholder host
    assert set(data["oauth_config"]["scopes"]["bot"]) <= {
        "commands", "chat:write", "users:read", "usergroups:read", "channels:read", "groups:read",
        "channels:history", "groups:history", "im:history", "im:write"}


# Which bot scope each Web API method the bot calls needs (api.slack.com/methods).
SCOPE_OF_METHOD = {
    "chat_postMessage": "chat:write", "chat_postEphemeral": "chat:write", "chat_update": "chat:write",
    "users_info": "users:read", "usergroups_list": "usergroups:read", "usergroups_users_list": "usergroups:read",
    "conversations_info": "channels:read", "views_open": None, "views_update": None, "views_push": None,
    "views_publish": None,  # App Home: no scope, but the manifest enables the Home tab and app_home_opened
    "chat_getPermalink": None,
    # find a message whose post outlived the process that made it (bot/slack_gateway.py `post_once`); a DM's
    # history needs im:history, its channel id conversations.open (im:write)
    "conversations_history": "channels:history", "conversations_replies": "channels:history",
    "conversations_open": "im:write",
}


def test_manifest_grants_every_scope_the_bot_code_needs():
    import re

    called = set()
    for folder in ("bot", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            methods = r"\.((?:chat|users|usergroups|conversations|views)_[a-zA-Z_]+)\("
            called |= set(re.findall(methods, path.read_text()))
            by_name = r'_call\("((?:chat|users|usergroups|conversations|views)\.[a-zA-Z.]+)"'  # the Slack gateway
            called |= {name.replace(".", "_") for name in re.findall(by_name, path.read_text())}
    unknown = called - SCOPE_OF_METHOD.keys()
    assert not unknown, f"add the scope of {unknown} to SCOPE_OF_METHOD and to manifest.yml"
    needed = {SCOPE_OF_METHOD[m] for m in called} - {None}
    if called & {"conversations_history", "conversations_replies"}:  # private channels and DMs are read too
        needed |= {"groups:history", "im:history"}
    assert needed <= set(manifest()["oauth_config"]["scopes"]["bot"])
