"""ForecastApi against the sandbox's Forecast (tests/support/forecast_standin.py): headers, look-ups, errors,
retries, models; paged lists against raw aioresponses answers (the stand-in's v1 lists are plain arrays)."""

from __future__ import annotations

import re
from datetime import date

import aiohttp
import pytest
from aioresponses import aioresponses

from bot.blocks.errors import forecast_words
from services.forecast import (
    ForecastApi,
    ForecastAuthError,
    ForecastCustomer,
    ForecastError,
    ForecastInvoice,
    ForecastNotFound,
    ForecastUnavailable,
    ForecastValidationError,
    NewForecastCustomer,
    NewForecastExpenseItem,
)
from tests.support.forecast_standin import ForecastStandIn
from tests.support.harness import FORECAST_API

BASE = FORECAST_API
KEY = "fc-secret-key-123"


def invoice(id_, reference, *, company_invoice_id=None, entries=None):
    return {
        "id": id_,
        "company_invoice_id": company_invoice_id or id_,
        "client_id": 7,
        "currency": "GBP",
        "invoice_reference": reference,
        "created_date": "2025-02-01",
        "due_date": "2025-03-03",
        "status": "SENT",
        "entries": entries if entries is not None else [{"name": "Work", "quantity": 1, "unit_price": 10}],
    }


@pytest.fixture
def mocked():
    with aioresponses() as mock:
        yield mock


@pytest.fixture
def forecast(mocked) -> ForecastStandIn:
    """The sandbox's Forecast accepting KEY; its demo company unless a test says what it holds."""
    return ForecastStandIn(key=KEY).install(mocked)


@pytest.fixture
async def api():
    sleeps: list[float] = []

    async def no_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with aiohttp.ClientSession() as session:
        client = ForecastApi(session, BASE, timeout=5, sleep=no_sleep, jitter=lambda: 0.5)
        client.sleeps = sleeps
        yield client


async def test_sends_the_api_key_header_and_parses_invoices(api, forecast):
    forecast.holding(invoices=[invoice(80, "INV-90", company_invoice_id=90)])

    found = await api.get_invoice(KEY, 80)

    assert found.invoice_reference == "INV-90"
    assert found.created_date == date(2025, 2, 1)
    [call] = forecast.sent("GET", "/invoices/80")
    assert call.headers["X-FORECAST-API-KEY"] == KEY


async def test_plain_array_lists_are_returned_whole(api, forecast):
    forecast.holding(clients=[{"id": 1, "name": "Acme"}, {"id": 2, "name": "Globex"}])

    customers = await api.list_customers(KEY)

    assert [c.name for c in customers] == ["Acme", "Globex"]
    assert len(forecast.sent("GET", "/clients")) == 1


async def test_paged_lists_are_followed_to_the_last_page(api, mocked):
    def page(number, rows):
        return {"pageNumber": number, "pageSize": 2, "totalObjectCount": 5, "pageContents": rows}

    mocked.get(f"{BASE}/projects", payload=page(1, [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}]))
    mocked.get(re.compile(r".*/projects\?pageNumber=2&pageSize=2$"),
               payload=page(2, [{"id": 3, "name": "C"}, {"id": 4, "name": "D"}]))
    mocked.get(re.compile(r".*/projects\?pageNumber=3&pageSize=2$"), payload=page(3, [{"id": 5, "name": "E"}]))

    projects = await api.list_projects(KEY)

    assert [p.id for p in projects] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("typed", ["INV-101", "inv-101", "  Inv-101 ", "101", "#101"])
async def test_find_invoice_matches_reference_case_insensitively(api, forecast, typed):
    forecast.holding(invoices=[invoice(101, "INV-999"), invoice(5001, "INV-101")])

    found = await api.find_invoice(KEY, typed)

    assert found.id == 5001


async def test_find_invoice_bare_number_falls_back_to_the_invoice_id(api, forecast):
    forecast.holding(invoices=[invoice(5001, "INV-101"), invoice(5002, "CUSTOM-7")])

    found = await api.find_invoice(KEY, "5002")

    assert found.invoice_reference == "CUSTOM-7"


async def test_find_invoice_uses_forecasts_default_reference_when_empty(api, forecast):
    forecast.holding(invoices=[invoice(5011, "", company_invoice_id=111)])

    found = await api.find_invoice(KEY, "INV-111")

    assert found.id == 5011


async def test_find_invoice_not_found_says_so_plainly(api, forecast):
    forecast.holding(invoices=[invoice(5001, "INV-101")])

    with pytest.raises(ForecastNotFound) as caught:
        await api.find_invoice(KEY, "INV-404")

    assert "No Forecast invoice has the reference INV-404" in forecast_words(caught.value)


async def test_bad_key_raises_auth_error_without_the_key(api, forecast):
    forecast.fail_next("GET", "/invoices", 401, f"Server failed to authenticate the request. key={KEY}")

    with pytest.raises(ForecastAuthError) as caught:
        await api.list_invoices(KEY)

    text = forecast_words(caught.value)
    assert "Forecast refused the API key" in text and "/xero settings" in text
    assert "Server failed to authenticate the request" in text
    assert KEY not in text and KEY not in str(caught.value) and KEY not in repr(caught.value.args)
    assert caught.value.status == 401


