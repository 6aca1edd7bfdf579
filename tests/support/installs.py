"""Add to Slack through the real routes: the bot's install page, Slack's consent (the stand-in's codes), back."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

from tests.support.harness import BotHarness, start_harness
from tests.support.slack_standin import CLIENT_ID, CLIENT_SECRET

STATE_COOKIE = "slack-app-oauth-state"
REDIRECT_URI = "http://localhost:3000/slack/oauth_redirect"


def distributed_settings(**overrides) -> dict:
    return {"slack_client_id": CLIENT_ID, "slack_client_secret": CLIENT_SECRET, "slack_bot_token": None,
            "slack_redirect_uri": REDIRECT_URI, **overrides}


async def start_distributed(storage, **overrides) -> BotHarness:
    return await start_harness(storage, **distributed_settings(**overrides))


@dataclass
class InstallPage:
    status: int
    html: str
    authorize_url: str
    state: str
    cookie: str


async def open_install_page(bot: BotHarness) -> InstallPage:
    response = await bot.client.get("/slack/install")
    html = await response.text()
    url = html.split("id='add-to-slack' href='", 1)[1].split("'", 1)[0].replace("&amp;", "&")
    state = parse_qs(urlparse(url).query)["state"][0]
    cookie = response.cookies[STATE_COOKIE].value
    return InstallPage(response.status, html, url, state, cookie)


async def come_back(bot: BotHarness, query: dict, *, cookie: str | None):
    headers = {"Cookie": f"{STATE_COOKIE}={cookie}"} if cookie else {}
    bot.client.session.cookie_jar.clear()  # only what this browser sends
    response = await bot.client.get("/slack/oauth_redirect", params=query, headers=headers)
    return response.status, await response.text()


async def install(bot: BotHarness, team_id: str, *, team_name: str = "", user: str = "U0ADMIN",
                  enterprise_id: str | None = None, org_wide: bool = False, rotating: bool = False) -> str:
    """A full install of the app into `team_id` (or org-wide into `enterprise_id`); returns its bot token."""
    code = f"code-{team_id}-{len(bot.slack.codes)}-{len(bot.slack.calls)}"
    token = bot.slack.grant(code, team_id, team_name=team_name, user=user, enterprise_id=enterprise_id,
                            org_wide=org_wide, rotating=rotating)
    page = await open_install_page(bot)
    status, html = await come_back(bot, {"code": code, "state": page.state}, cookie=page.cookie)
    assert status == 200 and "id=\"installed\"" in html, html
    return token
