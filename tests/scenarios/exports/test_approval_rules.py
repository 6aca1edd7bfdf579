"""Approval rules through the real routes: two different approvers above an amount (the same person clicking
twice is told so and nothing moves), a named approver per currency, and Approve all on a batch approving only
what the clicker may approve."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from services.shared.settings import ApprovalRule, SettingsChanges
from tests.support.export_flow import (
    CLIENT,
    click,
    final_update,
    forecast_holding,
    invoice,
    job,
    job_id_of,
    prepare,
    request,
    text_of,
)
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import UK_TENANT


async def rules(bot, *given: ApprovalRule) -> None:
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(approval_rules=list(given)),
                                                  updated_by="U0ADMIN")


async def answer_to(bot, name: str) -> str:
    return text_of(await bot.reply_to(name))


async def exported(bot, reference: str, timeout: float = 15.0) -> None:
    """Waits until the batch's invoice `reference` is exported."""
    async def done() -> bool:
        return bool(await bot.storage.export_jobs.find_one({"reference": reference, "state": "exported"}))

    deadline = asyncio.get_running_loop().time() + timeout
    while not await done():
        assert asyncio.get_running_loop().time() < deadline, f"{reference} was not exported"
        await asyncio.sleep(0.05)


async def redrawn(bot, approval, words: str):
    return await bot.slack.wait_for("chat.update", lambda c: c.get("ts") == approval.response["ts"]
                                    and words in text_of(c))


async def test_two_approvers_are_needed_above_the_amount_and_one_clicking_twice_moves_nothing(bot, xero):
    books = await prepare(bot, xero)
    await rules(bot, ApprovalRule(currency="GBP", above=Decimal("1000"), two_approvers=True))
    _, approval = await request(bot)  # GBP 1,140.00
    job_id = job_id_of(approval)
    shown = text_of(approval)
    assert "above GBP 1,000.00: two different approvers" in shown and "2 approvals needed" in shown

    first = await click(bot, "export_approve", job_id, user="U0APPROVER")
    assert "Your approval of INV-101 is recorded" in await answer_to(bot, first)
    await redrawn(bot, approval, "Approved so far: <@U0APPROVER> (1 of 2 needed)")
    stored = await job(bot, job_id)
    assert stored["state"] == "pending" and [a["user"] for a in stored["approvals"]] == ["U0APPROVER"]

    again = await click(bot, "export_approve", job_id, user="U0APPROVER")
    assert "You already approved INV-101" in await answer_to(bot, again)
    stored = await job(bot, job_id)
    assert stored["state"] == "pending" and len(stored["approvals"]) == 1
    assert books.sent("PUT", "Invoices") == []

    await click(bot, "export_approve", job_id, user="U0ADMIN")
    done = await final_update(bot, job_id, "exported")
    assert "Approved by <@U0APPROVER> and <@U0ADMIN>" in text_of(done)  # both clicks counted: both are named
    stored = await job(bot, job_id)
    assert [a["user"] for a in stored["approvals"]] == ["U0APPROVER", "U0ADMIN"]
    assert stored["approved_by"] == "U0ADMIN" and len(books.sent("PUT", "Invoices")) == 1


async def test_an_amount_rule_applies_in_its_own_currency_only(bot, xero):
    books = await prepare(bot, xero, forecast=False)
    forecast_holding(xero, invoices=[invoice(), invoice(id=102, invoice_reference="INV-102", currency="USD")],
                     clients=[CLIENT])
    await rules(bot, ApprovalRule(currency="USD", above=Decimal("1000"), approvers=["U0ADMIN"]),
                ApprovalRule(currency="GBP", above=Decimal("5000"), approvers=["U0ADMIN"]))

    _, pounds = await request(bot)  # GBP 1,140.00: under the GBP rule's amount, not a USD invoice
    assert "Approval rule" not in text_of(pounds)
    await click(bot, "export_approve", job_id_of(pounds), user="U0APPROVER")
    await final_update(bot, job_id_of(pounds), "exported")

    await bot.ask("export INV-102", user="U0MEMBER")
    dollars = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "C0APPROVALS"
                                       and "INV-102" in json.dumps(c.get("blocks")))
    assert "above USD 1,000.00: one of <@U0ADMIN>" in text_of(dollars)
    refused = await click(bot, "export_approve", job_id_of(dollars), user="U0APPROVER")
    assert "must be approved by one of <@U0ADMIN>" in await answer_to(bot, refused)
    assert (await job(bot, job_id_of(dollars)))["approvals"] == []
    await click(bot, "export_approve", job_id_of(dollars), user="U0ADMIN")
    await final_update(bot, job_id_of(dollars), "exported")
    assert len(books.sent("PUT", "Invoices")) == 2


