"""Who may approve, rejecting with a reason, two approvers at once, and routing to an organisation."""

from __future__ import annotations

import asyncio
import json

from tests.support.export_flow import (
    US_TAX,
    click,
    final_update,
    invoice,
    job,
    job_id_of,
    prepare,
    request,
    requester_dm,
    text_of,
)
from tests.support.xero_identity import UK, UK_TENANT, US, US_TENANT
from tests.support.xero_standin import validation_error


def writes(books) -> list:
    """What was sent to Xero to create or change something (the request's pre-flight check only reads)."""
    return [call for call in books.calls if call.method != "GET"]


async def refusal(bot, name: str) -> str:
    return text_of(await bot.reply_to(name))


async def test_the_requester_cannot_approve_their_own_request(bot, xero):
    books = await prepare(bot, xero)
    _, approval = await request(bot, user="U0ADMIN")
    name = await click(bot, "export_approve", job_id_of(approval), user="U0ADMIN")
    assert "someone else must approve" in await refusal(bot, name)
    assert (await job(bot, job_id_of(approval)))["state"] == "pending" and writes(books) == []


async def test_members_who_are_not_approvers_are_refused_and_told_who_approves(bot, xero):
    books = await prepare(bot, xero)
    _, approval = await request(bot, user="U0ADMIN")
    name = await click(bot, "export_approve", job_id_of(approval), user="U0MEMBER")
    said = await refusal(bot, name)
    assert "Only approvers" in said and "workspace admins" in said
    assert (await job(bot, job_id_of(approval)))["state"] == "pending" and writes(books) == []


async def test_named_approver_users_replace_the_admins(bot, xero):
    await prepare(bot, xero, settings={"approver_users": ["U0MEMBER"]})
    _, approval = await request(bot, user="U0ADMIN")
    name = await click(bot, "export_approve", job_id_of(approval), user="U0APPROVER")  # an admin, not named
    assert "<@U0MEMBER>" in await refusal(bot, name)
    await click(bot, "export_approve", job_id_of(approval), user="U0MEMBER")
    await final_update(bot, job_id_of(approval), "exported")


async def test_members_of_the_approver_user_group_may_approve(bot, xero):
    bot.slack.usergroups["S0FINANCE"] = ["U0MEMBER"]
    await prepare(bot, xero, settings={"approver_usergroup": "S0FINANCE"})
    _, approval = await request(bot, user="U0ADMIN")
    await click(bot, "export_approve", job_id_of(approval), user="U0MEMBER")
    await final_update(bot, job_id_of(approval), "exported")
    assert (await job(bot, job_id_of(approval)))["approved_by"] == "U0MEMBER"


async def test_two_approvers_clicking_together_export_exactly_once(bot, xero):
    bot.slack.users["U0THIRD"] = {"id": "U0THIRD", "is_admin": True}
    books = await prepare(bot, xero)
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    first, second = await asyncio.gather(click(bot, "export_approve", job_id, user="U0APPROVER"),
                                         click(bot, "export_approve", job_id, user="U0THIRD"))
    await final_update(bot, job_id, "exported")
    winner = (await job(bot, job_id))["approved_by"]
    loser_name = second if winner == "U0APPROVER" else first
    assert f"already approved by <@{winner}>" in await refusal(bot, loser_name) or \
        "already exported" in await refusal(bot, loser_name)
    assert len(books.sent("PUT", "Invoices")) == 1 and len(books.invoices(UK_TENANT)) == 1
    approvals = [e async for e in bot.storage.job_events.find({"job_id": job_id, "to_state": "approved"})]
    assert len(approvals) == 1


async def test_a_second_click_after_the_export_changes_nothing(bot, xero):
    books = await prepare(bot, xero)
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    await click(bot, "export_approve", job_id)
    await final_update(bot, job_id, "exported")
    name = await click(bot, "export_approve", job_id, user="U0ADMIN")
    assert "already exported" in await refusal(bot, name)
    assert len(books.sent("PUT", "Invoices")) == 1


