"""Issue 19 in a real browser (Debian's chromium): an invoice approved in Forecast asks for approval by itself, a
rule needs two approvers above an amount, and a credit note allocated in Xero reaches the approval message.

Its screenshots land in tests/artifacts/story-finance-*.png.
"""

from __future__ import annotations

import asyncio

from tests.sandbox.test_story import (  # noqa: F401 - fixtures
    ARTIFACTS,
    Workspace,
    approval_message,
    assert_bot_answered_everything,
    browser,
    export_as_member,
    pytestmark,
    stack,
)


async def connect_the_uk_organisation(slack: Workspace, browser) -> None:
    await slack.type("/xero connect")
    prompt = slack.last_message("Connect Xero")
    async with browser.expect_page() as consent_tab:
        await prompt.locator(".bk-button", has_text="Connect to Xero").click()
    consent = await consent_tab.value
    await consent.locator("#tenant-UK").check()
    await consent.locator("#tenant-US").uncheck()  # one organisation: every invoice goes there
    await consent.locator("#allow-access").click()
    await consent.locator("#connected").wait_for()
    await consent.close()


async def ask_by_itself_and_need_two_approvers_above(slack: Workspace, stack, amount: str) -> None:
    """Ada ticks "when an invoice is approved in Forecast" and adds a rule: above the amount, two approvers."""
    uk = stack.xero_state.tenant_id("Demo Company (UK)")
    await slack.type("/xero settings")
    modal = slack.page.locator(".modal[data-callback-id=workspace_settings]")
    await modal.locator(f".bk-select[data-action-id='account_code|{uk}']").wait_for()  # the form is complete
    await modal.locator(".bk-choices[data-action-id=auto_request_on] .bk-choice",
                        has_text="when an invoice is approved in Forecast").locator("input").check()
    await modal.locator(".bk-text-input[data-action-id='rule_amount|0']").fill(amount)
    await modal.locator(".bk-choices[data-action-id='rule_two|0'] .bk-choice",
                        has_text="Two different people must approve").locator("input").check()
    await modal.locator(".bk-text-input[data-action-id='rule_amount|0']").scroll_into_view_if_needed()
    await slack.shot("finance-01-settings")
    await modal.locator(".modal-submit").click()
    saved = slack.last_message("Xero settings saved")
    await saved.wait_for()
    text = await saved.inner_text()
    assert "when an invoice is approved in Forecast" in text
    await slack.shot("finance-02-settings-saved")


async def approve_in_forecast(stack, browser, reference: str) -> None:
    """Fiona approves the invoice on Forecast's invoice page, after the bot has read what Forecast held."""
    for _ in range(200):  # saving the settings read Forecast at once: the approval below is news to the bot
        watched = await stack.container.storage.forecast_watch.find_one({})
        if watched and "statuses" in watched:
            break
        await asyncio.sleep(0.05)
    forecast = await browser.new_page()
    await forecast.goto(f"{stack.plan.sandbox_url}/forecast/api/v1/")
    form = forecast.locator(f"form.invoice-actions[data-reference='{reference}']")
    await form.locator("select[name=person]").select_option(label="Fiona Finance")
    await form.locator("button[value=approved]").click()
    row = forecast.locator("tr", has=forecast.locator(f"form.invoice-actions[data-reference='{reference}']"))
    await row.locator("td", has_text="APPROVED").wait_for()
    await forecast.screenshot(path=str(ARTIFACTS / "story-finance-03-approved-in-forecast.png"), full_page=True)
    await forecast.close()


async def see_the_request_posted_by_itself(approver: Workspace, reference: str) -> None:
    await approver.open("U0APPROVER", "C0APPROVALS")
    request = approver.page.locator(".message", has_text="Asked for by itself").filter(has_text=reference).last
    await request.wait_for(timeout=30_000)  # the next read of Forecast, within FORECAST_WATCH_MINUTES (6 s here)
    text = await request.inner_text()
    assert f"{reference} was approved in Forecast by Fiona Finance" in text
    await approver.shot("finance-04-asked-by-itself")


