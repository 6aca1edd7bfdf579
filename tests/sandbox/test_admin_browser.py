"""The admin's side in a real browser (Debian's chromium): per-organisation settings pickers and the App Home.

Its screenshots land in tests/artifacts/; with UPDATE_DOCS_IMAGES=1 they replace the README's
(docs/images/settings-form.png, docs/images/home-tab.png).
"""

from __future__ import annotations

import os

from tests.sandbox.test_story import (  # noqa: F401 - fixtures
    ARTIFACTS,
    Workspace,
    assert_bot_answered_everything,
    browser,
    connect_two_organisations,
    export_as_member,
    pytestmark,
    stack,
)
from tests.support.paths import ROOT

DOCS_IMAGES = (ROOT / "docs" / "images" if os.environ.get("UPDATE_DOCS_IMAGES") == "1"
               else ARTIFACTS)


async def choose_settings_for_the_uk_organisation(slack: Workspace, stack) -> None:
    uk = stack.xero_state.tenant_id("Demo Company (UK)")
    await slack.type("/xero settings")
    modal = slack.page.locator(".modal[data-callback-id=workspace_settings]")
    account = modal.locator(f".bk-select[data-action-id='account_code|{uk}']")
    await account.wait_for()  # filled in from Xero after the form opened
    await account.locator(".bk-select-trigger").click()
    await slack.page.locator(".bk-option", has_text="260 · Other Revenue").click()
    tax = modal.locator(f".bk-select[data-action-id='tax_type|{uk}']")
    await tax.locator(".bk-select-trigger").click()
    await slack.page.locator(".bk-menu .bk-option", has_text="No VAT").first.click()
    await slack.page.screenshot(path=str(DOCS_IMAGES / "settings-form.png"))
    await modal.locator(".modal-submit").click()
    saved = slack.last_message("Xero settings saved")
    await saved.wait_for()
    text = await saved.inner_text()
    assert "Demo Company (UK)" in text and "260 Other Revenue" in text
    await slack.shot("11-settings-saved")


async def approve_from_home(approver: Workspace) -> None:
    await approver.page.goto(f"{approver.stack.plan.workspace_url}?user=U0APPROVER#HOME")
    home = approver.page.locator(".home-tab")
    approve = home.locator(".bk-button[data-action-id=home_approve]")
    await approve.wait_for()
    assert "Waiting for your approval" in await home.inner_text() and "INV-102" in await home.inner_text()
    await home.locator(".bk-select[data-action-id=home_pick_tenant] .bk-select-trigger").click()
    await approver.page.locator(".bk-option", has_text="Demo Company (UK)").click()
    await approver.page.screenshot(path=str(DOCS_IMAGES / "home-tab.png"), full_page=True)
    await approve.click()
    await home.locator(".block", has_text="INV-102").filter(has_text="in Xero").wait_for()
    await approver.shot("12-home-after-approve")


async def test_admin_chooses_accounts_per_organisation_and_approves_from_home(stack, browser):
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.mkdir(exist_ok=True)
    slack = Workspace(await browser.new_page(), stack)
    await slack.open("U0ADMIN")
    await connect_two_organisations(slack, browser)
    await choose_settings_for_the_uk_organisation(slack, stack)

    member = Workspace(await browser.new_page(), stack)
    await member.open("U0MEMBER")
    await export_as_member(member, "INV-102")
    approver = Workspace(await browser.new_page(), stack)
    await approve_from_home(approver)

    invoices = [i for org in ("Demo Company (UK)", "Demo Company (US)")
                for i in stack.xero_state.invoices(stack.xero_state.tenant_id(org)) if i["InvoiceNumber"] == "INV-102"]
    assert len(invoices) == 1
    assert assert_bot_answered_everything(stack) is None
