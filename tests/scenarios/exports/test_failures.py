"""Failures are loud (notify channel, Xero's words, Retry) and recoverable without duplicates."""

from __future__ import annotations

import asyncio

from tests.support.export_flow import (
    US_TAX,
    click,
    final_update,
    invoice,
    job,
    job_id_of,
    prepare,
    request,
    text_of,
)
from tests.support.xero_identity import UK, UK_TENANT, US, US_TENANT
from tests.support.xero_standin import validation_error


def keys(books) -> list[str]:
    return [call.headers["Idempotency-Key"] for call in books.sent("PUT", "Invoices")]


async def approve_and_fail(bot, xero, books=None):
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    await click(bot, "export_approve", job_id)
    updated = await final_update(bot, job_id, "failed")
    notice = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "C0ALERTS")
    return job_id, updated, notice


async def test_a_validation_error_is_reported_with_xeros_words_and_retry_fixes_it(bot, xero):
    books = await prepare(bot, xero)
    books.fail_next("PUT", "Invoices", 400,
                    validation_error("Account code '200' is not a valid code for this document."))
    job_id, updated, notice = await approve_and_fail(bot, xero)

    said = text_of(notice)
    assert "INV-101" in said and "Demo Company (UK)" in said
    assert "Account code '200' is not a valid code for this document." in said
    retry = [e for b in notice["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert retry[0]["action_id"] == "export_retry" and retry[0]["value"] == job_id
    assert "Export failed" in text_of(updated) and "export_retry" in text_of(updated)
    stored = await job(bot, job_id)
    assert stored["state"] == "failed" and "not a valid code" in stored["error_details"][0]

    await click(bot, "export_retry", job_id)
    await final_update(bot, job_id, "exported")
    assert len(books.invoices(UK_TENANT)) == 1
    first, second = keys(books)
    assert first.endswith(":g1") and second.endswith(":g2")  # Xero refused g1, so it certainly created nothing
    events = [e async for e in bot.storage.job_events.find({"job_id": job_id, "kind": "transition"}).sort("seq", 1)]
    assert [e["to_state"] for e in events] == ["pending", "approved", "exporting", "failed", "approved", "exporting",
                                                 "exported"]


async def test_an_error_between_create_and_link_heals_itself_without_a_duplicate(bot, xero, monkeypatch):
    books = await prepare(bot, xero)
    links = bot.container.links
    real_link = links.link
    crashed = []

    async def link_that_dies_once(team_id, kind, *args, **kwargs):
        if kind == "invoice" and not crashed:
            crashed.append(True)
            raise ConnectionError("the database went away before the link was written")
        return await real_link(team_id, kind, *args, **kwargs)

    monkeypatch.setattr(links, "link", link_that_dies_once)
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    await click(bot, "export_approve", job_id)
    done = await final_update(bot, job_id, "exported")  # the job runner tried again by itself
    assert crashed and len(books.invoices(UK_TENANT)) == 1 and len(books.sent("PUT", "Invoices")) == 1
    # its own create, whose answer was lost: told as a normal export, not as an invoice someone else made
    assert "Exported to *Demo Company (UK)*" in text_of(done) and "already in" not in text_of(done)
    link = await bot.storage.links.find_one({"kind": "invoice"})
    assert link["xero_id"] == books.invoices(UK_TENANT)[0]["InvoiceID"]
    assert (await job(bot, job_id))["outcome"] == "created"
    assert not [c for c in bot.slack.called("chat.postMessage") if c["channel"] == "C0ALERTS"]


async def test_an_export_that_keeps_erring_ends_failed_with_a_notice_and_retry_works_at_once(bot, xero, monkeypatch):
    books = await prepare(bot, xero)
    bot.container.runner.kinds["export.run"].retry_base = 0.05
    real_link = bot.container.links.link

    async def link_that_always_dies(team_id, kind, *args, **kwargs):
        if kind == "invoice":
            raise ConnectionError("the database is away")
        return await real_link(team_id, kind, *args, **kwargs)

    monkeypatch.setattr(bot.container.links, "link", link_that_always_dies)
    job_id, updated, notice = await approve_and_fail(bot, xero)
    assert "on our side" in text_of(notice) and "export_retry" in text_of(notice)
    assert len(books.invoices(UK_TENANT)) == 1  # every attempt found or replayed the one invoice
    monkeypatch.setattr(bot.container.links, "link", real_link)
    await click(bot, "export_retry", job_id)
    await final_update(bot, job_id, "exported")
    assert len(books.invoices(UK_TENANT)) == 1
    [posted] = (await job(bot, job_id))["notices"]
    resolved = await bot.slack.wait_for("chat.update", lambda c: c["ts"] == posted["ts"]
                                        and "since retried" in text_of(c), timeout=10)
    assert posted["channel"] == "C0ALERTS" and "export_retry" not in text_of(resolved)  # Retry no longer applies


async def test_an_export_left_exporting_with_nothing_running_it_is_picked_up(bot, xero):
    books = await prepare(bot, xero)
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    stuck = {"state": "exporting", "tenant_id": UK_TENANT, "tenant_name": "Demo Company (UK)", "approved_by": "U0ADMIN",
             "open_key": f"T0TEST:{101}"}
    await bot.storage.export_jobs.update_one({"_id": job_id}, {"$set": stuck})
    await click(bot, "export_retry", job_id)  # Retry works at once: nothing is running it
    await final_update(bot, job_id, "exported")
    assert len(books.invoices(UK_TENANT)) == 1


async def test_the_sweep_restarts_an_approved_export_whose_job_was_never_enqueued(bot, xero):
    books = await prepare(bot, xero)
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    await bot.storage.export_jobs.update_one({"_id": job_id}, {"$set": {
        "state": "approved", "approved_by": "U0APPROVER", "tenant_id": UK_TENANT, "tenant_name": "Demo Company (UK)"}})
    await bot.container.exports.sweep()  # every process runs it each lease period
    await final_update(bot, job_id, "exported")
    assert len(books.invoices(UK_TENANT)) == 1


async def test_rate_limit_waits_retry_after_and_the_job_still_exports_once(bot, xero):
    books = await prepare(bot, xero)
    books.fail_next("PUT", "Invoices", 429, {}, headers={"Retry-After": "7", "X-Rate-Limit-Problem": "minute"})
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    (slept,) = bot.xero_sleeps
    assert 7.0 <= slept < 8.0  # Xero's Retry-After, spread by up to a second
    first, second = keys(books)
    assert first == second  # the retry of one call carries the same Idempotency-Key
    assert len(books.invoices(UK_TENANT)) == 1


async def test_retries_exhausted_fail_loudly_and_the_retry_keeps_the_same_key(bot, xero):
    books = await prepare(bot, xero)
    for _ in range(4):
        books.fail_next("PUT", "Invoices", 503, {})
    job_id, _, notice = await approve_and_fail(bot, xero)
    assert "unavailable" in text_of(notice) and "gave up after 4 attempts" in text_of(notice)
    assert len(bot.xero_sleeps) == 3
    await click(bot, "export_retry", job_id)
    await final_update(bot, job_id, "exported")
    assert len(set(keys(books))) == 1  # Xero may have made it: the same key lets Xero answer with that one
    assert len(books.invoices(UK_TENANT)) == 1


async def test_a_currency_dropped_in_xero_after_the_check_fails_the_export_before_anything_is_created(bot, xero):
    books = await prepare(bot, xero, invoices=[invoice(currency="USD")])
    books.add_currency(UK_TENANT, "USD")
    _, approval = await request(bot)
    assert "ready" in text_of(approval)
    books.remove_currency(UK_TENANT, "USD")  # meanwhile, in Xero; and the cached copy has expired
    await bot.container.exports.reference.forget("T0TEST", UK_TENANT)
    job_id = job_id_of(approval)
    await click(bot, "export_approve", job_id)
    await final_update(bot, job_id, "failed")
    notice = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "C0ALERTS")
    said = text_of(notice)
    assert "does not use USD" in said and "Add USD in Xero" in said and "EUR, GBP" in said
    assert "Xero said" not in said  # those are our words, not Xero's
    assert books.sent("PUT", "Invoices") == [] and books.sent("PUT", "Contacts") == []
    books.add_currency(UK_TENANT, "USD")
    await click(bot, "export_retry", job_id)
    await final_update(bot, job_id, "exported")
    assert keys(books) == [keys(books)[0]] and keys(books)[0].endswith(":g2")  # g1 certainly created nothing


async def test_a_currency_an_organisation_picked_on_the_message_lacks_is_refused_and_another_can_be_picked(bot, xero):
    books = await prepare(bot, xero, tenants=(UK, US), invoices=[invoice(currency="USD", entries=US_TAX)])
    books.remove_currency(UK_TENANT, "USD")
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    name = await click(bot, "export_approve", job_id, state=picked(UK_TENANT))
    said = text_of(await bot.reply_to(name))
    assert "cannot go into Demo Company (UK)" in said and "USD is not enabled there (it has GBP, EUR)" in said
    assert (await job(bot, job_id))["state"] == "pending" and books.sent("PUT", "Invoices") == []
    await click(bot, "export_approve", job_id, state=picked(US_TENANT))
    await final_update(bot, job_id, "exported")
    assert len(books.invoices(US_TENANT)) == 1 and books.invoices(UK_TENANT) == []


async def test_an_expired_connection_fails_with_a_reconnect_hint(bot, xero):
    books = await prepare(bot, xero)
    tenant = await bot.storage.tenants.find_one({"tenant_id": UK_TENANT})
    await bot.container.tokens.mark_needs_reconnect(tenant["token_set_id"])
    _, notice = (await approve_and_fail(bot, xero))[1:]
    assert "/xero connect" in text_of(notice)
    assert books.sent("PUT", "Invoices") == []


async def test_without_a_notify_channel_failures_go_to_the_approval_channel(bot, xero):
    books = await prepare(bot, xero, settings={"notify_channel": None})
    books.fail_next("PUT", "Invoices", 400, validation_error("Contact is archived"))
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "failed")
    notice = await bot.slack.wait_for("chat.postMessage", lambda c: "Contact is archived" in text_of(c))
    assert notice["channel"] == "C0APPROVALS"


