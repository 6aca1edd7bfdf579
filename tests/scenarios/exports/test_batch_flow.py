"""Month-end in one go, through the real routes: several invoices, one answer, one approval message, Approve all."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.platform.jobs import Job
from tests.support.export_flow import CLIENT, US_TAX, invoice, prepare
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import UK, UK_TENANT, US, US_TENANT


def text_of(payload) -> str:
    return json.dumps(payload.get("blocks"), ensure_ascii=False) + " " + str(payload.get("text"))

GLOBEX = {**CLIENT, "id": 8, "name": "Globex Inc", "country": "US"}
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def batch_id_of(message) -> str:
    return next(e["value"] for b in message["blocks"] if b["type"] == "actions"
                for e in b["elements"] if e.get("action_id") == "batch_approve_all")


async def batch_message(bot):
    return await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "C0APPROVALS"
                                    and "batch_approve_all" in json.dumps(c.get("blocks")))


async def batch_shows(bot, message, words: str, timeout: float = 15.0):
    """The batch's approval message redrawn to say `words`."""
    batch = await bot.storage.db["export_batches"].find_one({"_id": batch_id_of(message)})
    return await bot.slack.wait_for("chat.update", lambda c: c.get("ts") == batch["approval_ts"]
                                    and words in text_of(c), timeout)


def invoices_with(n: int, *, client: int = 7, currency: str = "GBP", status: str = "SENT", **changes) -> dict:
    return invoice(id=n, company_invoice_id=n, invoice_reference=f"INV-{n}", client_id=client, currency=currency,
                   status=status, **changes)


async def test_several_references_and_a_range_make_one_batch_one_message_and_one_answer(bot, xero):
    await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102), invoices_with(103)])
    name = await bot.command("export INV-101..INV-102, INV-103 INV-999 INV-9..INV-1", user="U0MEMBER")
    answer = await bot.reply_to(name)
    said = text_of(answer)
    assert "3 invoices went to <#C0APPROVALS> for approval" in said
    assert "`INV-999` — no Forecast invoice has this reference" in said
    assert "INV-9..INV-1" in said and "the range runs backwards" in said

    message = await batch_message(bot)
    lines = text_of(message)
    assert all(f"INV-{n}" in lines for n in (101, 102, 103)) and "Approve all (3)" in lines
    assert "Acme Ltd" in lines and "Demo Company (UK)" in lines and "ready" in lines
    assert "Draft" in lines  # the export status setting
    assert len([c for c in bot.slack.called("chat.postMessage") if c["channel"] == "C0APPROVALS"]) == 1
    assert len([c for c in bot.slack.called("response_url") if c["name"] == name]) == 1
    jobs = [doc async for doc in bot.storage.export_jobs.find({})]
    assert {j["state"] for j in jobs} == {"pending"} and len({j["batch_id"] for j in jobs}) == 1


async def test_export_unexported_as_one_batch_approve_all_exports_every_invoice(bot, xero):
    books = await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102, status="APPROVED"),
                                               invoices_with(103, status="DRAFT")])
    said = text_of(await bot.ask("export unexported", user="U0MEMBER"))
    assert "2 invoices went to" in said
    message = await batch_message(bot)
    assert "INV-103" not in text_of(message)  # a draft in Forecast is not picked

    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    done = await batch_shows(bot, message, "Exported 2 invoices to Xero")
    assert text_of(done).count("created as") == 2 and "(Draft)" in text_of(done)
    assert sorted(i["InvoiceNumber"] for i in books.invoices(UK_TENANT)) == ["INV-101", "INV-102"]
    assert len(books.sent("PUT", "Invoices")) == 1  # one request for the organisation
    put = books.sent("PUT", "Invoices")[0]
    assert "summarizeErrors=false" in put.url and put.headers["Idempotency-Key"].startswith("fc-batch:")
    states = {j["reference"]: (j["state"], j["approved_by"]) async for j in bot.storage.export_jobs.find({})}
    assert states == {"INV-101": ("exported", "U0APPROVER"), "INV-102": ("exported", "U0APPROVER")}
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0MEMBER")
    assert "Exported 2 invoices" in text_of(dm)


