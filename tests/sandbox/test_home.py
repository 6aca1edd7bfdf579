"""The sandbox's Slack stand-in and the App Home: opening Home sends a signed app_home_opened to the real bot,
whose views.publish is what the page shows; a Home button reaches the bot as a view action."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.sandbox_stack import start_sandbox_stack, stop_sandbox_stack


@pytest.fixture
async def stack(storage):
    running = await start_sandbox_stack(storage)
    yield running
    await stop_sandbox_stack(running)


async def page(session, stack, path: str, body: dict | None = None) -> dict:
    url = stack.plan.workspace_url + path
    request = session.post(url, json=body) if body is not None else session.get(url)
    async with request as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_opening_home_asks_the_bot_and_shows_what_it_published(stack):
    async with aiohttp.ClientSession() as session:
        before = await page(session, stack, "ui/state?user=U0ADMIN")
        assert before["home"] is None
        opened = await page(session, stack, "ui/home", {"user": "U0ADMIN"})
        assert opened["ok"] is True
        await stack.slack_state.wait_for(lambda state: state.home_views.get("U0ADMIN"))
        snapshot = await page(session, stack, "ui/state?user=U0ADMIN")
    home = snapshot["home"]
    assert home["type"] == "home"
    text = str(home["blocks"])
    assert "Connected organisations" in text and "Settings" in text  # Ada is an admin
    assert stack.slack_state.bot_requests[-1]["kind"] == "app_home_opened"
    assert stack.slack_state.bot_requests[-1]["status"] == 200


async def test_each_person_gets_their_own_home(stack):
    async with aiohttp.ClientSession() as session:
        await page(session, stack, "ui/home", {"user": "U0MEMBER"})
        await stack.slack_state.wait_for(lambda state: state.home_views.get("U0MEMBER"))
        member = (await page(session, stack, "ui/state?user=U0MEMBER"))["home"]
        admin = (await page(session, stack, "ui/state?user=U0ADMIN"))["home"]
    assert admin is None and "Settings" not in str(member["blocks"])