async def test_unknown_project_raises_not_found(api, forecast):

    with pytest.raises(ForecastNotFound) as caught:
        await api.get_project(KEY, 99)

    assert "project 99" in forecast_words(caught.value)
    assert "Project with id 99 does not exist" in forecast_words(caught.value)  # Forecast's own words


async def test_forecast_message_surfaces_on_bad_requests(api, forecast):
    forecast.fail_next("POST", "/clients", 400, "country must be ISO 3166")

    with pytest.raises(ForecastValidationError) as caught:
        await api.create_customer(KEY, NewForecastCustomer(name="Acme", country="United Kingdom"))

    assert "country must be ISO 3166" in forecast_words(caught.value)
    assert caught.value.forecast_message == "country must be ISO 3166"
    assert isinstance(caught.value, ForecastError)


async def test_server_errors_are_retried_then_reported_as_unavailable(api, forecast):
    for _ in range(3):
        forecast.fail_next("GET", "/clients/1", 503, body="<html>Service Unavailable</html>")

    with pytest.raises(ForecastUnavailable) as caught:
        await api.get_customer(KEY, 1)

    assert caught.value.status == 503
    assert "try again" in forecast_words(caught.value)
    assert api.sleeps == [0.5, 1.0]


async def test_a_busy_forecast_is_given_the_time_it_asks_for_before_the_next_read(api, forecast):
    forecast.holding(clients=[{"id": 1, "name": "Acme"}])
    forecast.fail_next("GET", "/clients/1", 429, "slow down", headers={"Retry-After": "3"})

    assert (await api.get_customer(KEY, 1)).name == "Acme"
    assert api.sleeps == [3.5]  # Retry-After in full, plus the jitter (half a second here)


async def test_a_wait_longer_than_a_person_should_hold_on_for_is_reported_at_once(api, forecast):
    forecast.fail_next("GET", "/clients/1", 429, "slow down", headers={"Retry-After": "3600"})

    with pytest.raises(ForecastUnavailable) as caught:
        await api.get_customer(KEY, 1)
    assert "Forecast is busy" in forecast_words(caught.value)
    assert api.sleeps == []


async def test_a_server_error_that_clears_up_is_invisible(api, forecast):
    forecast.holding(clients=[{"id": 1, "name": "Acme"}])
    forecast.fail_next("GET", "/clients/1", 502, "Bad gateway")

    assert (await api.get_customer(KEY, 1)).name == "Acme"


async def test_timeouts_become_unavailable(api, forecast):
    for _ in range(3):
        forecast.fail_next("GET", "/clients/1", exception=TimeoutError())

    with pytest.raises(ForecastUnavailable) as caught:
        await api.get_customer(KEY, 1)
    assert "Forecast did not answer within 5 seconds" in forecast_words(caught.value)


async def test_posts_are_not_retried(api, forecast):
    forecast.fail_next("POST", "/clients", 500, "boom")

    with pytest.raises(ForecastUnavailable):
        await api.create_customer(KEY, NewForecastCustomer(name="Acme"))

    assert len(forecast.sent("POST", "/clients")) == 1 and forecast.scripted == []


async def test_create_customer_sends_the_documented_fields(api, forecast):
    new = NewForecastCustomer(
        name="Acme Corporation", street="1 Road Runner Way", zip="EC1A 1BB", city="London",
        country="GB", vat_number="GB123456789",
    )

    created = await api.create_customer(KEY, new)

    made = forecast.clients()[-1]
    assert created == ForecastCustomer.model_validate(made)
    assert (created.id, created.name, created.country) == (made["id"], "Acme Corporation", "GB")
    [call] = forecast.sent("POST", "/clients")
    assert call.json == {
        "name": "Acme Corporation", "street": "1 Road Runner Way", "zip": "EC1A 1BB",
        "city": "London", "country": "GB", "vat_number": "GB123456789",
    }
    assert call.headers["Content-Type"].startswith("application/json")


async def test_create_expense_item_posts_to_the_project(api, forecast):
    item = NewForecastExpenseItem(
        name="PO-0042 Laptops", cost=2400, quantity=2, expense_category=4, expense_date=date(2025, 5, 1)
    )

    created = await api.create_expense_item(KEY, 3, item)

    [made] = [row for row in forecast.expense_items(3) if row["name"] == "PO-0042 Laptops"]
    assert (created.id, created.project_id, created.expense_date) == (made["id"], 3, date(2025, 5, 1))
    [call] = forecast.sent("POST", "/projects/3/expense_items")
    assert call.json == {
        "name": "PO-0042 Laptops", "cost": 2400.0, "quantity": 2.0, "expense_category": 4,
        "expense_date": "2025-05-01",
    }


def test_invoice_total_applies_percent_discount_then_percent_tax():
    parsed = ForecastInvoice.model_validate(invoice(1, "INV-1", entries=[
        {"name": "Design", "quantity": 2, "unit_price": 12.5, "discount": 10, "tax": 20},
        {"name": "Hosting", "quantity": 3, "unit_price": 0.1, "discount": None, "tax": None},
    ]))

    assert parsed.subtotal == 22.8  # 25 less 10% = 22.50, plus 0.30
    assert parsed.total_tax == 4.5  # 20% of 22.50
    assert parsed.total == 27.3
    assert parsed.line_count == 2
    assert parsed.entries[1].amount == 0.3


def test_invoice_without_entries_has_zero_total():
    parsed = ForecastInvoice.model_validate({**invoice(2, "INV-2"), "entries": None})

    assert (parsed.total, parsed.line_count) == (0, 0)