def refuse_in_xero(books, number: str, why: str) -> None:
    """Xero answers the batch create with a validation error for this invoice only (summarizeErrors=false)."""
    books.refuse_invoice(number, why)


async def test_a_batch_across_two_organisations_reports_each_failure_on_its_line_and_exports_the_rest(bot, xero):
    books = await prepare(bot, xero, tenants=(UK, US), clients=[CLIENT, GLOBEX], invoices=[
        invoices_with(101), invoices_with(102, currency="JPY"),
        invoices_with(201, client=8, currency="USD", entries=US_TAX),
        invoices_with(202, client=8, currency="USD", entries=US_TAX), invoices_with(301, client=9)])
    await bot.container.links.link(TEAM_ID, "client", 7, UK_TENANT, xero_id=books.add_contact(UK_TENANT, "Acme Ltd"))
    await bot.container.links.link(TEAM_ID, "client", 8, US_TENANT,
                                   xero_id=books.add_contact(US_TENANT, "Globex Inc"))
    refuse_in_xero(books, "INV-101", "Contact is archived")
    said = text_of(await bot.ask("export INV-101 INV-102 INV-201 INV-202 INV-301", user="U0MEMBER"))
    assert "4 invoices went" in said and "`INV-301` — it has no client in Forecast" in said
    message = await batch_message(bot)
    lines = text_of(message)
    assert "JPY is not enabled there" in lines and "Approve ready only (3)" in lines

    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    done = await batch_shows(bot, message, "Exported 2 of 4 invoices to Xero")  # counts what happened
    shown = text_of(done)
    assert "Exported 4 invoices" not in shown
    assert "Xero refused it: Contact is archived" in shown and "not exported" in shown
    states = {j["reference"]: j["state"] async for j in bot.storage.export_jobs.find({})}
    assert states == {"INV-101": "failed", "INV-102": "failed", "INV-201": "exported", "INV-202": "exported"}
    assert "*2* created · *1* refused by Xero · *1* not exportable" in shown
    assert sorted(i["InvoiceNumber"] for i in books.invoices(US_TENANT)) == ["INV-201", "INV-202"]
    assert len(books.sent("PUT", "Invoices")) == 2  # one request per organisation


async def test_approve_ready_only_leaves_the_others_out_not_rejected_in_the_header_the_dm_and_home(bot, xero):
    books = await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102, currency="JPY")])
    await bot.ask("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    assert "Approve ready only (1)" in text_of(message)

    await bot.click("batch_approve_ready", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    done = await batch_shows(bot, message, "Exported 1 of 2 invoices to Xero")
    shown = text_of(done)
    assert "*1* created · *1* left out (to ask for again)" in shown
    assert "left out" in shown and "`/xero export INV-102` asks for it again" in shown
    assert "not exportable" not in shown and "rejected" not in shown.lower()
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0MEMBER"
                                  and "Exported 1 of 2" in text_of(c))
    assert "left out" in text_of(dm)
    home = json.dumps(await bot.open_home("U0MEMBER"))
    assert "INV-102" in home and "left out of its batch" in home and ":no_entry_sign: rejected" not in home
    left = await bot.storage.export_jobs.find_one({"reference": "INV-102"})
    assert left["left_out"] and left["rejected_by"] is None
    assert [i["InvoiceNumber"] for i in books.invoices(UK_TENANT)] == ["INV-101"]
    again = text_of(await bot.ask("export INV-102", user="U0MEMBER"))  # asked for again, as the line says
    assert "already" not in again.lower()


async def test_only_approvers_other_than_the_requester_decide_and_reject_rejects_the_whole_batch(bot, xero):
    books = await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102)])
    await bot.ask("export INV-101 INV-102", user="U0ADMIN")
    message = await batch_message(bot)
    batch = batch_id_of(message)
    own = await bot.click("batch_approve_all", batch, user="U0ADMIN", channel="C0APPROVALS")
    assert "someone else must approve" in text_of(await bot.reply_to(own))
    member = await bot.click("batch_approve_all", batch, user="U0MEMBER", channel="C0APPROVALS")
    assert "Only approvers" in text_of(await bot.reply_to(member))

    await bot.click("batch_reject", batch, user="U0APPROVER", channel="C0APPROVALS")
    await bot.submit((await bot.slack.wait_for("views.open"))["view"], user="U0APPROVER")  # no reason given
    await batch_shows(bot, message, "(no reason given)")
    late = await bot.click("batch_approve_all", batch, user="U0APPROVER", channel="C0APPROVALS")
    assert "already approved or rejected" in text_of(await bot.reply_to(late))
    assert {j["state"] async for j in bot.storage.export_jobs.find({})} == {"rejected"}
    assert books.sent("PUT", "Invoices") == []


