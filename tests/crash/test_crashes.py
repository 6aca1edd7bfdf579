"""The bot killed with SIGKILL at random points, restarted, and nothing is lost, duplicated or left stuck.

The real bot runs as its own process (`python app.py`) against the sandbox stand-ins (served here) and
this test's MongoDB database; a person's typing and clicks go through the sandbox Slack page's endpoints,
signed as Slack signs them. After each run: exactly one invoice in the Xero stand-in, no job left
unfinished, every Slack message about the export final (no "Exporting…", no buttons that no longer apply).

FAULT_KILLS=200 (env) runs more kills than the default 30; FAULT_SEED picks another random sequence.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from bot.blocks import imports as import_blocks
from sandbox.slack.state import TEAM
from services.imports.customers import similar_name_key
from tests.support.bot_process import (
    GLOBEX,
    BotProcess,
    StandIns,
    add_invoices,
    approval_messages,
    approve_click,
    connect_uk,
    connect_uk_from,
    eventually,
    export_command,
    install_workspace,
    invoices_in_xero,
    new_bot,
    uk_tenant,
)

KILLS = int(os.environ.get("FAULT_KILLS", "30"))
SEED = int(os.environ.get("FAULT_SEED", "8"))
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)
HOOKS = ("after_refresh_answer", "after_xero_create", "before_xero_create")
REQUESTER, APPROVER, ADMIN = "U0MEMBER", "U0APPROVER", "U0ADMIN"

# What a kill may leave unfinished and must not: exports, their messages and imports. (The Xero sync's
# periodic scan may rightly wait a minute for Xero's per-minute budget: it is not part of these stories.)
UNFINISHED_WORK = {"state": {"$in": ["queued", "running"]},
                   "kind": {"$in": ["export.run", "slack.redraw_export", "import.customers", "import.purchase_orders"]}}



@pytest.fixture
async def bot(stand_ins, mongo_uri, storage, tmp_path):
    process = new_bot(stand_ins, mongo_uri, storage.db.name, tmp_path)
    await process.start()
    yield process
    process.stop()


# ----------------------------------------------------------------------------- what a person does


def about(stand_ins: StandIns, reference: str) -> list[dict]:
    """Every message (not ephemeral) that mentions the invoice, in every channel and DM."""
    return [m for m in stand_ins.slack.all_messages()
            if not m.get("ephemeral_to") and reference in (m.get("text", "") + json.dumps(m.get("blocks")))]


def action_ids(message: dict) -> set[str]:
    return {e.get("action_id") for b in message.get("blocks", []) if b.get("type") == "actions"
            for e in b.get("elements", [])} | {b["accessory"].get("action_id") for b in message.get("blocks", [])
                                               if b.get("accessory")}


async def type_export(stand_ins: StandIns, reference: str) -> None:
    await stand_ins.ui("message", user=REQUESTER, channel="C0GENERAL", text=f"/xero export {reference}")


async def click_approve(stand_ins: StandIns, job: dict) -> dict:
    message = stand_ins.slack.find_message(job["approval_channel"], job["approval_ts"])
    block = next(b for b in message["blocks"] if b.get("type") == "actions"
                 and any(e.get("action_id") == "export_approve" for e in b["elements"]))
    return await stand_ins.ui("action", user=APPROVER, block_id=block["block_id"], action_id="export_approve",
                              channel=job["approval_channel"], message_ts=job["approval_ts"])


async def while_killing(bot: BotProcess, action, delay: float) -> None:
    """Starts what a person does, and kills the bot `delay` seconds later (whether or not it is done)."""
    task = asyncio.create_task(action)
    await asyncio.sleep(delay)
    bot.kill()
    try:
        await asyncio.wait_for(task, 10)
    except Exception:  # the bot died under the request: Slack shows an error, as it would
        pass


# ----------------------------------------------------------------------------- the invariants


async def all_work_done(storage) -> None:
    """No export or redraw left to run. Waited for: the redraw job that saved the last message is still
    finishing (marked done right after) when the export's state already shows it, more so on a loaded machine."""
    async def nothing_left() -> bool:
        return await storage.jobs.count_documents(UNFINISHED_WORK) == 0

    await eventually(nothing_left, timeout=10)


