"""Browser smoke test of the sandbox Slack page: Playwright driving Debian's chromium.

Screenshots land in tests/artifacts/ (slack-channel.png, slack-modal.png, slack-modal-errors.png).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.sandbox.test_slack import FakeBot, start_sandbox, stop_sandbox
from tests.support.paths import ARTIFACTS

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="browser test needs Debian's chromium at /usr/bin/chromium "
                                       "(apt-get install -y chromium)")

INVOICE_BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": ":receipt: Invoice INV-0042 needs approval"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Acme Ltd* owes *£1,250.00*, due _31 Jan_.\n"
                                 "Raised by <@U0ADMIN> in <#C0APPROVALS>. <https://example.com/inv/42|Open in Xero>"},
     "fields": [{"type": "mrkdwn", "text": "*Status*\n`DRAFT`"}, {"type": "mrkdwn", "text": "*Project*\nWebsite"}],
     "accessory": {"type": "overflow", "action_id": "more", "options": [
         {"text": {"type": "plain_text", "text": "Snooze"}, "value": "snooze"}]}},
    {"type": "divider"},
    {"type": "actions", "block_id": "decide", "elements": [
        {"type": "button", "action_id": "approve", "style": "primary", "value": "INV-0042",
         "text": {"type": "plain_text", "text": "Approve"},
         "confirm": {"title": {"type": "plain_text", "text": "Approve invoice?"},
                     "text": {"type": "mrkdwn", "text": "This exports *INV-0042* to Forecast."},
                     "confirm": {"type": "plain_text", "text": "Approve"},
                     "deny": {"type": "plain_text", "text": "Not yet"}}},
        {"type": "button", "action_id": "reject", "style": "danger", "value": "INV-0042",
         "text": {"type": "plain_text", "text": "Reject"}},
        {"type": "static_select", "action_id": "org", "placeholder": {"type": "plain_text", "text": "Organisation"},
         "options": [{"text": {"type": "plain_text", "text": "Acme Ltd"}, "value": "org-1"}]}]},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": ":white_check_mark: Synced from Xero just now"}]},
]

EXPORT_MODAL = {
    "type": "modal", "callback_id": "export", "title": {"type": "plain_text", "text": "Export to Forecast"},
    "submit": {"type": "plain_text", "text": "Export"}, "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {"type": "input", "block_id": "invoice", "label": {"type": "plain_text", "text": "Invoice number"},
         "hint": {"type": "plain_text", "text": "As shown in Xero, e.g. INV-0042"},
         "element": {"type": "plain_text_input", "action_id": "number", "initial_value": "INV-0042"}},
        {"type": "input", "block_id": "project", "label": {"type": "plain_text", "text": "Forecast project"},
         "element": {"type": "external_select", "action_id": "search", "min_query_length": 1,
                     "placeholder": {"type": "plain_text", "text": "Search projects"}}},
        {"type": "input", "block_id": "notes", "optional": True, "label": {"type": "plain_text", "text": "Notes"},
         "element": {"type": "plain_text_input", "action_id": "text", "multiline": True}},
        {"type": "input", "block_id": "notify", "optional": True, "label": {"type": "plain_text", "text": "Notify"},
         "element": {"type": "checkboxes", "action_id": "who", "options": [
             {"text": {"type": "mrkdwn", "text": "*Approvers*"}, "value": "approvers"}]}},
    ],
}


@pytest.fixture
async def browser():
    async_api = pytest.importorskip("playwright.async_api")
    async with async_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield launched
        await launched.close()


async def test_a_person_runs_a_command_clicks_a_button_and_submits_a_modal(tmp_path, browser):
    bot = FakeBot()
    submissions: list[dict[str, Any]] = []

    async def command(body: dict[str, Any]) -> web.Response:
        await bot.web.chat_postMessage(channel=body["channel_id"], text="Invoice INV-0042", blocks=INVOICE_BLOCKS)
        return web.Response(text="Looking up *INV-0042*…")

    async def action(body: dict[str, Any]) -> web.Response:
        if body["actions"][0]["action_id"] == "approve":
            await bot.web.views_open(trigger_id=body["trigger_id"], view=EXPORT_MODAL)
        return web.Response(status=200)

    async def options(body: dict[str, Any]) -> web.Response:
        return web.json_response({"options": [
            {"text": {"type": "plain_text", "text": f"{body['value'].title()} website"}, "value": "p-1"}]})

    async def submission(body: dict[str, Any]) -> web.Response:
        submissions.append(body["view"]["state"]["values"])
        if len(submissions) == 1:
            return web.json_response({"response_action": "errors",
                                      "errors": {"invoice": "INV-0042 is already exported"}})
        return web.Response(status=200)

    for kind, handler in [("slash_command", command), ("block_actions", action), ("block_suggestion", options),
                          ("view_submission", submission)]:
        bot.on(kind, handler)
    sandbox = await start_sandbox(tmp_path, bot)
    ARTIFACTS.mkdir(exist_ok=True)
    page = await browser.new_page(viewport={"width": 1280, "height": 820})
    try:
        await page.goto(str(sandbox.client.make_url("/slack/?user=U0APPROVER#C0APPROVALS")))
        await page.fill("#composer-input", "/xero export INV-0042")
        await page.press("#composer-input", "Enter")
        await page.wait_for_selector(".message.ephemeral >> text=Only visible to you")
        await page.wait_for_selector(".bk-button[data-action-id='approve']")
        await page.screenshot(path=str(ARTIFACTS / "slack-channel.png"))

        await page.click(".bk-button[data-action-id='approve']")
        await page.wait_for_selector(".confirm-dialog >> text=Approve invoice?")
        await page.click(".confirm-ok")
        await page.wait_for_selector(".modal[data-view-id] .modal-title >> text=Export to Forecast")

        await page.click(".bk-select[data-action-id='search'] .bk-select-trigger")
        await page.fill(".bk-menu-search", "acme")
        await page.click(".bk-option[data-value='p-1']")
        await page.fill("textarea.bk-text-input", "Please export today")
        await page.screenshot(path=str(ARTIFACTS / "slack-modal.png"))
        await page.click(".modal-submit")
        await page.wait_for_selector(".bk-input-error >> text=INV-0042 is already exported")
        await page.screenshot(path=str(ARTIFACTS / "slack-modal-errors.png"))

        await page.click(".modal-submit")
        await page.wait_for_selector(".modal", state="detached")
    finally:
        await page.close()
        await stop_sandbox(sandbox)

    assert submissions[0]["project"]["search"] == {
        "type": "external_select",
        "selected_option": {"text": {"type": "plain_text", "text": "Acme website"}, "value": "p-1"}}
    assert submissions[0]["invoice"]["number"] == {"type": "plain_text_input", "value": "INV-0042"}
    assert submissions[0]["notes"]["text"]["value"] == "Please export today"
    assert submissions[1] == submissions[0]
    grace_only = [m for m in sandbox.state.messages("C0APPROVALS") if m["ephemeral_to"] == "U0APPROVER"]
    assert [m["text"] for m in grace_only] == ["Looking up *INV-0042*…"]