async def test_reject_asks_for_a_reason_and_updates_the_message(bot, xero):
    books = await prepare(bot, xero)
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    await click(bot, "export_reject", job_id)
    view = (await bot.slack.wait_for("views.open"))["view"]
    assert view["callback_id"] == "export_reject_reason" and "INV-101" in json.dumps(view["blocks"])
    response = await bot.submit(view, user="U0APPROVER",
                                values={"reason": {"reason": {"type": "plain_text_input", "value": "Wrong rate"}}})
    assert response.status == 200
    updated = await final_update(bot, job_id, "rejected")
    assert "Wrong rate" in text_of(updated) and "<@U0APPROVER>" in text_of(updated)
    stored = await job(bot, job_id)
    assert (stored["state"], stored["rejected_by"], stored["reject_reason"]) == ("rejected", "U0APPROVER", "Wrong rate")
    name = await click(bot, "export_approve", job_id, user="U0ADMIN")
    assert "already rejected" in await refusal(bot, name)
    assert writes(books) == []


async def test_the_requester_is_told_of_the_rejection_with_its_reason_and_what_to_do(bot, xero):
    await prepare(bot, xero)
    _, approval = await request(bot, user="U0MEMBER")
    await click(bot, "export_reject", job_id_of(approval))
    view = (await bot.slack.wait_for("views.open"))["view"]
    await bot.submit(view, user="U0APPROVER",
                     values={"reason": {"reason": {"type": "plain_text_input", "value": "Wrong rate"}}})
    told = await requester_dm(bot, "U0MEMBER", "rejected")
    said = text_of(told)
    assert "INV-101" in said and "rejected" in said and "<@U0APPROVER>" in said and "Wrong rate" in said
    assert "/xero export INV-101" in said


async def test_reject_without_a_reason_is_fine_and_non_approvers_cannot_reject(bot, xero):
    await prepare(bot, xero)
    _, approval = await request(bot, user="U0ADMIN")
    job_id = job_id_of(approval)
    name = await click(bot, "export_reject", job_id, user="U0MEMBER")
    assert "Only approvers" in await refusal(bot, name)
    assert bot.slack.called("views.open") == []
    await click(bot, "export_reject", job_id, user="U0APPROVER")
    view = (await bot.slack.wait_for("views.open"))["view"]
    await bot.submit(view, user="U0APPROVER")
    updated = await final_update(bot, job_id, "rejected")
    assert "no reason given" in text_of(updated)


async def test_a_rejected_invoice_can_be_requested_again(bot, xero):
    await prepare(bot, xero)
    _, approval = await request(bot)
    await click(bot, "export_reject", job_id_of(approval))
    await bot.submit((await bot.slack.wait_for("views.open"))["view"], user="U0APPROVER")
    await final_update(bot, job_id_of(approval), "rejected")
    again = await bot.ask("export INV-101", user="U0MEMBER")
    assert "will be exported to Xero once approved" in text_of(again)


# ----------------------------------------------------------------------------- routing


async def test_with_one_organisation_the_unlinked_client_goes_there_and_becomes_linked(bot, xero):
    await prepare(bot, xero, tenants=(UK,))
    _, approval = await request(bot)
    assert not any(e.get("type") == "static_select" for b in approval["blocks"] for e in b.get("elements", []))
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    [link] = await bot.container.links.linked("T0TEST", "client", 7)
    assert link.tenant_id == UK_TENANT


async def test_a_linked_client_goes_to_its_organisation_among_several(bot, xero):
    books = await prepare(bot, xero, tenants=(UK, US), invoices=[invoice(entries=US_TAX)])
    us_contact = books.add_contact(US_TENANT, "Acme Ltd")
    await bot.container.links.link("T0TEST", "client", 7, US_TENANT, xero_id=us_contact)
    books.add_currency(US_TENANT, "GBP")
    answer, approval = await request(bot)
    assert "Demo Company (US)" in text_of(answer) and "Demo Company (US)" in text_of(approval)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    assert len(books.invoices(US_TENANT)) == 1 and books.invoices(UK_TENANT) == []