async def check_final(stand_ins: StandIns, storage, reference: str) -> None:
    assert len(invoices_in_xero(stand_ins, reference)) == 1, f"{reference}: not exactly one invoice in Xero"
    jobs = [j async for j in storage.export_jobs.find({"reference": reference})]
    assert [j["state"] for j in jobs] == ["exported"], f"{reference}: {[j['state'] for j in jobs]}"
    await all_work_done(storage)
    messages = about(stand_ins, reference)
    approval = [m for m in messages if m["channel"] == "C0APPROVALS"]
    assert len(approval) == 1, f"{reference}: {len(approval)} approval messages"
    for message in messages:
        shown = message["text"] + json.dumps(message["blocks"])
        assert "Exporting" not in shown and "Approval needed" not in shown, f"{reference}: {message['text']}"
        assert not action_ids(message) & {"export_approve", "export_reject", "export_retry"}, shown
    dms = [m for m in messages if m["channel"].startswith("D")]
    told = ("is in Xero", "since retried", "went through when retried")  # the last: an earlier failure's DM
    assert dms and all(any(words in m["text"] for words in told) for m in dms), dms


async def settled(stand_ins: StandIns, storage, reference: str) -> bool:
    job = await storage.export_jobs.find_one({"reference": reference})
    if job is None or job["state"] != "exported" or job.get("needs_redraw") != 0:
        return False
    if await storage.jobs.count_documents(UNFINISHED_WORK):
        return False
    return any(m["channel"].startswith("D") for m in about(stand_ins, reference))


# ----------------------------------------------------------------------------- one export, killed thrice


async def export_with_kills(stand_ins: StandIns, storage, bot: BotProcess, reference: str,
                            rng: random.Random, hook: str | None) -> None:
    # 1. The request, killed at a random moment; the requester asks again only if nothing was kept.
    await while_killing(bot, type_export(stand_ins, reference), rng.uniform(0.0, 0.4))
    await bot.start()

    async def requested():
        return await storage.export_jobs.find_one({"reference": reference, "approval_ts": {"$ne": None}})

    if await storage.export_jobs.find_one({"reference": reference}) is None:
        await type_export(stand_ins, reference)
    job = await eventually(requested)

    # 2. The approval, killed at a named point (crash hook) or after a random delay.
    if hook:
        bot.stop()
        if hook == "after_refresh_answer":  # the access token is due: the export must refresh it first
            await storage.token_sets.update_many({}, {"$set": {"expires_at": LONG_AGO}})
        await bot.start(BOT_CRASH_AT=hook)
        await click_approve(stand_ins, job)
        assert await bot.wait_dead(75), f"the bot did not reach {hook}"  # it may wait for Xero's next minute
    else:
        await while_killing(bot, click_approve(stand_ins, job), rng.uniform(0.0, 1.0))
    await bot.start()
    await asyncio.sleep(0.3)
    if (await storage.export_jobs.find_one({"_id": job["_id"]}))["state"] == "pending":
        await click_approve(stand_ins, job)  # the click was lost with the process: the button is still there

    # 3. Once more while the export or its messages may be under way.
    await asyncio.sleep(rng.uniform(0.0, 1.0))
    bot.kill()
    await bot.start()
    # Up to 150 s: after a dozen exports the bot rightly waits for Xero's next minute (60 calls a minute), and a
    # loaded machine slows each step.
    await eventually(lambda: settled(stand_ins, storage, reference), timeout=150)
    await check_final(stand_ins, storage, reference)


