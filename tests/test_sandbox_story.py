"""The story a newcomer walks in the sandbox, in a real browser (Debian's chromium driven by Playwright).

Screenshots of each step land in tests/artifacts/story-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.sandbox_stack import start_sandbox_stack, stop_sandbox_stack

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser story needs Debian's chromium at /usr/bin/chromium: `apt-get install -y chromium` "
           "(make test installs it when run as root)")


@pytest.fixture
async def stack(storage):
    running = await start_sandbox_stack(storage)
    yield running
    await stop_sandbox_stack(running)


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = await chromium.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(15_000)
        yield context
        await chromium.close()


class Workspace:
    """One browser tab on the sandbox Slack page, as one user."""

    def __init__(self, page, stack):
        self.page = page
        self.stack = stack

    async def open(self, user: str, channel: str = "C0GENERAL") -> None:
        await self.page.goto(f"{self.stack.plan.workspace_url}?user={user}#{channel}")
        await self.page.locator("#composer-input").wait_for()

    async def type(self, text: str) -> None:
        composer = self.page.locator("#composer-input")
        await composer.fill(text)
        await composer.press("Enter")

    def last_message(self, containing: str):
        return self.page.locator(".message", has_text=containing).last

    async def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"story-{name}.png"))


async def connect_two_organisations(slack: Workspace, browser) -> None:
    await slack.type("/xero connect")
    prompt = slack.last_message("Connect Xero")
    async with browser.expect_page() as consent_tab:
        await prompt.locator(".bk-button", has_text="Connect to Xero").click()
    consent = await consent_tab.value
    await consent.locator("#allow-access").wait_for()
    await consent.locator("#tenant-UK").check()
    await consent.locator("#tenant-US").check()
    await consent.screenshot(path=str(ARTIFACTS / "story-01-consent.png"))
    await consent.locator("#allow-access").click()
    await consent.locator("#connected").wait_for()
    page_text = await consent.locator("#connected").inner_text()
    assert "Demo Company (UK)" in page_text and "Demo Company (US)" in page_text
    await consent.screenshot(path=str(ARTIFACTS / "story-02-connected.png"))
    await consent.close()


async def test_newcomer_connects_lists_and_removes_organisations(stack, browser):
    slack = Workspace(await browser.new_page(), stack)
    await slack.open("U0ADMIN")
    await connect_two_organisations(slack, browser)

    await slack.type("/xero list")
    listing = slack.last_message("Connected Xero organisations")
    await listing.wait_for()
    assert "Demo Company (UK)" in await listing.inner_text()
    assert "Demo Company (US)" in await listing.inner_text()
    await slack.shot("03-list")

    await slack.type("/xero remove")
    picker = slack.last_message("Which organisation")
    await picker.locator(".block", has_text="Demo Company (US)").locator(".bk-button.danger").click()
    modal = slack.page.locator(".modal[data-callback-id=remove_tenant_confirm]")
    await modal.wait_for()
    assert re.search(r"0 invoices, 0 purchase orders, 0 client profiles", await modal.inner_text())
    await slack.shot("04-remove-modal")
    await modal.locator(".modal-submit").click()
    confirmation = slack.last_message("removed")
    await confirmation.wait_for()
    assert "Demo Company (US)" in await confirmation.inner_text()
    await slack.shot("05-removed")

    await slack.type("/xero list")
    listing = slack.last_message("Connected Xero organisations (1)")
    await listing.wait_for()
    assert "Demo Company (US)" not in await listing.inner_text()
    assert_bot_answered_everything(stack)


def assert_bot_answered_everything(stack) -> None:
    """Every request the workspace sent the bot got a 200 in time: no 'dispatch_failed' anywhere."""
    failures = [r for r in stack.slack_state.bot_requests if r.get("status") != 200 or r.get("error")]
    assert failures == []