async def test_only_approvers_may_retry_and_an_exported_job_is_not_retried(bot, xero):
    books = await prepare(bot, xero)
    books.fail_next("PUT", "Invoices", 400, validation_error("Bad"))
    job_id, _, _ = await approve_and_fail(bot, xero)
    name = await click(bot, "export_retry", job_id, user="U0MEMBER")
    assert "Only approvers" in text_of(await bot.reply_to(name))
    await click(bot, "export_retry", job_id)
    await final_update(bot, job_id, "exported")
    name = await click(bot, "export_retry", job_id)
    assert "already exported" in text_of(await bot.reply_to(name))
    assert len(books.invoices(UK_TENANT)) == 1


async def test_two_jobs_of_one_invoice_for_different_organisations_create_it_once(bot, xero):
    books = await prepare(bot, xero, tenants=(UK, US), invoices=[invoice(entries=US_TAX)])
    books.add_currency(US_TENANT, "GBP")
    for _ in range(2):  # the number look-up of the check at approval (it goes on unchecked), then the export's
        books.fail_next("GET", "Invoices", 400, validation_error("Sandbox: made to fail"))
    _, first_request = await request(bot)
    first = job_id_of(first_request)
    await click(bot, "export_approve", first, state=picked(UK_TENANT))
    await final_update(bot, first, "failed")

    bot.slack.calls.clear()
    _, second_request = await request(bot, user="U0MEMBER")
    second = job_id_of(second_request)
    # Grace retries the first (to the UK) while Ada approves the second (to the US), at the same moment:
    # the second request is open, so the database refuses to reopen the first.
    retried, _ = await asyncio.gather(click(bot, "export_retry", first, user="U0APPROVER"),
                                      click(bot, "export_approve", second, user="U0ADMIN", state=picked(US_TENANT)))
    await final_update(bot, second, "exported")
    assert "asked for again" in text_of(await bot.reply_to(retried))
    assert (await job(bot, first))["state"] == "failed"
    assert len(books.invoices(UK_TENANT)) + len(books.invoices(US_TENANT)) == 1
    assert len(books.sent("PUT", "Invoices")) == 1


