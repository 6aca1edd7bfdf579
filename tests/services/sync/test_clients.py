"""The Xero and Forecast calls sync adds: batched invoice reads, the day budget, Forecast invoice payments."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import aiohttp
import pytest
from aioresponses import aioresponses

from services.forecast import ForecastApi, NewForecastInvoicePayment
from services.xero.sync_models import XeroInvoiceState
from tests.services.xero.test_client import TENANT, client, sleeps, tokens, xero  # noqa: F401 (fixtures)
from tests.support.contracts import require_contracts, validate_xero_accounting_request
from tests.support.export_flow import CLIENT, invoice
from tests.support.forecast_standin import ForecastStandIn
from tests.support.harness import FORECAST_API

IDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(1, 4)]


async def test_invoices_are_read_fifty_at_a_time_by_id_with_their_lines_and_payments(client, xero):
    xero.answer("GET", "/Invoices", payload={"Invoices": [{
        "InvoiceID": IDS[0], "Status": "AUTHORISED", "Total": 1140.0, "AmountPaid": 500.0, "AmountDue": 640.0,
        "Payments": [{"PaymentID": IDS[2], "Date": "/Date(1764720000000+0000)/", "Amount": 500.0}]}]},
        headers={"X-DayLimit-Remaining": "987", "X-MinLimit-Remaining": "59"})

    [row] = await client.get_invoices_by_ids(TENANT, IDS)

    [sent] = xero.requests
    assert sent.query["IDs"] == [",".join(IDS)] and sent.query["page"] == ["1"]
    invoice = XeroInvoiceState.model_validate(row)
    assert invoice.amount_due == Decimal("640") and invoice.live_payments[0].date == date(2025, 12, 3)
    assert client.calls_left_today(TENANT.tenant_id) == 987
    with pytest.raises(ValueError):
        await client.get_invoices_by_ids(TENANT, [f"{n}" for n in range(51)])


async def test_what_changed_since_the_last_scan_is_asked_with_if_modified_since(client, xero):
    xero.answer("GET", "/Invoices", payload={"Invoices": []})
    await client.list_sales_invoices_modified_since(TENANT, datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc))
    [sent] = xero.requests
    assert sent.headers["If-Modified-Since"] == "2026-12-01T09:30:00Z"
    assert sent.query["where"] == ['Type=="ACCREC"']


async def test_sync_reads_match_xeros_spec(client, xero):
    require_contracts()
    xero.answer("GET", "/Invoices", payload={"Invoices": []})
    xero.answer("GET", "/Invoices", payload={"Invoices": []})
    xero.answer("GET", "/Contacts", payload={"Contacts": []})
    await client.get_invoices_by_ids(TENANT, IDS)
    await client.list_sales_invoices_modified_since(TENANT, datetime(2026, 12, 1, tzinfo=timezone.utc))
    await client.get_contacts_by_ids(TENANT, IDS)
    for sent in xero.requests:
        validate_xero_accounting_request(sent.method, sent.url, sent.headers, sent.body)


@pytest.fixture
async def forecast():
    async with aiohttp.ClientSession() as session:
        yield ForecastApi(session, FORECAST_API)


async def test_a_forecast_payment_is_sent_exactly_and_what_forecast_kept_is_read_back(forecast):
    with aioresponses() as mocked:
        standin = ForecastStandIn(key="key").install(mocked).holding(invoices=[invoice()])
        whole = await forecast.create_invoice_payment("key", 101, NewForecastInvoicePayment(
            amount=Decimal("150.00"), paid_on=date(2026, 12, 3), notes="Xero payment X"))
        cents = await forecast.create_invoice_payment("key", 101, NewForecastInvoicePayment(
            amount=Decimal("150.50"), paid_on=date(2026, 12, 3), notes="Xero payment Y"))
    bodies = standin.bodies("POST", "/invoices/101/invoice_payments")
    assert bodies[0] == {"amount": 150, "date": "2026-12-03", "notes": "Xero payment X"}
    assert bodies[1]["amount"] == 150.5 and isinstance(bodies[0]["amount"], int)
    kept = standin.payments(101)
    assert (whole.id, whole.amount, cents.amount) == (kept[0]["id"], Decimal("150"), Decimal("150.5"))


async def test_forecast_payments_are_listed_from_the_invoice_and_deleted_by_id(forecast):
    with aioresponses() as mocked:
        standin = ForecastStandIn(key="key").install(mocked).holding(clients=[CLIENT], invoices=[invoice(payments=[
            {"id": 9, "invoice_id": 101, "amount": 150.5, "date": "2026-12-03", "notes": "Xero payment X"}])])
        [payment] = await forecast.list_invoice_payments("key", 101)
        await forecast.delete_invoice_payment("key", 9)
        client = await forecast.update_customer("key", 7, {"name": "Acme Group Ltd"})
    assert (payment.id, payment.amount, payment.paid_on) == (9, Decimal("150.5"), date(2026, 12, 3))
    assert client.name == "Acme Group Ltd"
    assert standin.payments(101) == [] and standin.client(7)["name"] == "Acme Group Ltd"