async def test_approve_all_approves_what_the_clicker_may_and_leaves_the_rest_with_the_reason(bot, xero):
    from tests.scenarios.exports.test_batch_flow import batch_id_of, batch_message, batch_shows

    books = await prepare(bot, xero, forecast=False)
    forecast_holding(xero, invoices=[invoice(), invoice(id=102, invoice_reference="INV-102", currency="USD")],
                     clients=[CLIENT])
    await rules(bot, ApprovalRule(currency="USD", above=Decimal("1000"), approvers=["U0ADMIN"]))
    await bot.command("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    batch_id = batch_id_of(message)

    await bot.click("batch_approve_all", batch_id, user="U0APPROVER", channel="C0APPROVALS")
    shown = await batch_shows(bot, message, "waiting for <@U0ADMIN> to approve (its approval rule)")
    assert "batch_approve_all" in json.dumps(shown["blocks"])  # still open for the approver who can
    await exported(bot, "INV-101")
    states = {doc["reference"]: doc["state"] async for doc in bot.storage.export_jobs.find({})}
    assert states == {"INV-101": "exported", "INV-102": "pending"}
    assert all(i["InvoiceNumber"] != "INV-102" for body in books.bodies("PUT", "Invoices") for i in body["Invoices"])

    await bot.click("batch_approve_all", batch_id, user="U0ADMIN", channel="C0APPROVALS")
    await exported(bot, "INV-102")
    batch = await bot.storage.db["export_batches"].find_one({"_id": batch_id})
    assert batch["decision"] == "approved" and batch["decided_by"] == "U0ADMIN"
    assert sorted(i["InvoiceNumber"] for i in books.invoices(UK_TENANT)) == ["INV-101", "INV-102"]


async def test_an_admin_writes_a_rule_in_settings_and_the_next_request_follows_it(bot, xero):
    from tests.scenarios.settings.test_per_org import ACCOUNT, TAX, filled_modal, form, picked, saved_confirmation

    await prepare(bot, xero)
    view = await filled_modal(bot)
    assert any(b.get("block_id") == "rule_amount|0" for b in view["blocks"])
    two = {"type": "checkboxes", "selected_options": [{"value": "yes"}]}
    bad = await bot.submit(view, values=form(**{ACCOUNT: picked("default"), TAX: picked("default"),
                                                "rule_amount|0": {"type": "plain_text_input", "value": "lots"},
                                                "rule_two|0": two}))
    assert "Write a currency and an amount" in (await bad.json())["errors"]["rule_amount|0"]
    assert (await bot.container.workspace_settings.get(TEAM_ID)).approval_rules == []

    response = await bot.submit(view, values=form(**{
        ACCOUNT: picked("default"), TAX: picked("default"),
        "rule_amount|0": {"type": "plain_text_input", "value": "gbp 1,000"}, "rule_two|0": two}))
    assert "errors" not in await response.text()
    confirmation = await saved_confirmation(bot)
    assert "above GBP 1,000.00: two different approvers" in json.dumps(confirmation["blocks"])
    [rule] = (await bot.container.workspace_settings.get(TEAM_ID)).approval_rules
    assert (rule.currency, rule.above, rule.two_approvers) == ("GBP", Decimal("1000"), True)

    _, approval = await request(bot)
    assert "above GBP 1,000.00: two different approvers" in text_of(approval)
    first = await click(bot, "export_approve", job_id_of(approval), user="U0APPROVER")
    assert "is recorded" in await answer_to(bot, first)


async def test_a_batch_line_names_its_rule_before_anyone_clicks(bot, xero):
    from tests.scenarios.exports.test_batch_flow import batch_message

    await prepare(bot, xero, invoices=[invoice(), invoice(id=102, invoice_reference="INV-102", currency="USD")])
    await rules(bot, ApprovalRule(currency="USD", above=Decimal("1000"), approvers=["U0ADMIN"], two_approvers=True))
    await bot.command("export INV-101 INV-102", user="U0MEMBER")
    lines = text_of(await batch_message(bot))
    assert lines.count("its approval rule needs two different approvers including one of <@U0ADMIN>") == 1


async def test_a_rule_saved_while_a_request_waits_is_shown_on_its_message(bot, xero):
    from tests.scenarios.settings.test_per_org import ACCOUNT, TAX, filled_modal, form, picked, saved_confirmation

    await prepare(bot, xero)
    _, approval = await request(bot)
    assert "Approval rule" not in text_of(approval)
    view = await filled_modal(bot)
    await bot.submit(view, values=form(**{ACCOUNT: picked("default"), TAX: picked("default"),
                                          "rule_approvers|0": {"type": "multi_users_select",
                                                               "selected_users": ["U0ADMIN"]}}))
    await saved_confirmation(bot)
    await redrawn(bot, approval, "every export: one of <@U0ADMIN>")