async def test_a_batch_job_run_again_after_a_crash_creates_nothing_twice(bot, xero):
    books = await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102)])
    await bot.ask("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    batch = batch_id_of(message)
    await bot.click("batch_approve_all", batch, user="U0APPROVER", channel="C0APPROVALS")
    await batch_shows(bot, message, "Exported 2 invoices")

    # As if the process died after Xero created the invoices and before anything was saved: the jobs are
    # still exporting, no link exists, and the lease expires, so another process runs the job again.
    await bot.storage.export_jobs.update_many({}, {"$set": {"state": "exporting"}})
    await bot.storage.links.delete_many({"kind": "invoice"})
    rerun = Job(id="again", kind="export.batch", key=f"batch:{TEAM_ID}:{batch}:{UK_TENANT}", state="running",
                due_at=LONG_AGO, created_at=LONG_AGO,
                payload={"team_id": TEAM_ID, "batch_id": batch, "tenant_id": UK_TENANT})
    await bot.container.batches.run_batch_job(rerun)

    assert sorted(i["InvoiceNumber"] for i in books.invoices(UK_TENANT)) == ["INV-101", "INV-102"]
    jobs = [j async for j in bot.storage.export_jobs.find({})]
    assert {(j["state"], j["outcome"]) for j in jobs} == {("exported", "linked_existing")}
    assert await bot.storage.links.count_documents({"kind": "invoice"}) == 2


async def test_an_invoice_exported_to_a_removed_organisation_goes_again_only_when_an_admin_picks_it(bot, xero):
    bot.slack.users["U0FINANCE"] = {"id": "U0FINANCE", "is_admin": False}
    books = await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102)],
                          settings={"approver_users": ["U0FINANCE", "U0APPROVER"]})
    await bot.container.links.link(TEAM_ID, "invoice", 101, "removed-org", xero_id="old", xero_number="INV-101")
    await bot.storage.links.update_one({"forecast_id": "101"}, {"$set": {"status": "unlinked"}})  # as removal does
    await bot.ask("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    assert "exported before to an organisation since removed" in text_of(message)
    picked = {"batch_allow_duplicates_block": {"batch_allow_duplicates": {
        "type": "multi_static_select", "selected_options": [{"text": {"type": "plain_text", "text": "INV-101"},
                                                             "value": "INV-101"}]}}}

    not_admin = await bot.click("batch_approve_all", batch_id_of(message), user="U0FINANCE", channel="C0APPROVALS",
                                state=picked)
    assert "Only a workspace admin" in text_of(await bot.reply_to(not_admin))
    assert books.sent("PUT", "Invoices") == []

    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS", state=picked)
    await batch_shows(bot, message, "Exported 2 invoices")
    assert sorted(i["InvoiceNumber"] for i in books.invoices(UK_TENANT)) == ["INV-101", "INV-102"]
    assert (await bot.storage.export_jobs.find_one({"reference": "INV-101"}))["allow_duplicate"] in (True, 1)


async def test_without_the_admins_choice_an_invoice_of_a_removed_organisation_is_not_exported_again(bot, xero):
    books = await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102)])
    await bot.container.links.link(TEAM_ID, "invoice", 101, "removed-org", xero_id="old", xero_number="INV-101")
    await bot.storage.links.update_one({"forecast_id": "101"}, {"$set": {"status": "unlinked"}})
    await bot.ask("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    done = await batch_shows(bot, message, "Exported 1 of 2 invoices")
    assert "since removed" in text_of(done) and "not exported" in text_of(done)
    assert [i["InvoiceNumber"] for i in books.invoices(UK_TENANT)] == ["INV-102"]


async def test_when_xeros_day_budget_would_run_out_the_batch_waits_and_the_message_says_so(bot, xero):
    books = await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102)])
    client = bot.container.xero
    client.calls_left_today = lambda tenant_id: 3
    client.day_resets_in = lambda tenant_id: 3600.0
    await bot.ask("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    waiting = await batch_shows(bot, message, "waiting for Xero's daily limit")
    assert "goes on by itself" in text_of(waiting) and books.sent("PUT", "Invoices") == []
    assert {j["state"] async for j in bot.storage.export_jobs.find({})} == {"exporting"}

    # Xero's day comes back: the same job goes on and exports the rest.
    del client.calls_left_today, client.day_resets_in
    await bot.storage.jobs.update_one({"kind": "export.batch", "state": "queued"}, {"$set": {"due_at": LONG_AGO}})
    await batch_shows(bot, message, "Exported 2 invoices")
    assert sorted(i["InvoiceNumber"] for i in books.invoices(UK_TENANT)) == ["INV-101", "INV-102"]


async def test_a_long_batch_stays_within_slacks_limits_with_every_line_one_click_away(bot, xero):
    await prepare(bot, xero, invoices=[invoices_with(100 + n) for n in range(1, 31)])
    said = text_of(await bot.ask("export INV-101..INV-130", user="U0MEMBER"))
    assert "30 invoices went to" in said
    message = await batch_message(bot)
    assert len(message["blocks"]) <= 50 and "and 15 more" in text_of(message)
    assert "INV-130" not in text_of(message)

    await bot.click("batch_see_all", batch_id_of(message), user="U0MEMBER", channel="C0APPROVALS")
    opened = await bot.slack.wait_for("views.open")
    modal = text_of(opened["view"])
    assert all(f"INV-{100 + n}" in modal for n in range(1, 31))


async def test_a_batch_job_that_keeps_failing_ends_with_its_invoices_failed_not_running_for_ever(bot, xero,
                                                                                                 monkeypatch):
    books = await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102)])
    for _ in range(40):
        books.fail_next("GET", "Invoices", 400, {"Message": "something odd"})
    monkeypatch.setattr("services.platform.jobs.backoff", lambda *args, **kwargs: 0.0)  # every retry is due at once
    await bot.ask("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    assert "not checked yet" in text_of(message)  # Xero could not be asked for the pre-flight check
    done = await batch_shows(bot, message, "None of the 2 invoices went to Xero", timeout=30)
    assert "several times" in text_of(done)
    assert {j["state"] async for j in bot.storage.export_jobs.find({})} == {"failed"}
    assert books.sent("PUT", "Invoices") == []


async def test_two_approvers_clicking_approve_all_together_export_each_invoice_once(bot, xero):
    import asyncio

    bot.slack.users["U0THIRD"] = {"id": "U0THIRD", "is_admin": True}
    books = await prepare(bot, xero, invoices=[invoices_with(100 + n) for n in range(1, 7)])
    await bot.ask("export INV-101..INV-106", user="U0MEMBER")
    message = await batch_message(bot)
    batch = batch_id_of(message)
    await asyncio.gather(bot.click("batch_approve_all", batch, user="U0APPROVER", channel="C0APPROVALS"),
                         bot.click("batch_approve_all", batch, user="U0THIRD", channel="C0APPROVALS"))
    await batch_shows(bot, message, "Exported 6 invoices")
    numbers = [i["InvoiceNumber"] for i in books.invoices(UK_TENANT)]
    assert sorted(numbers) == [f"INV-{100 + n}" for n in range(1, 7)]
    approvals = [e async for e in bot.storage.job_events.find({"to_state": "approved"})]
    assert len(approvals) == 6


async def test_a_crash_in_the_middle_of_approve_all_leaves_the_rest_approvable_and_exports_each_once(bot, xero):
    books = await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102)])
    await bot.ask("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    # As if the process died after approving INV-101 only: the sweep starts its organisation's job.
    first = await bot.storage.export_jobs.find_one({"reference": "INV-101"})
    await bot.storage.export_jobs.update_one({"_id": first["_id"]}, {"$set": {
        "state": "approved", "approved_by": "U0APPROVER", "version": first["version"] + 1}})
    await bot.container.exports.sweep()
    await bot.slack.wait_for("chat.update", lambda c: "INV-101" in text_of(c) and "created as" in text_of(c), 15)

    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    await batch_shows(bot, message, "Exported 2 invoices")
    assert sorted(i["InvoiceNumber"] for i in books.invoices(UK_TENANT)) == ["INV-101", "INV-102"]


async def test_a_crash_after_slack_took_a_batch_message_and_before_its_save_finds_it_instead_of_posting_again(
        bot, xero):
    await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102)])
    store = bot.container.batches.store
    real_set, died = store.set, []

    async def dies_once_after_each_post(batch, **values):
        if ("approval_ts" in values or "requester_dm" in values) and set(values) - set(died):
            died.extend(values)  # the process stops after Slack took the post, before its ts is saved
            raise RuntimeError("process stopped")
        return await real_set(batch, **values)

    store.set = dies_once_after_each_post
    await bot.ask("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    posted = message.response["ts"]
    redrawn = await bot.slack.wait_for("chat.update", lambda c: c.get("ts") == posted)  # found again, redrawn
    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    await batch_shows(bot, message, "Exported 2 invoices to Xero")
    await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0MEMBER")
    await bot.slack.wait_for("conversations.history", lambda c: c["channel"].startswith("D"))  # the DM looked for

    stored = await bot.storage.db["export_batches"].find_one({})
    assert {"approval_ts", "requester_dm"} <= set(died) and stored["approval_ts"] == posted and redrawn
    assert len([c for c in bot.slack.called("chat.postMessage") if c["channel"] == "C0APPROVALS"]) == 1
    assert len([c for c in bot.slack.called("chat.postMessage") if c["channel"] == "U0MEMBER"]) == 1


async def test_home_says_why_a_batch_line_failed_its_pre_flight_check(bot, xero):
    await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(102, currency="JPY")])
    await bot.ask("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    await batch_shows(bot, message, "Exported 1 of 2 invoices to Xero")
    home = json.dumps(await bot.open_home("U0MEMBER"), ensure_ascii=False)
    assert "INV-102" in home and "JPY is not enabled" in home  # the reason, as on the batch's line
    assert "The pre-flight check failed when it was exported" not in home


async def test_a_draft_in_forecast_typed_by_reference_is_flagged_on_its_batch_line(bot, xero):
    await prepare(bot, xero, invoices=[invoices_with(101), invoices_with(103, status="DRAFT")])
    await bot.ask("export INV-101 INV-103", user="U0MEMBER")
    shown = text_of(await batch_message(bot))
    lines = {ref: next(line for line in shown.split("\\n") if f"`{ref}`" in line) for ref in ("INV-101", "INV-103")}
    assert "Draft in Forecast" in lines["INV-103"] and "Draft in Forecast" not in lines["INV-101"]
