"""In a real browser (Debian's chromium): a waiting approval message redrawn once its client is linked, and the
requester's DM with the bot, whose link opens the approval message.

Its screenshots land in tests/artifacts/story-dm-*.png.
"""

from __future__ import annotations

from tests.sandbox.test_story import (  # noqa: F401 - fixtures
    ARTIFACTS,
    Workspace,
    approval_message,
    assert_bot_answered_everything,
    browser,
    connect_two_organisations,
    export_as_member,
    pytestmark,
    stack,
)

PICKER = ".bk-select[data-action-id=export_pick_tenant]"


async def request_separately(member: Workspace, references: list[str]) -> None:
    """Max asks for each invoice of the same client on its own: one approval message each."""
    for reference in references:
        await export_as_member(member, reference)


async def approve_choosing(approver: Workspace, reference: str, organisation: str) -> None:
    request = approval_message(approver, reference)
    await request.locator(f"{PICKER} .bk-select-trigger").click()
    await approver.page.locator(".bk-option", has_text=organisation).click()
    await request.locator(".bk-button[data-action-id=export_approve]").click()
    await approver.page.locator(".message", has_text="Exported to").filter(has_text=reference).last.wait_for()


async def test_a_waiting_request_is_redrawn_after_its_client_is_linked_and_the_requester_hears_in_a_dm(
        stack, browser):
    admin = Workspace(await browser.new_page(), stack)
    await admin.open("U0ADMIN")
    await connect_two_organisations(admin, browser)

    member = Workspace(await browser.new_page(), stack)
    await member.open("U0MEMBER")
    await request_separately(member, ["INV-101", "INV-102"])  # both Acme Corporation, linked to neither

    approver = Workspace(await browser.new_page(), stack)
    await approver.open("U0APPROVER", "C0APPROVALS")
    first, second = approval_message(approver, "INV-101"), approval_message(approver, "INV-102")
    await first.locator(PICKER).wait_for()
    await second.locator(PICKER).wait_for()
    first_ts = await first.get_attribute("data-ts")
    second_ts = await second.get_attribute("data-ts")
    await approver.shot("dm-01-two-requests-with-pickers")

    await approve_choosing(approver, "INV-101", "Demo Company (UK)")
    redrawn = approver.page.locator(f".message[data-ts='{second_ts}']")
    await redrawn.locator(PICKER).wait_for(state="detached")  # the client is linked now: no choice left
    text = await redrawn.inner_text()
    assert "INV-102" in text and "Demo Company (UK)" in text and "Demo Company (US)" not in text
    assert await redrawn.locator(".bk-button[data-action-id=export_approve]").count() == 1
    await approver.shot("dm-02-second-request-redrawn")

    await member.page.locator(".channel-link[data-channel=D0MEMBER]").click()
    await member.page.locator("#channel-title", has_text="Ledgerline").wait_for()
    dm = member.page.locator(".message", has_text="Your export of INV-101 is in Xero").last
    await dm.wait_for()
    assert "Demo Company (UK)" in await dm.inner_text()
    link = dm.locator("a", has_text="approval message")
    assert (await link.get_attribute("href") or "").endswith(f"#C0APPROVALS/p{first_ts.replace('.', '')}")
    await member.shot("dm-03-requester-dm")
    async with browser.expect_page() as approval_tab:
        await link.click()
    opened = await approval_tab.value
    await opened.locator("#channel-title", has_text="finance-approvals").wait_for()
    linked = opened.locator(f".message.focused[data-ts='{first_ts}']")
    await linked.wait_for()
    assert "INV-101" in await linked.inner_text()
    await opened.screenshot(path=str(ARTIFACTS / "story-dm-04-approval-message-from-the-link.png"))
    await opened.close()

    uk = stack.xero_state.tenant_id("Demo Company (UK)")
    assert [i["InvoiceNumber"] for i in stack.xero_state.invoices(uk)].count("INV-101") == 1
    assert_bot_answered_everything(stack)
