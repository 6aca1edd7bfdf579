"""Add to Slack with two real bot processes on one database: installed through one, served by both, and a
rotating workspace token refreshed by exactly one of them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from sandbox.server import SIGNING_SECRET, STAND_INS
from sandbox.slack import SLACK_INSTALLS
from sandbox.slack.installs import CLIENT_ID, CLIENT_SECRET
from services.platform.crypto import generate_key
from services.platform.storage import free_port
from tests.support.bot_process import BotProcess, eventually, new_bot
from tests.support.signing import command_body, signed_headers

GLOBEX = "T0GLOBEX"


def distributed(stand_ins) -> dict[str, str]:
    return {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "SLACK_REDIRECT_URI": f"{stand_ins.plan.bot_url}/slack/oauth_redirect",
            "SLACK_AUTHORIZE_URL": f"{stand_ins.plan.sandbox_url}/slack/oauth/v2/authorize"}


@pytest.fixture
async def two_bots(stand_ins, mongo_uri, storage, tmp_path):
    key = generate_key()
    first = new_bot(stand_ins, mongo_uri, storage.db.name, tmp_path, name="first", key=key)
    second = new_bot(stand_ins, mongo_uri, storage.db.name, tmp_path, name="second", key=key, port=free_port())
    await asyncio.gather(first.start(**distributed(stand_ins)), second.start(**distributed(stand_ins)))
    yield first, second
    first.stop()
    second.stop()


async def add_to_slack(stand_ins, bot: BotProcess, team_id: str) -> None:
    """The install page, Allow on the sandbox's Slack consent page for `team_id`, and back to the bot."""
    http = stand_ins.http
    async with http.get(f"{bot.url}/slack/install") as page:
        html = await page.text()
        cookie = page.cookies["slack-app-oauth-state"].value
    url = html.split("id='add-to-slack' href='", 1)[1].split("'", 1)[0].replace("&amp;", "&")
    form = dict(parse_qsl(urlsplit(url).query))
    async with http.post(url.split("?")[0], data={**form, "team": team_id, "decision": "allow"},
                         allow_redirects=False) as consent:
        back = consent.headers["Location"]
    async with http.get(back, headers={"Cookie": f"slack-app-oauth-state={cookie}"}) as done:
        assert done.status == 200 and "Ledgerline is installed in Globex Finance" in await done.text()


async def help_in(stand_ins, bot: BotProcess, team_id: str) -> int:
    body = command_body("help", user_id="U0ADMIN", team_id=team_id, channel_id="C0GENERAL",
                        response_url=f"{stand_ins.plan.sandbox_url}/slack/response/none")
    async with stand_ins.http.post(f"{bot.url}/slack/events", data=body,
                                   headers=signed_headers(body, secret=SIGNING_SECRET)) as answer:
        return answer.status


async def test_a_rotating_token_is_refreshed_once_by_two_processes(stand_ins, two_bots, storage):
    first, second = two_bots
    installs = stand_ins.app[STAND_INS].slack[SLACK_INSTALLS]
    installs.rotating = True
    await add_to_slack(stand_ins, first, GLOBEX)
    assert await storage.slack_bots.count_documents({"team_id": GLOBEX}) == 1
    soon = datetime.now(UTC) + timedelta(minutes=1)  # inside the refresh margin: the next request refreshes
    await storage.slack_bots.update_one({"team_id": GLOBEX}, {"$set": {"bot_token_expires_at": soon}})

    statuses = await asyncio.gather(*(help_in(stand_ins, bot, GLOBEX) for bot in (first, second) * 3))

    assert statuses == [200] * 6
    assert installs.refreshes == 1

    async def rotated():
        row = await storage.slack_bots.find_one({"team_id": GLOBEX})
        return row["version"] == 2

    await eventually(rotated, timeout=10)
