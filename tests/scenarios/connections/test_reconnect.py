"""Remove an organisation, connect it again: what was linked there is linked again (invoices, clients,
payments), sync goes on from where it was, and no invoice is ever created in a second organisation without
an admin's "Export again anyway"."""

from __future__ import annotations

import json

import pytest

from tests.support.export_flow import (
    CLIENT,
    US_TAX,
    click,
    final_update,
    invoice,
    job_id_of,
    prepare,
    request,
    text_of,
)
from tests.support.harness import start_harness, stop_harness
from tests.support.slack_standin import TEAM_ID
from tests.support.sync_flow import WEBHOOK_KEY
from tests.support.xero_identity import UK, UK_TENANT, US, US_TENANT, connect_organisations

OTHER_CLIENT = {**CLIENT, "id": 8, "name": "Globex Inc"}


@pytest.fixture
async def bot(storage):
    harness = await start_harness(storage, xero_webhook_key=WEBHOOK_KEY)
    yield harness
    await stop_harness(harness)


async def remove(bot, tenant_id: str) -> dict:
    """Ada removes the organisation with its red button and the confirmation modal; returns the answer."""
    before = len(bot.slack.called("views.open"))
    await bot.click("remove_tenant_open", tenant_id)
    call = await bot.slack.wait_for("views.open", lambda c: len(bot.slack.called("views.open")) > before)
    response = await bot.submit(call["view"])
    assert response.status == 200
    return await bot.slack.wait_for("chat.postEphemeral", lambda c: "removed" in text_of(c).lower())


async def request_again(bot) -> dict:
    """Max asks for INV-101 once more: the new approval message."""
    def approvals() -> list:
        return [c for c in bot.slack.called("chat.postMessage") if c["channel"] == "C0APPROVALS"]

    before = len(approvals())
    await bot.ask("export INV-101", user="U0MEMBER")
    await bot.slack.wait_for("chat.postMessage", lambda c: len(approvals()) > before)
    return approvals()[-1]


async def exported_in(bot, xero, tenant_id: str, *, invoices=None, clients=None, tenants=(UK, US)):
    """INV-101 exported (approved by Grace) into `tenant_id`, the approver having picked it."""
    books = await prepare(bot, xero, tenants=tenants, invoices=invoices, clients=clients)
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    await bot.container.exports.pick_tenant(TEAM_ID, job_id, "U0APPROVER", tenant_id)
    await click(bot, "export_approve", job_id)
    await final_update(bot, job_id, "exported")
    return books, job_id


async def test_an_invoice_exported_before_a_remove_and_reconnect_is_answered_as_already_exported(bot, xero):
    books, _ = await exported_in(bot, xero, US_TENANT, invoices=[invoice(currency="USD", entries=US_TAX)])
    await remove(bot, US_TENANT)
    await connect_organisations(bot, xero, tenants=(US,))
    approvals_before = len([c for c in bot.slack.called("chat.postMessage") if c["channel"] == "C0APPROVALS"])

    answer = await bot.ask("export INV-101", user="U0MEMBER")

    assert "Demo Company (US)" in text_of(answer) and "already" in text_of(answer).lower()
    assert len([c for c in bot.slack.called("chat.postMessage") if c["channel"] == "C0APPROVALS"]) == approvals_before
    assert books.invoices_numbered(UK_TENANT, "INV-101") == []
    assert await bot.storage.links.count_documents({"tenant_id": US_TENANT, "status": "linked"}) >= 2  # invoice, client


async def test_a_batch_after_a_reconnect_refuses_the_invoice_already_there(bot, xero):
    second = invoice(id=102, company_invoice_id=102, invoice_reference="INV-102", client_id=8)
    await exported_in(bot, xero, UK_TENANT, invoices=[invoice(), second], clients=[CLIENT, OTHER_CLIENT])
    await remove(bot, UK_TENANT)
    await connect_organisations(bot, xero, tenants=(UK,))

    answer = await bot.ask("export INV-101 INV-102", user="U0MEMBER")

    said = text_of(answer)
    assert "INV-101" in said and "Demo Company (UK)" in said and "already" in said.lower()
    batch = await bot.storage.export_batches.find_one({})
    jobs = [j async for j in bot.storage.export_jobs.find({"batch_id": batch["_id"]})]
    assert [j["reference"] for j in jobs] == ["INV-102"]


