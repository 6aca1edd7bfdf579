"""The story a newcomer walks in the sandbox, in a real browser (Debian's chromium driven by Playwright).

Screenshots of each step land in tests/artifacts/story-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.paths import ARTIFACTS
from tests.support.sandbox_stack import start_sandbox_stack, stop_sandbox_stack

CHROMIUM = Path("/usr/bin/chromium")

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


CHANNEL_NAMES = {"C0GENERAL": "general", "C0APPROVALS": "finance-approvals", "C0ALERTS": "finance-alerts"}


class Workspace:
    """One browser tab on the sandbox Slack page, as one user."""

    def __init__(self, page, stack):
        self.page = page
        self.stack = stack

    async def open(self, user: str, channel: str = "C0GENERAL") -> None:
        await self.page.goto(f"{self.stack.plan.workspace_url}?user={user}#{channel}")
        await self.page.locator(f".channel-link[data-channel={channel}]").click()
        await self.page.locator("#channel-title", has_text=CHANNEL_NAMES[channel]).wait_for()

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


async def export_as_member(member: Workspace, reference: str) -> None:
    await member.type(f"/xero export {reference}")
    answer = member.page.locator(".message.ephemeral", has_text=reference).filter(has_text="Sent for approval")
    await answer.last.wait_for()


def approval_message(approver: Workspace, reference: str):
    return approver.page.locator(".message", has_text=reference).filter(
        has=approver.page.locator(".bk-button[data-action-id=export_approve]")).last


async def approve_first_export_choosing_the_organisation(stack, browser, approver: Workspace) -> None:
    await approver.open("U0APPROVER", "C0APPROVALS")
    request = approval_message(approver, "INV-101")
    await request.wait_for()
    await approver.shot("06-approval-request")
    await request.locator(".bk-select[data-action-id=export_pick_tenant] .bk-select-trigger").click()
    await approver.page.locator(".bk-option", has_text="Demo Company (UK)").click()
    await request.locator(".bk-button[data-action-id=export_approve]").click()
    result = approver.page.locator(".message", has_text="Exported to").filter(has_text="INV-101").last
    await result.wait_for()
    await approver.shot("07-exported")

    async with browser.expect_page() as xero_tab:
        await result.locator(".bk-button[data-action-id=export_open_xero]").click()
    xero_page = await xero_tab.value
    row = xero_page.locator("#invoices tr[data-invoice-number='INV-101']")
    await row.wait_for()
    assert "Demo Company (UK)" in await row.inner_text()
    await xero_page.screenshot(path=str(ARTIFACTS / "story-08-invoice-in-xero.png"), full_page=True)
    await xero_page.close()
    uk = stack.xero_state.tenant_id("Demo Company (UK)")
    assert [i["InvoiceNumber"] for i in stack.xero_state.invoices(uk)].count("INV-101") == 1


async def record_a_payment_in_xero(stack, browser, approver: Workspace) -> None:
    """The bookkeeper approves INV-101 in Xero and records part of its payment: Forecast and Slack hear of it."""
    xero_page = await browser.new_page()
    await xero_page.goto(f"{stack.plan.sandbox_url}/xero/")
    assert "intent to receive: passed" in await xero_page.locator("#webhook-status").inner_text()
    row = xero_page.locator("#bookkeeping-invoices tr[data-invoice-number='INV-101']")
    await row.locator("button.approve").click()
    await row.locator("form.record-payment input[name=amount]").fill("500.00")
    await row.locator("button.record").click()
    await row.locator("li[data-payment-id]").wait_for()
    await xero_page.locator("#bookkeeping").screenshot(path=str(ARTIFACTS / "story-08a-payment-in-xero.png"))

    forecast_url = f"{stack.plan.sandbox_url}/forecast/api/v1/"
    for _ in range(150):  # up to 30 s: the sync waits its turn behind Xero's per-minute limit
        await xero_page.goto(forecast_url)
        if await xero_page.locator("td", has_text="Xero payment").count():
            break
        await xero_page.wait_for_timeout(200)
    payment_row = xero_page.locator("tr", has=xero_page.locator("td", has_text="Xero payment"))
    assert "500" in await payment_row.inner_text() and "INV-101" in await payment_row.inner_text()
    await xero_page.screenshot(path=str(ARTIFACTS / "story-08b-payment-in-forecast.png"), full_page=True)
    await xero_page.close()

    await approver.open("U0APPROVER", "C0APPROVALS")
    reply = approver.page.locator(".message.thread-reply", has_text="A payment of GBP 500.00")
    await reply.wait_for()
    status = approver.page.locator(".message", has_text="Part paid 500.00 of").first
    await status.wait_for()
    await approver.shot("08c-payment-in-slack")
    assert stack.xero_state.spec_violations == []  # the sync's reads were valid for Xero's spec too


async def make_the_next_invoice_call_fail(browser, stack) -> None:
    """The README's fault walk: the form's defaults (a 400 on the next invoice create), only the words typed."""
    xero_page = await browser.new_page()
    await xero_page.goto(f"{stack.plan.sandbox_url}/xero/")
    form = xero_page.locator("#fault-form")
    await form.locator("input[name=message]").fill("Account code '999' is not a valid code for this document.")
    await xero_page.locator("#inject-fault").click()
    await xero_page.locator("#pending-faults li[data-fault-kind=validation]").wait_for()
    await xero_page.close()


async def retry_from_the_notification(approver: Workspace) -> None:
    await approver.open("U0APPROVER", "C0ALERTS")
    notice = approver.page.locator(".message", has_text="INV-109").filter(
        has=approver.page.locator(".bk-button[data-action-id=export_retry]")).last
    await notice.wait_for()
    text = await notice.inner_text()
    assert "Account code '999' is not a valid code" in text and "Demo Company (UK)" in text
    await approver.shot("09-failure-notification")
    await notice.locator(".bk-button[data-action-id=export_retry]").click()
    await approver.page.locator(".message", has_text="Exported to").filter(has_text="INV-109").last.wait_for()
    await approver.shot("10-retried")


async def test_newcomer_walks_the_whole_story(stack, browser):
    slack = Workspace(await browser.new_page(), stack)
    await slack.open("U0ADMIN")
    await connect_two_organisations(slack, browser)

    await slack.type("/xero list")
    listing = slack.last_message("Connected Xero organisations")
    await listing.wait_for()
    assert "Demo Company (UK)" in await listing.inner_text()
    assert "Demo Company (US)" in await listing.inner_text()
    await slack.shot("03-list")

    member = Workspace(await browser.new_page(), stack)
    await member.open("U0MEMBER")
    await export_as_member(member, "INV-101")
    approver = Workspace(await browser.new_page(), stack)
    await approve_first_export_choosing_the_organisation(stack, browser, approver)
    await record_a_payment_in_xero(stack, browser, approver)

    await make_the_next_invoice_call_fail(browser, stack)  # as the README says: before the export is asked for
    await export_as_member(member, "INV-109")  # its pre-flight reads go through; the create meets the fault
    await approver.open("U0APPROVER", "C0APPROVALS")
    request = approval_message(approver, "INV-109")
    await request.locator(".bk-button[data-action-id=export_approve]").click()
    await retry_from_the_notification(approver)
    uk = stack.xero_state.tenant_id("Demo Company (UK)")
    assert [i["InvoiceNumber"] for i in stack.xero_state.invoices(uk)].count("INV-109") == 1

    await slack.type("/xero remove")
    picker = slack.last_message("Which organisation")
    await picker.locator(".block", has_text="Demo Company (US)").locator(".bk-button.danger").click()
    modal = slack.page.locator(".modal[data-callback-id=remove_tenant_confirm]")
    await modal.wait_for()
    assert re.search(r"0 invoices, 0 purchase orders, 0 clients", await modal.inner_text())
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
    await remove_and_reconnect_then_export_again(stack, browser, slack, member)
    await month_end_in_one_go(stack, member, approver)
    assert_bot_answered_everything(stack)


async def remove_and_reconnect_then_export_again(stack, browser, slack: Workspace, member: Workspace) -> None:
    """Ada removes Demo Company (UK), where INV-101 is, and connects it again; INV-101 is still known there."""
    await slack.type("/xero remove Demo Company (UK)")
    modal = slack.page.locator(".modal[data-callback-id=remove_tenant_confirm]")
    await modal.wait_for()
    assert "Reconnecting later is safe" in await modal.inner_text()
    await modal.locator(".modal-submit").click()
    await slack.last_message("removed Demo Company (UK)").wait_for()

    await slack.type("/xero connect")
    prompt = slack.last_message("Connect Xero")
    async with browser.expect_page() as consent_tab:
        await prompt.locator(".bk-button", has_text="Connect to Xero").click()
    consent = await consent_tab.value
    await consent.locator("#allow-access").wait_for()
    await consent.locator("#tenant-UK").check()
    await consent.locator("#allow-access").click()
    await consent.locator("#connected").wait_for()
    await consent.close()

    await member.type("/xero export INV-101")
    answer = member.page.locator(".message.ephemeral", has_text="INV-101").filter(has_text="already in")
    await answer.last.wait_for()
    assert "Demo Company (UK)" in await answer.last.inner_text()
    await member.shot("05b-already-exported-after-reconnect")
    uk = stack.xero_state.tenant_id("Demo Company (UK)")
    us = stack.xero_state.tenant_id("Demo Company (US)")
    assert [i["InvoiceNumber"] for i in stack.xero_state.invoices(uk)].count("INV-101") == 1
    assert "INV-101" not in [i["InvoiceNumber"] for i in stack.xero_state.invoices(us)]


async def month_end_in_one_go(stack, member: Workspace, approver: Workspace) -> None:
    """Max asks for every unexported invoice; Grace approves them all from one message."""
    await member.type("/xero export unexported")
    await member.page.locator(".message.ephemeral", has_text="for approval").last.wait_for()
    await approver.open("U0APPROVER", "C0APPROVALS")
    batch = approver.page.locator(".message", has_text="INV-102").filter(
        has=approver.page.locator(".bk-button[data-action-id=batch_approve_all]")).last
    await batch.wait_for()
    assert "INV-101" not in await batch.inner_text()  # exported earlier: not asked for again
    await approver.shot("09-month-end-batch")
    await batch.locator(".bk-button[data-action-id=batch_approve_all]").click()
    done = approver.page.locator(".message", has_text="Exported").filter(has_text="created as").last
    await done.wait_for()
    await approver.shot("10-month-end-exported")
    uk = stack.xero_state.tenant_id("Demo Company (UK)")
    numbers = [i["InvoiceNumber"] for i in stack.xero_state.invoices(uk)]
    assert numbers.count("INV-102") == 1 and numbers.count("INV-101") == 1


def assert_bot_answered_everything(stack) -> None:
    """Every request the workspace sent the bot got a 200 in time: no 'dispatch_failed' anywhere."""
    failures = [r for r in stack.slack_state.bot_requests if r.get("status") != 200 or r.get("error")]
    assert failures == []