async def two_approvers_approve(approver: Workspace, admin: Workspace, reference: str) -> None:
    """Grace's click is recorded and shown; her second click moves nothing; Ada's click exports it."""
    request = approval_message(approver, reference)
    await request.wait_for()
    text = await request.inner_text()
    assert "above GBP 1,000.00: two different approvers" in text and "2 approvals needed" in text
    await request.locator(".bk-button[data-action-id=export_approve]").click()
    so_far = approval_message(approver, reference).filter(has_text="Approved so far: @Grace Approver (1 of 2 needed)")
    await so_far.wait_for()
    await approver.shot("finance-05-first-approval")
    await so_far.locator(".bk-button[data-action-id=export_approve]").click()
    await approver.page.locator(".message.ephemeral", has_text=f"You already approved {reference}").last.wait_for()
    await approver.shot("finance-06-same-approver-again")

    await admin.open("U0ADMIN", "C0APPROVALS")
    second = approval_message(admin, reference)
    await second.locator(".bk-button[data-action-id=export_approve]").click()
    exported = admin.page.locator(".message", has_text="Exported to").filter(has_text=reference).last
    await exported.wait_for()
    assert "Approved by @Grace Approver and @Ada Admin" in await exported.inner_text()
    await admin.shot("finance-07-second-approval-exported")


async def credit_it_in_xero(stack, browser, reference: str, amount: str) -> None:
    """The bookkeeper approves the invoice in Xero, then makes and allocates a credit note to it."""
    xero = await browser.new_page()
    await xero.goto(f"{stack.plan.sandbox_url}/xero/")
    row = xero.locator(f"#bookkeeping-invoices tr[data-invoice-number='{reference}']")
    await row.locator("button.approve").click()
    await row.locator("form.apply-credit select[name=kind]").select_option("credit_note")
    await row.locator("form.apply-credit input[name=amount]").fill(amount)
    await row.locator("button.credit").click()
    credit = xero.locator("#bookkeeping-credits tr[data-credit-number]").first
    await credit.wait_for()
    assert reference in await credit.inner_text()
    await xero.locator("#bookkeeping").screenshot(path=str(ARTIFACTS / "story-finance-08-credit-in-xero.png"))
    await xero.close()


async def see_the_credit_in_slack(approver: Workspace, reference: str, amount: str) -> None:
    await approver.open("U0APPROVER", "C0APPROVALS")
    reply = approver.page.locator(".message.thread-reply", has_text=f"of GBP {amount} was applied to {reference}")
    await reply.wait_for(timeout=30_000)  # the webhook's sync waits its turn behind Xero's per-minute limit
    assert "Credit note CN-" in await reply.inner_text()
    status = approver.page.locator(".message", has_text=f"Credited {amount} of GBP").filter(has_text=reference)
    await status.first.wait_for()
    await approver.shot("finance-09-credit-in-slack")


async def test_an_invoice_asks_by_itself_two_approvers_export_another_and_a_credit_note_flows_back(stack, browser):
    admin = Workspace(await browser.new_page(), stack)
    await admin.open("U0ADMIN")
    await connect_the_uk_organisation(admin, browser)
    await ask_by_itself_and_need_two_approvers_above(admin, stack, "GBP 1000")

    await approve_in_forecast(stack, browser, "INV-108")
    approver = Workspace(await browser.new_page(), stack)
    await see_the_request_posted_by_itself(approver, "INV-108")

    member = Workspace(await browser.new_page(), stack)
    await member.open("U0MEMBER")
    await export_as_member(member, "INV-109")  # GBP 2,184.00: above the rule's amount
    await approver.open("U0APPROVER", "C0APPROVALS")
    await two_approvers_approve(approver, admin, "INV-109")

    await credit_it_in_xero(stack, browser, "INV-109", "184.00")
    await see_the_credit_in_slack(approver, "INV-109", "184.00")

    uk = stack.xero_state.tenant_id("Demo Company (UK)")
    assert [i["InvoiceNumber"] for i in stack.xero_state.invoices(uk)].count("INV-109") == 1
    assert_bot_answered_everything(stack)