async def test_an_invoice_in_an_organisation_not_linked_any_more_needs_export_again_anyway(bot, xero):
    """Even when its organisation is connected (links left unlinked by an older version), an invoice known to
    be in one organisation is not created in another until an admin says so."""
    books, _ = await exported_in(bot, xero, UK_TENANT)
    await bot.storage.links.update_many({"tenant_id": UK_TENANT}, {"$set": {"status": "unlinked"}})

    approval = await request_again(bot)
    job_id = job_id_of(approval)
    await bot.container.exports.pick_tenant(TEAM_ID, job_id, "U0APPROVER", US_TENANT)
    redrawn = await bot.slack.wait_for("chat.update", lambda c: "Export again anyway" in text_of(c)
                                       and job_id in json.dumps(c.get("blocks")))
    assert "exported before" in text_of(redrawn)
    name = await click(bot, "export_approve", job_id)
    refusal = await bot.reply_to(name)
    assert "refused" in text_of(refusal).lower() or "cannot" in text_of(refusal).lower(), text_of(refusal)
    assert (await bot.storage.export_jobs.find_one({"_id": job_id}))["state"] == "pending"
    assert books.invoices_numbered(US_TENANT, "INV-101") == []


async def test_a_payment_recorded_while_removed_reaches_forecast_and_the_thread_after_a_reconnect(bot, xero):
    books, job_id = await exported_in(bot, xero, UK_TENANT, tenants=(UK,))
    books.approve(UK_TENANT)
    stored = await bot.storage.export_jobs.find_one({"_id": job_id})
    await remove(bot, UK_TENANT)
    payment = books.pay(UK_TENANT, "1140.00", on="2026-12-03")  # the rest of it, in Xero, meanwhile
    await connect_organisations(bot, xero, tenants=(UK,))

    started = await bot.ask("sync", user="U0ADMIN")
    assert "Demo Company (UK)" in text_of(started)
    answer = await bot.slack.wait_for("chat.postEphemeral", lambda c: c.get("user") == "U0ADMIN"
                                      and "what changed" in text_of(c))

    assert "INV-101" in text_of(answer) and "nothing changed" not in text_of(answer)
    await bot.slack.wait_for("chat.postMessage", lambda c: c.get("thread_ts") == stored["approval_ts"]
                             and "1,140.00" in text_of(c))
    link = await bot.storage.links.find_one({"kind": "payment", "forecast_id": payment})
    assert link is not None and link["status"] == "linked"
    # Paid in full: the requester hears it, and the approval message says Paid, not Part paid.
    await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0MEMBER" and "INV-101" in text_of(c)
                             and "is paid" in text_of(c))
    updated = await bot.slack.wait_for("chat.update", lambda c: c["ts"] == stored["approval_ts"]
                                       and "Paid 1,140.00 of GBP 1,140.00" in text_of(c))
    assert "Part paid" not in text_of(updated)
    again = await bot.ask("export INV-101", user="U0MEMBER")
    assert "already" in text_of(again).lower() and "Choose the organisation" not in text_of(again)


async def test_removing_the_organisation_of_a_waiting_request_asks_the_approver_to_choose(bot, xero):
    """INV-101's client is linked to US (an earlier export); removing US must not move it to UK by itself."""
    await prepare(bot, xero, tenants=(UK, US))
    await bot.storage.links.insert_one({"team_id": TEAM_ID, "kind": "client", "forecast_id": "7",
                                        "tenant_id": US_TENANT, "xero_id": "c-us", "status": "linked"})
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    stored = await bot.storage.export_jobs.find_one({"_id": job_id})
    assert stored["tenant_id"] == US_TENANT
    approval_ts = stored["approval_ts"]

    await bot.click("remove_tenant_open", US_TENANT)
    modal = (await bot.slack.wait_for("views.open"))["view"]
    assert "1 request waiting for approval" in json.dumps(modal["blocks"])
    assert "1 client" in json.dumps(modal["blocks"])
    await bot.submit(modal)
    done = await bot.slack.wait_for("chat.postEphemeral", lambda c: "removed" in text_of(c).lower())
    assert "1 client" in text_of(done) and "were marked unlinked" in text_of(done)

    redrawn = await bot.slack.wait_for("chat.update", lambda c: c.get("ts") == approval_ts
                                       and "Choose the organisation" in text_of(c))
    assert "→ Demo Company (UK)" not in text_of(redrawn)
    job = await bot.storage.export_jobs.find_one({"_id": job_id})
    assert job["tenant_id"] is None and [c["tenant_id"] for c in job["tenant_choices"]] == [UK_TENANT]
    await bot.container.exports.redraw_pending(TEAM_ID)  # anything else routing again asks still
    assert (await bot.storage.export_jobs.find_one({"_id": job_id}))["tenant_id"] is None
    refusal = await bot.reply_to(await click(bot, "export_approve", job_id))
    assert "choose" in text_of(refusal).lower()