async def test_several_organisations_and_an_unlinked_client_need_a_choice_before_approve(bot, xero):
    books = await prepare(bot, xero, tenants=(UK, US))
    answer, approval = await request(bot)
    assert "an approver picks" in text_of(answer)
    [picker] = [e for b in approval["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["type"] == "static_select"]
    assert {o["value"] for o in picker["options"]} == {UK_TENANT, US_TENANT}
    job_id = job_id_of(approval)

    name = await click(bot, "export_approve", job_id)
    assert "Choose the organisation first" in await refusal(bot, name)
    assert (await job(bot, job_id))["state"] == "pending"

    picked = {"export_pick_tenant_block": {"export_pick_tenant": {
        "type": "static_select",
        "selected_option": {"value": UK_TENANT, "text": {"type": "plain_text", "text": "UK"}}}}}
    await click(bot, "export_approve", job_id, state=picked)
    await final_update(bot, job_id, "exported")
    assert len(books.invoices(UK_TENANT)) == 1 and books.invoices(US_TENANT) == []
    [link] = await bot.container.links.linked("T0TEST", "client", 7)
    assert link.tenant_id == UK_TENANT


async def test_a_request_rejected_before_an_organisation_was_chosen_no_longer_asks_for_one(bot, xero):
    await prepare(bot, xero, tenants=(UK, US))
    _, approval = await request(bot)
    await click(bot, "export_reject", job_id_of(approval))
    await bot.submit((await bot.slack.wait_for("views.open"))["view"], user="U0APPROVER")
    updated = await final_update(bot, job_id_of(approval), "rejected")
    assert "an approver picks" not in text_of(updated) and "none chosen" in text_of(updated)


async def test_picking_the_organisation_is_acknowledged(bot, xero):
    await prepare(bot, xero, tenants=(UK, US))
    _, approval = await request(bot)
    response = await bot.send_payload({
        "type": "block_actions", "user": {"id": "U0APPROVER"}, "trigger_id": "t",
        "container": {"type": "message"}, "channel": {"id": "C0APPROVALS"}, "message": {"ts": "1.0"},
        "response_url": bot.slack.response_url("pick"),
        "actions": [{"type": "static_select", "action_id": "export_pick_tenant", "block_id": "b",
                     "selected_option": {"value": UK_TENANT}, "action_ts": "1.1"}]})
    assert response.status == 200
    assert (await job(bot, job_id_of(approval)))["state"] == "pending"


async def test_a_client_linked_in_several_organisations_offers_only_those(bot, xero):
    books = await prepare(bot, xero, tenants=(UK, US))
    for tenant in (UK_TENANT, US_TENANT):
        await bot.container.links.link("T0TEST", "client", 7, tenant, xero_id=f"c-{tenant}")
    _, approval = await request(bot)
    [picker] = [e for b in approval["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["type"] == "static_select"]
    assert {o["value"] for o in picker["options"]} == {UK_TENANT, US_TENANT}
    name = await click(bot, "export_approve", job_id_of(approval))
    assert "Choose the organisation first" in await refusal(bot, name)
    assert books.calls == []  # no organisation known: nothing to check yet


async def test_the_open_in_xero_link_button_is_acknowledged(bot):
    name = await bot.click("export_open_xero", "")
    assert name  # bot.click asserts Slack got a 200


async def test_removing_an_organisation_redraws_pending_pickers_and_choosing_it_is_refused(bot, xero):
    books = await prepare(bot, xero, tenants=(UK, US))
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    assert "Demo Company (US)" in json.dumps(approval["blocks"])
    await bot.click("remove_tenant_open", US_TENANT)
    view = (await bot.slack.wait_for("views.open"))["view"]
    await bot.submit(view)

    def redrawn_without_us(call) -> bool:
        return call.get("ts") == approval_ts and "Demo Company (US)" not in json.dumps(call.get("blocks"))

    approval_ts = (await job(bot, job_id))["approval_ts"]
    redrawn = await bot.slack.wait_for("chat.update", redrawn_without_us)
    assert "Demo Company (UK)" in json.dumps(redrawn["blocks"])  # the picker offers only what is connected
    us = {"export_pick_tenant_block": {"export_pick_tenant": {
        "type": "static_select",
        "selected_option": {"value": US_TENANT, "text": {"type": "plain_text", "text": "US"}}}}}
    name = await click(bot, "export_approve", job_id, state=us)  # a stale picker in someone's open Slack
    assert "no longer connected" in await refusal(bot, name)
    assert (await job(bot, job_id))["state"] == "pending" and books.sent("PUT", "Invoices") == []


async def test_the_requester_hears_of_a_failure_in_a_dm_linking_to_the_approval_message(bot, xero):
    books = await prepare(bot, xero)
    books.fail_next("PUT", "Invoices", 400, validation_error("Contact is archived"))
    _, approval = await request(bot, user="U0MEMBER")
    job_id = job_id_of(approval)
    await click(bot, "export_approve", job_id)
    told = await requester_dm(bot, "U0MEMBER", "failed")
    stored = await job(bot, job_id)
    [permalink] = [c.response["permalink"] for c in bot.slack.called("chat.getPermalink")
                   if c["message_ts"] == stored["approval_ts"]]
    assert "INV-101" in text_of(told) and permalink in text_of(told)
    await click(bot, "export_retry", job_id)
    await final_update(bot, job_id, "exported")
    await requester_dm(bot, "U0MEMBER", "is in Xero")
    failure_dm = next(dm for dm in (await job(bot, job_id))["requester_dms"] if dm["about"] == "failed:1")
    redrawn = await bot.slack.wait_for("chat.update",
                                       lambda c: c["ts"] == failure_dm["ts"] and "went through" in text_of(c))
    assert "export_retry" not in text_of(redrawn)  # the failure DM now says what happened since
    assert "is in Xero" not in text_of(redrawn)  # the newer DM says it: the requester hears it once
    posted = await requester_dm(bot, "U0MEMBER", "is in Xero")
    for _ in range(200):  # the new DM is saved just after its post
        dms = {dm["ts"] for dm in (await job(bot, job_id))["requester_dms"]}
        if len(dms) == 2:
            break
        await asyncio.sleep(0.05)
    assert posted.response["ts"] in dms
    shown = {}  # each DM as it reads now: its post, then its updates
    for c in bot.slack.called("chat.postMessage") + bot.slack.called("chat.update"):
        ts = c.get("ts") or c.response.get("ts")
        if ts in dms:
            shown[ts] = text_of(c)
    assert len(shown) == 2 and sum("is in Xero" in t for t in shown.values()) == 1


async def test_a_client_linked_meanwhile_routes_its_pending_request_and_redraws_it(bot, xero):
    await prepare(bot, xero, tenants=(UK, US))
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    assert (await job(bot, job_id))["tenant_id"] is None  # the approver would have to pick
    await bot.container.links.link("T0TEST", "client", 7, US_TENANT, xero_id="contact-us", linked_by="U0ADMIN")
    await bot.container.exports.redraw_pending("T0TEST")  # what a customer import does once it linked clients
    approval_ts = (await job(bot, job_id))["approval_ts"]
    redrawn = await bot.slack.wait_for("chat.update", lambda c: c["ts"] == approval_ts)
    assert "export_pick_tenant" not in text_of(redrawn) and "Demo Company (US)" in text_of(redrawn)
    stored = await job(bot, job_id)
    assert (stored["state"], stored["tenant_id"]) == ("pending", US_TENANT)