async def test_exports_survive_sigkill_at_random_points(stand_ins, storage, bot):
    rng = random.Random(SEED)
    await connect_uk(stand_ins, storage)
    references = add_invoices(stand_ins, KILLS // 3 + 5)
    started = time.monotonic()
    for run, reference in enumerate(references):
        if bot.kills >= KILLS:
            break
        hook = HOOKS[run] if run < len(HOOKS) else (rng.choice(HOOKS) if rng.random() < 0.3 else None)
        await export_with_kills(stand_ins, storage, bot, reference, rng, hook)
    assert bot.kills >= KILLS
    tenant = await storage.tenants.find_one({})
    assert tenant["status"] == "connected"  # refreshes that died half-way did not cost the connection
    print(f"\nfault injection: {bot.kills} kills, {run + 1} exports, seed {SEED}, "
          f"{time.monotonic() - started:.0f} s")


async def test_a_kill_after_xero_answered_a_refresh_and_before_the_save_leaves_the_organisation_connected(
        stand_ins, storage, bot):
    await connect_uk(stand_ins, storage)
    [reference] = add_invoices(stand_ins, 1, first=9801)
    await type_export(stand_ins, reference)
    job = await eventually(lambda: storage.export_jobs.find_one({"reference": reference,
                                                                 "approval_ts": {"$ne": None}}))
    before = stand_ins.xero.token_endpoint_calls["refresh_token"]
    bot.stop()
    await storage.token_sets.update_many({}, {"$set": {"expires_at": LONG_AGO}})
    await bot.start(BOT_CRASH_AT="after_refresh_answer")
    await click_approve(stand_ins, job)
    assert await bot.wait_dead(15)
    assert stand_ins.xero.token_endpoint_calls["refresh_token"] == before + 1  # Xero rotated; we lost the answer

    await bot.start()  # the stored refresh token is the previous one: Xero's grace period lets it through
    await eventually(lambda: settled(stand_ins, storage, reference))
    await check_final(stand_ins, storage, reference)
    assert (await storage.tenants.find_one({}))["status"] == "connected"
    assert stand_ins.xero.token_endpoint_calls["refresh_token"] == before + 2


def customer_to_import(stand_ins: StandIns) -> tuple[dict, dict]:
    """A Xero customer that is not (nor resembles) a Forecast client yet, and the modal values that pick it."""
    tenant = uk_tenant(stand_ins)
    known = {similar_name_key(c["name"]) for c in stand_ins.forecast.rows("clients")}
    contact = next(c for c in stand_ins.xero.organisations[tenant]["Contacts"].values()
                   if c["IsCustomer"] and similar_name_key(c["Name"]) not in known)
    picked = {import_blocks.CUSTOMERS_BLOCK: {import_blocks.CUSTOMERS_ACTION: {
        "type": "multi_external_select",
        "selected_options": [{"value": import_blocks.pair_value(tenant, contact["ContactID"]),
                              "text": {"type": "plain_text", "text": contact["Name"]}}]}}}
    return contact, picked


async def import_customer(stand_ins: StandIns, picked: dict) -> None:
    """/xero import customers as Ada, then Import with the customer picked."""
    seen = {record["view"]["id"] for record in stand_ins.slack.modal_stack(ADMIN)}
    await stand_ins.ui("message", user=ADMIN, channel="C0GENERAL", text="/xero import customers")

    async def loaded_modal():  # the new modal, once the customers are in it (not a stale one)
        top = stand_ins.slack.top_view(ADMIN)
        if top and top["view"]["id"] not in seen and any(
                b.get("block_id") == import_blocks.CUSTOMERS_BLOCK for b in top["view"]["blocks"]):
            return top["view"]["id"]
        return None

    view_id = await eventually(loaded_modal)
    await stand_ins.ui("submit", user=ADMIN, view_id=view_id, state_values=picked)


async def imported_once(stand_ins: StandIns, storage, contact: dict) -> None:
    async def summary():
        return next((m for m in stand_ins.slack.messages("C0GENERAL", viewer=ADMIN)
                     if m.get("ephemeral_to") == ADMIN and contact["Name"] in json.dumps(m.get("blocks"))
                     and ("created" in m["text"] or "linked" in m["text"])), None)

    await eventually(summary)
    clients = [c for c in stand_ins.forecast.rows("clients") if c["name"] == contact["Name"].strip()]
    assert len(clients) == 1
    link = await storage.links.find_one({"kind": "client", "xero_id": contact["ContactID"], "status": "linked"})
    assert link is not None and link["forecast_id"] == str(clients[0]["id"])


async def test_a_customer_import_killed_at_random_points_creates_the_client_once(stand_ins, storage, bot):
    await connect_uk(stand_ins, storage)
    contact, picked = customer_to_import(stand_ins)
    rng = random.Random(SEED)
    for _ in range(3):  # each kill lands somewhere else in the import
        await while_killing(bot, import_customer(stand_ins, picked), rng.uniform(0.0, 0.6))
        await bot.start()
    await asyncio.sleep(2.5)  # a claim the dead process held expires (IMPORT_CLAIM_SECONDS=2 here)
    await import_customer(stand_ins, picked)  # Ada imports again, in case no kill left a job to resume
    await imported_once(stand_ins, storage, contact)


async def test_an_import_whose_process_died_after_creating_the_client_finishes_by_itself(stand_ins, storage, bot):
    await connect_uk(stand_ins, storage)
    contact, picked = customer_to_import(stand_ins)
    bot.stop()
    await bot.start(BOT_CRASH_AT="after_forecast_client_created")
    await import_customer(stand_ins, picked)
    assert await bot.wait_dead(15)
    await bot.start()  # nobody submits again: the import job is taken over and links the client it made
    await imported_once(stand_ins, storage, contact)

    async def nothing_left_running() -> bool:  # the summary is posted just before its job is marked done
        return await storage.jobs.count_documents(UNFINISHED_WORK) == 0

    await eventually(nothing_left_running, timeout=5)


async def test_a_kill_between_posting_the_approval_message_and_saving_it_finds_the_message_instead_of_posting_again(
        stand_ins, storage, bot):
    await connect_uk(stand_ins, storage)
    [reference] = add_invoices(stand_ins, 1, first=9901)
    bot.stop()
    await bot.start(BOT_CRASH_AT="after_approval_post")
    await type_export(stand_ins, reference)
    assert await bot.wait_dead(15)
    await bot.start()
    job = await eventually(lambda: storage.export_jobs.find_one({"reference": reference,
                                                                 "approval_ts": {"$ne": None}}))
    posted = [m for m in about(stand_ins, reference) if m["channel"] == "C0APPROVALS"]
    assert [m["ts"] for m in posted] == [job["approval_ts"]]  # the lost post was found by its metadata
    await click_approve(stand_ins, job)
    await eventually(lambda: settled(stand_ins, storage, reference))

    async def final():
        [message] = [m for m in about(stand_ins, reference) if m["channel"] == "C0APPROVALS"]
        return "Exported to" in json.dumps(message["blocks"]) and not action_ids(message) & {"export_approve"}

    await eventually(final)
    assert len(invoices_in_xero(stand_ins, reference)) == 1


async def test_kills_after_slack_took_a_batchs_approval_message_and_its_dm_repeat_neither(stand_ins, storage, bot):
    await connect_uk(stand_ins, storage)
    first, second = add_invoices(stand_ins, 2, first=9961)
    bot.stop()
    await bot.start(BOT_CRASH_AT="after_batch_approval_post")
    await type_export(stand_ins, f"{first} {second}")
    assert await bot.wait_dead(15)
    assert [m for m in about(stand_ins, first) if m["channel"] == "C0APPROVALS"]  # Slack has it; the bot died
    await bot.start(BOT_CRASH_AT="after_batch_dm_post")
    async def posted_batch():
        found = await storage.export_batches.find_one({})
        return found if found and found.get("approval_ts") else None

    batch = await eventually(posted_batch)
    [message] = [m for m in about(stand_ins, first) if m["channel"] == "C0APPROVALS"]
    assert message["ts"] == batch["approval_ts"]  # the lost post was found by its metadata, not posted again

    approve = next(b for b in message["blocks"] if b.get("type") == "actions"
                   and any(e.get("action_id") == "batch_approve_all" for e in b["elements"]))
    await stand_ins.ui("action", user=APPROVER, block_id=approve["block_id"], action_id="batch_approve_all",
                       channel="C0APPROVALS", message_ts=message["ts"])
    assert await bot.wait_dead(30)  # after Slack took the requester's DM
    await bot.start()

    async def told_once():
        stored = await storage.export_batches.find_one({"_id": batch["_id"]})
        return stored.get("requester_dm") and stored

    done = await eventually(told_once, timeout=30)
    dms = [m for m in stand_ins.slack.all_messages() if m["channel"].startswith("D")
           and (m.get("metadata") or {}).get("event_type") == "ledgerline_batch_requester_dm"]
    assert [m["ts"] for m in dms] == [done["requester_dm"]["ts"]]  # found again, not posted twice
    assert len([m for m in about(stand_ins, first) if m["channel"] == "C0APPROVALS"]) == 1
    assert len(invoices_in_xero(stand_ins, first)) == len(invoices_in_xero(stand_ins, second)) == 1


async def test_an_export_whose_process_dies_in_every_attempt_ends_failed_with_retry(stand_ins, storage, bot):
    await connect_uk(stand_ins, storage)
    [reference] = add_invoices(stand_ins, 1, first=9951)
    await type_export(stand_ins, reference)
    job = await eventually(lambda: storage.export_jobs.find_one({"reference": reference,
                                                                 "approval_ts": {"$ne": None}}))
    bot.stop()
    await bot.start(BOT_CRASH_AT="export_attempt")
    await click_approve(stand_ins, job)
    for _ in range(5):  # a crash loop: each restart takes the job over and dies in it again
        assert await bot.wait_dead(15)
        await bot.start(BOT_CRASH_AT="export_attempt")

    async def failed_loudly():
        stored = await storage.export_jobs.find_one({"_id": job["_id"]})
        return stored["state"] == "failed" and stored.get("needs_redraw") == 0 and stored

    failed = await eventually(failed_loudly)
    [notice] = failed["notices"]
    shown = stand_ins.slack.find_message(notice["channel"], notice["ts"])
    assert "export_retry" in action_ids(shown) and "on our side" in shown["text"]
    await all_work_done(storage)

    bot.stop()
    await bot.start()
    retry = next(b for b in shown["blocks"] if b.get("type") == "actions")
    await stand_ins.ui("action", user=APPROVER, block_id=retry["block_id"], action_id="export_retry",
                       channel=notice["channel"], message_ts=notice["ts"])  # Retry works at once
    await eventually(lambda: settled(stand_ins, storage, reference))
    await check_final(stand_ins, storage, reference)


# ----------------------------------------------------------------------------- kills between a post and its save


async def requested_job(stand_ins: StandIns, storage, reference: str) -> dict:
    await type_export(stand_ins, reference)
    return await eventually(lambda: storage.export_jobs.find_one({"reference": reference,
                                                                  "approval_ts": {"$ne": None}}))


async def test_a_kill_between_posting_the_requesters_dm_and_saving_it_finds_the_dm_instead_of_posting_again(
        stand_ins, storage, bot):
    await connect_uk(stand_ins, storage)
    [reference] = add_invoices(stand_ins, 1, first=9911)
    job = await requested_job(stand_ins, storage, reference)
    bot.stop()
    await bot.start(BOT_CRASH_AT="after_requester_dm_post")
    await click_approve(stand_ins, job)
    assert await bot.wait_dead(30)
    assert [m for m in about(stand_ins, reference) if m["channel"].startswith("D")]  # Slack has it; the bot died
    await bot.start()
    await eventually(lambda: settled(stand_ins, storage, reference))
    await check_final(stand_ins, storage, reference)
    assert len([m for m in about(stand_ins, reference) if m["channel"].startswith("D")]) == 1


async def test_a_kill_between_posting_a_failure_notice_and_saving_it_finds_the_notice_instead_of_posting_again(
        stand_ins, storage, bot):
    await connect_uk(stand_ins, storage)
    [reference] = add_invoices(stand_ins, 1, first=9921)
    job = await requested_job(stand_ins, storage, reference)
    bot.stop()
    await bot.start(BOT_CRASH_AT="after_failure_notice_post")
    stand_ins.xero.inject_fault("validation", count=1, resource="Invoices", method="PUT")
    await click_approve(stand_ins, job)
    assert await bot.wait_dead(30)
    await bot.start()

    async def failed_and_told():
        stored = await storage.export_jobs.find_one({"_id": job["_id"]})
        told = [m for m in about(stand_ins, reference) if m["channel"].startswith("D")]
        return stored["state"] == "failed" and stored.get("needs_redraw") == 0 and told and stored

    failed = await eventually(failed_and_told)
    notices = [m for m in about(stand_ins, reference) if m["channel"] == "C0ALERTS"]
    assert len(notices) == 1, [m["text"] for m in notices]
    assert [(n["channel"], n["ts"]) for n in failed["notices"]] == [("C0ALERTS", notices[0]["ts"])]
    assert "export_retry" in action_ids(notices[0])
    assert len([m for m in about(stand_ins, reference) if m["channel"].startswith("D")]) == 1


async def exported(stand_ins: StandIns, storage, *, first: int) -> tuple[str, dict, dict]:
    """A new invoice, requested, approved and in Xero: its reference, export job and Xero invoice."""
    await connect_uk(stand_ins, storage)
    [reference] = add_invoices(stand_ins, 1, first=first)
    job = await requested_job(stand_ins, storage, reference)
    await click_approve(stand_ins, job)
    await eventually(lambda: settled(stand_ins, storage, reference))
    [invoice] = invoices_in_xero(stand_ins, reference)
    return reference, job, invoice


async def post_bookkeeping(stand_ins: StandIns, path: str, form: dict | None = None) -> None:
    """What an accountant does in Xero (the stand-in's bookkeeping page); Xero sends the bot a webhook."""
    async with stand_ins.http.post(f"{stand_ins.plan.sandbox_url}/xero{path}", data=form or {},
                                   allow_redirects=False) as answer:
        assert answer.status == 303, await answer.text()


async def test_kills_after_a_sync_notice_is_posted_and_after_a_payment_is_written_lose_and_repeat_nothing(
        stand_ins, storage, bot):
    reference, job, invoice = await exported(stand_ins, storage, first=9931)
    path = f"/invoices/{uk_tenant(stand_ins)}/{invoice['InvoiceID']}"

    def replies(words: str) -> list[dict]:
        return [m for m in stand_ins.slack.messages("C0APPROVALS") if m.get("thread_ts") == job["approval_ts"]
                and words in m["text"]]

    # 1. Approved in Xero: the sync's thread reply is posted, and the bot dies before it marks it sent.
    bot.stop()
    await bot.start(BOT_CRASH_AT="after_sync_notice_post")
    await post_bookkeeping(stand_ins, path + "/approve")
    assert await bot.wait_dead(30)
    assert len(replies("is now")) == 1
    await bot.start()

    async def all_sent():
        return await storage.sync_notices.count_documents({"state": {"$ne": "sent"}}) == 0 and \
            await storage.sync_notices.count_documents({}) > 0

    await eventually(all_sent)
    assert len(replies("is now")) == 1  # found in the thread by its metadata, not posted again

    # 2. Paid in Xero: the payment is written into Forecast, and the bot dies before the notice is saved.
    bot.stop()
    await bot.start(BOT_CRASH_AT="after_forecast_payment_created")
    await post_bookkeeping(stand_ins, path + "/payments", {"amount": str(invoice["Total"])})
    assert await bot.wait_dead(30)
    forecast_invoice = next(i for i in stand_ins.forecast.rows("invoices") if i["invoice_reference"] == reference)
    assert len(forecast_invoice.get("payments") or []) == 1
    assert replies("A payment of") == []
    await bot.start()

    async def told_once():
        return replies("A payment of") and await storage.sync_notices.count_documents({"state": {"$ne": "sent"}}) == 0

    await eventually(told_once, timeout=40)
    await asyncio.sleep(1.0)  # nothing more arrives later
    assert len(replies("A payment of")) == 1
    assert len(forecast_invoice["payments"]) == 1
    assert await storage.links.count_documents({"kind": "payment", "status": "linked"}) == 1


async def test_a_kill_after_a_client_is_updated_in_forecast_still_tells_the_notify_channel_once(
        stand_ins, storage, bot):
    reference, job, invoice = await exported(stand_ins, storage, first=9941)
    tenant = uk_tenant(stand_ins)
    contact = stand_ins.xero.organisations[tenant]["Contacts"][invoice["Contact"]["ContactID"]]
    street = next((a for a in contact.get("Addresses", []) if a.get("AddressType") == "STREET"), {})
    new_name = f"{contact['Name']} Group"

    bot.stop()
    await bot.start(BOT_CRASH_AT="after_forecast_client_updated")
    await post_bookkeeping(stand_ins, f"/contacts/{tenant}/{contact['ContactID']}", {
        "name": new_name, "tax_number": contact.get("TaxNumber") or "", "street": street.get("AddressLine1") or "",
        "city": street.get("City") or "", "postal_code": street.get("PostalCode") or ""})
    assert await bot.wait_dead(30)
    assert any(c["name"] == new_name for c in stand_ins.forecast.rows("clients"))  # written; nobody told yet

    def told() -> list[dict]:
        return [m for m in stand_ins.slack.messages("C0ALERTS") if new_name in m["text"] + json.dumps(m["blocks"])]

    assert told() == []
    await bot.start()

    async def told_once():
        return told() and await storage.sync_notices.count_documents({"state": {"$ne": "sent"}}) == 0

    await eventually(told_once, timeout=40)
    await asyncio.sleep(1.0)  # nothing more arrives later
    assert len(told()) == 1


async def test_a_kill_between_the_commands_ack_and_its_answer_is_told_to_the_person_after_the_restart(
        stand_ins, storage, bot):
    await connect_uk(stand_ins, storage)
    [reference] = add_invoices(stand_ins, 1, first=9951)
    bot.stop()
    await bot.start(BOT_CRASH_AT="after_command_ack")
    await type_export(stand_ins, reference)
    assert await bot.wait_dead(15)
    assert await storage.slash_commands.count_documents({}) == 1  # saved before the ack
    assert await storage.export_jobs.count_documents({"reference": reference}) == 0  # the handler never ran
    await bot.start()

    async def told():
        return [m for m in stand_ins.slack.all_messages() if m.get("ephemeral_to") == REQUESTER
                and "I stopped before answering" in json.dumps(m)]

    [notice] = await eventually(told)
    assert f"/xero export {reference}" in json.dumps(notice)
    assert await eventually(lambda: _none_left(storage))
    await type_export(stand_ins, reference)  # typed again, as the notice says: it goes for approval
    await eventually(lambda: storage.export_jobs.find_one({"reference": reference, "approval_ts": {"$ne": None}}))
    await asyncio.sleep(0.5)
    assert len(await told()) == 1  # told once


async def _none_left(storage) -> bool:
    return await storage.slash_commands.count_documents({}) == 0


# ----------------------------------------------------------------------------- two installed workspaces


async def together(requests) -> list:
    """Requests sent at the same moment; one the bot died under is an error, as Slack shows it."""
    return await asyncio.gather(*requests, return_exceptions=True)


@pytest.fixture
async def two_workspace_bot(stand_ins, mongo_uri, storage, tmp_path):
    """One bot process serving two installed workspaces (Add to Slack): the sandbox's and Globex Finance."""
    process = new_bot(stand_ins, mongo_uri, storage.db.name, tmp_path, distributed=True)
    try:  # stopped even when the start or an install fails
        await process.start()
        await install_workspace(stand_ins, process, TEAM["id"])
        await install_workspace(stand_ins, process, GLOBEX)
        yield process
    finally:
        process.stop()


async def test_two_workspaces_exporting_at_once_through_kills_duplicate_and_cross_nothing(
        stand_ins, storage, two_workspace_bot):
    bot, rng = two_workspace_bot, random.Random(SEED)
    await connect_uk(stand_ins, storage)
    await connect_uk_from(stand_ins, bot, GLOBEX)  # the same Xero organisation: a connection of its own
    ours, theirs = add_invoices(stand_ins, 3, first=6001), add_invoices(stand_ins, 3, first=6101)
    owner = {**{reference: TEAM["id"] for reference in ours}, **{reference: GLOBEX for reference in theirs}}

    # Both workspaces ask at the same moment; the bot dies under the requests.
    asked = together(export_command(stand_ins, bot, reference, team) for reference, team in owner.items())
    await while_killing(bot, asked, rng.uniform(0.0, 0.3))
    await bot.start()
    for reference, team in owner.items():  # a requester whose request was lost asks again
        if await storage.export_jobs.find_one({"reference": reference}) is None:
            assert await export_command(stand_ins, bot, reference, team) == 200

    async def all_requested():
        return await storage.export_jobs.count_documents({"approval_ts": {"$ne": None}}) == len(owner)

    await eventually(all_requested)

    # Both workspaces' approvers click at the same moment; the bot dies under the exports.
    jobs = [j async for j in storage.export_jobs.find({})]
    clicks = together(approve_click(stand_ins, bot, job, APPROVER) for job in jobs)
    await while_killing(bot, clicks, rng.uniform(0.2, 1.0))
    await bot.start()
    await asyncio.sleep(0.3)
    for job in jobs:
        if (await storage.export_jobs.find_one({"_id": job["_id"]}))["state"] == "pending":
            assert await approve_click(stand_ins, bot, job, APPROVER) == 200  # the click was lost with the process
    await asyncio.sleep(rng.uniform(0.0, 1.0))
    bot.kill()
    await bot.start()

    async def all_exported():
        return await storage.export_jobs.count_documents({"state": "exported"}) == len(owner)

    await eventually(all_exported, timeout=90)
    await all_work_done(storage)
    assert bot.kills >= 2
    for reference, team in owner.items():
        assert len(invoices_in_xero(stand_ins, reference)) == 1, reference
        assert [j["team_id"] async for j in storage.export_jobs.find({"reference": reference})] == [team]
    assert approval_messages(stand_ins) == Counter({(team, reference): 1 for reference, team in owner.items()})