def picked(tenant_id: str) -> dict:
    return {"export_pick_tenant_block": {"export_pick_tenant": {
        "type": "static_select", "selected_option": {"value": tenant_id, "text": {"type": "plain_text", "text": "x"}}}}}


async def test_an_answer_without_the_created_invoices_id_fails_with_retry_instead_of_linking_nothing(bot, xero,
                                                                                                     monkeypatch):
    books = await prepare(bot, xero)
    real_create = bot.container.xero.create_invoices

    async def create_without_id(*args, **kwargs):
        return [created.model_copy(update={"invoice_id": None}) for created in await real_create(*args, **kwargs)]

    monkeypatch.setattr(bot.container.xero, "create_invoices", create_without_id)
    job_id, _, notice = await approve_and_fail(bot, xero)
    assert "Xero did not return the created invoice" in text_of(notice)
    assert "Click Retry; no duplicate can be created." in text_of(notice)
    assert await bot.storage.links.find_one({"kind": "invoice"}) is None
    monkeypatch.setattr(bot.container.xero, "create_invoices", real_create)
    await click(bot, "export_retry", job_id)
    done = await final_update(bot, job_id, "exported")
    assert len(books.invoices(UK_TENANT)) == 1  # the same key: Xero's invoice is found and linked, not made twice
    assert "Exported to" in text_of(done) and "already in" not in text_of(done)  # it was the bot's own create
