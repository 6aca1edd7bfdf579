"""The Xero writer: batches into several organisations in few calls, per-invoice outcomes, nothing created twice;
the contact a client is, for a single export and a batch alike."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import aiohttp
import pytest

from services.exports.writer import BatchExporter, BatchItem, BatchSettings, DayBudgetSpent, same_name_contact
from services.forecast import ForecastCustomer, ForecastInvoice
from services.platform.jobs import RetryLater
from services.shared.links import LinkStore
from services.xero.client import TenantAuth, XeroClient
from services.xero.errors import XeroUnavailable
from services.xero.limiter import TenantLimiter
from services.xero.models import XeroContact
from services.xero.reference import OrgReferenceStore
from tests.support.xero_standin import API_URL, Tokens, no_sleep

TEAM = "T1"


def client(session, limiter: TenantLimiter | None = None) -> XeroClient:
    return XeroClient(session, API_URL, Tokens(), limiter=limiter, sleep=no_sleep, max_attempts=2)


def exporter(session, storage, limiter: TenantLimiter | None = None) -> BatchExporter:
    xero = client(session, limiter)
    return BatchExporter(xero, LinkStore(storage), OrgReferenceStore(storage, xero))


def item(number: int, client_id: int, client_name: str, currency: str, tax: float, *,
         dated: bool = True, allow_duplicate: bool = False) -> BatchItem:
    invoice = ForecastInvoice.model_validate({
        "id": number, "invoice_reference": f"INV-{number}", "currency": currency, "client_id": client_id,
        "created_date": "2026-11-30" if dated else None, "due_date": "2026-12-30" if dated else None,
        "entries": [{"name": "Design", "quantity": 10, "unit_price": 120.5, "tax": tax},
                    {"name": "Hosting", "quantity": 1, "unit_price": 49.99, "tax": 0}]})
    return BatchItem(invoice, ForecastCustomer(id=client_id, name=client_name), allow_duplicate=allow_duplicate)


def auth(tenant_id: str) -> TenantAuth:
    return TenantAuth(tenant_id, "tokens-1")


async def test_120_invoices_into_3_organisations_with_mixed_failures(storage, session, standin):
    uk, us, nz = (standin.tenant_id(s) for s in ("UK", "US", "NZ"))
    plans = {  # organisation: (currency, tax % that exists there)
        uk: ("GBP", 20.0), us: ("USD", 8.5), nz: ("NZD", 15.0),
    }
    batches: dict[str, list[BatchItem]] = {}
    number = 1000
    for tenant, (currency, tax) in plans.items():
        batch = []
        for n in range(40):
            number += 1
            client_id = number % 7  # 7 clients per organisation, most of them new to Xero
            kind = n % 10
            if kind == 0:
                batch.append(item(number, client_id, f"Client {client_id}", "JPY", tax))  # currency not there
            elif kind == 1:
                batch.append(item(number, client_id, f"Client {client_id}", currency, 7.0))  # no 7% rate
            elif kind == 2:
                batch.append(item(number, client_id, f"Client {client_id}", currency, tax, dated=False))  # Xero refuses
            else:
                batch.append(item(number, client_id, f"Client {client_id}", currency, tax))
        batches[tenant] = batch
    already = batches[uk][3].invoice  # created in Xero by hand earlier: linked, not created
    standin.organisations[uk]["Invoices"]["by-hand"] = {
        **next(iter(standin.organisations[uk]["Invoices"].values())), "InvoiceID": "by-hand",
        "InvoiceNumber": already.invoice_reference, "Type": "ACCREC", "Status": "AUTHORISED", "Total": 999.0}
    settings = BatchSettings(status="AUTHORISED")  # AUTHORISED needs a due date: undated invoices fail in Xero

    export = exporter(session, storage)
    results = await asyncio.gather(*(
        export.export(TEAM, "batch-1", auth(tenant), batch, settings, generation=1, connected_tenant_ids=set(plans))
        for tenant, batch in batches.items()))

    outcomes = [o for per_org in results for o in per_org]
    assert len(outcomes) == 120
    assert Counter(o.outcome for o in outcomes) == {"created": 83, "not_exportable": 24, "failed": 12,
                                                    "linked_existing": 1}
    refused = [o for o in outcomes if o.outcome == "failed"]
    assert all(o.messages for o in refused)  # Xero's own words, per invoice
    assert {o.preflight.code for o in outcomes if o.outcome == "not_exportable"} == {"currency_not_enabled",
                                                                                      "tax_unmapped"}
    created = [o for o in outcomes if o.outcome == "created"]
    assert all(o.xero_total == o.expected_total and not o.total_differs for o in created)
    linked = next(o for o in outcomes if o.outcome == "linked_existing")
    assert linked.reference == already.invoice_reference and linked.total_differs  # 999 in Xero: flagged

    # One create and one number lookup per organisation (40 invoices each), contacts in one lookup + one create.
    for tenant in plans:
        mine = [c for c in standin.calls if c.headers["xero-tenant-id"] == tenant]
        assert Counter((c.method, c.resource) for c in mine) == {
            ("GET", "Currencies"): 1, ("GET", "Accounts"): 1, ("GET", "TaxRates"): 1, ("GET", "Invoices"): 1,
            ("GET", "Contacts"): 1, ("PUT", "Contacts"): 1, ("PUT", "Invoices"): 1}
    for put in standin.sent("PUT", "Invoices"):
        assert "summarizeErrors=false" in put.url and put.headers["Idempotency-Key"]
    assert len(await LinkStore(storage).linked_many(TEAM, "invoice", list(range(1000, 1200)))) == 84


async def test_a_batch_resumed_after_a_crash_creates_nothing_twice(storage, session, standin):
    uk = standin.tenant_id("UK")
    batch = [item(2000 + n, n % 5, f"Resume Client {n % 5}", "GBP", 20.0) for n in range(60)]
    settings = BatchSettings()

    def cut_after_second_create(call):
        if call.method == "PUT" and call.resource == "Invoices":
            cut_after_second_create.creates += 1
            if cut_after_second_create.creates >= 2:
                raise aiohttp.ClientConnectionError("the bot died while Xero was answering")
    cut_after_second_create.creates = 0
    standin.after_commit = cut_after_second_create

    with pytest.raises(XeroUnavailable):
        await exporter(session, storage).export(TEAM, "batch-2", auth(uk), batch, settings, generation=1,
                                                connected_tenant_ids={uk})
    standin.after_commit = None

    # A fresh process (new generation, so fresh Idempotency-Keys) picks the batch up again.
    outcomes = await exporter(session, storage).export(TEAM, "batch-2", auth(uk), batch, settings, generation=2,
                                                       connected_tenant_ids={uk})

    assert Counter(o.outcome for o in outcomes) == {"already_linked": 50, "linked_existing": 10}
    for entry in batch:
        assert len(standin.invoices_numbered(uk, entry.invoice.invoice_reference)) == 1
    assert len(await LinkStore(storage).linked_many(TEAM, "invoice", [i.invoice.id for i in batch])) == 60


async def test_a_retried_chunk_replays_xeros_answer_for_its_idempotency_key(storage, session, standin):
    uk = standin.tenant_id("UK")
    batch = [item(3000 + n, 1, "Replay Client", "GBP", 20.0) for n in range(3)]
    keys = []

    def drop_first_answer(call):
        if call.method == "PUT" and call.resource == "Invoices":
            keys.append(call.headers["Idempotency-Key"])
            if len(keys) == 1:
                raise aiohttp.ClientConnectionError("lost the answer")
    standin.after_commit = drop_first_answer

    outcomes = await exporter(session, storage).export(TEAM, "batch-3", auth(uk), batch, BatchSettings(),
                                                       generation=1, connected_tenant_ids={uk})

    assert [o.outcome for o in outcomes] == ["created"] * 3
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) <= 128
    assert all(len(standin.invoices_numbered(uk, i.invoice.invoice_reference)) == 1 for i in batch)


async def test_an_invoice_exported_to_a_removed_organisation_is_not_exported_again_unless_chosen(
        storage, session, standin):
    us = standin.tenant_id("US")
    links = LinkStore(storage)
    await links.link(TEAM, "invoice", 4001, "removed-org", xero_id="old-invoice", xero_number="INV-4001")
    await storage.links.update_one({"forecast_id": "4001"}, {"$set": {"status": "unlinked"}})  # as removal does
    export = exporter(session, storage)

    (check,) = await export.preflight(TEAM, auth(us), [item(4001, 1, "Moved Client", "USD", 8.5)], BatchSettings(),
                                      {us})
    assert check.code == "exported_to_removed_org"
    (refused,) = await export.export(TEAM, "b4", auth(us), [item(4001, 1, "Moved Client", "USD", 8.5)],
                                     BatchSettings(), generation=1, connected_tenant_ids={us})
    assert refused.outcome == "not_exportable" and standin.invoices_numbered(us, "INV-4001") == []

    (chosen,) = await export.export(TEAM, "b4", auth(us), [item(4001, 1, "Moved Client", "USD", 8.5,
                                                                allow_duplicate=True)],
                                    BatchSettings(), generation=2, connected_tenant_ids={us})
    assert chosen.outcome == "created" and chosen.preflight.duplicate_allowed
    assert len(standin.invoices_numbered(us, "INV-4001")) == 1


async def test_the_rest_of_a_batch_waits_for_xeros_next_day_when_the_budget_would_run_out(storage, session, standin):
    nz = standin.tenant_id("NZ")
    limiter = TenantLimiter(per_day=20)
    batch = [item(5000 + n, n % 3, f"Budget Client {n % 3}", "NZD", 15.0) for n in range(120)]
    export = exporter(session, storage, limiter)

    with pytest.raises(DayBudgetSpent) as waiting:
        await export.export(TEAM, "b5", auth(nz), batch, BatchSettings(), generation=1, connected_tenant_ids={nz})

    assert isinstance(waiting.value, RetryLater) and 0 < waiting.value.delay <= 86_400
    assert len(waiting.value.done) == 50 and len(waiting.value.waiting) == 70
    assert {o.outcome for o in waiting.value.done} == {"created"}
    assert len(standin.sent("PUT", "Invoices")) == 1


async def test_reference_data_is_read_once_per_organisation_within_its_ttl(storage, session, standin):
    uk = standin.tenant_id("UK")
    store = OrgReferenceStore(storage, client(session))
    first = await store.get(TEAM, auth(uk))
    again = await OrgReferenceStore(storage, client(session)).get(TEAM, auth(uk))

    assert first.currencies == again.currencies == ("GBP", "EUR", "USD")
    assert [r.tax_type for r in again.tax_rates] == ["OUTPUT2", "INPUT2", "NONE"]
    assert again.tax_rates[0].effective_rate == Decimal("20") and again.tax_rates[0].can_apply_to_revenue
    assert len(standin.sent("GET", "TaxRates")) == 1

    stale = OrgReferenceStore(storage, client(session), ttl=0)
    await stale.get(TEAM, auth(uk))
    assert len(standin.sent("GET", "TaxRates")) == 2


async def test_when_xero_says_the_day_is_used_up_mid_batch_the_rest_waits_for_xeros_retry_after(
        storage, session, standin):
    uk = standin.tenant_id("UK")
    batch = [item(6000 + n, n % 3, f"Day Client {n % 3}", "GBP", 20.0) for n in range(70)]

    def day_limit_on_second_create(call):
        if call.method == "PUT" and call.resource == "Invoices" and len(standin.sent("PUT", "Invoices")) == 2:
            return 429, {}, {"Retry-After": "41000", "X-Rate-Limit-Problem": "day"}
        return None
    standin.refuse = day_limit_on_second_create

    with pytest.raises(DayBudgetSpent) as waiting:
        await exporter(session, storage).export(TEAM, "b6", auth(uk), batch, BatchSettings(), generation=1,
                                                connected_tenant_ids={uk})

    assert waiting.value.delay == 41000
    assert len(waiting.value.done) == 50 and len(waiting.value.waiting) == 20
    standin.refuse = None
    outcomes = await exporter(session, storage).export(TEAM, "b6", auth(uk), batch, BatchSettings(), generation=1,
                                                       connected_tenant_ids={uk})
    assert Counter(o.outcome for o in outcomes) == {"already_linked": 50, "created": 20}


def test_a_client_is_the_contact_of_its_exact_name_in_any_case_an_active_one_first():
    client = ForecastCustomer(id=7, name=" Acme Ltd ")
    archived = XeroContact(contact_id="c-old", name="ACME LTD", contact_status="ARCHIVED")
    active = XeroContact(contact_id="c-new", name="acme ltd", contact_status="ACTIVE")
    other = XeroContact(contact_id="c-x", name="Acme Ltd (US)", contact_status="ACTIVE")
    assert same_name_contact([archived, other, active], client) is active
    assert same_name_contact([archived, other], client) is archived  # linked rather than created twice
    assert same_name_contact([other, XeroContact(name="Acme Ltd")], client) is None  # no id: not a contact yet
