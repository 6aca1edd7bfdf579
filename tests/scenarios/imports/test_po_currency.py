"""A purchase order in another currency than Forecast's is converted with Xero's rate, or refused: never stored
as the wrong currency."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from services.imports.purchase_orders import CurrencyRefused, cost_in
from tests.scenarios.imports.test_purchase_orders import choose, items_sent, ready, submit_and_wait
from tests.support.import_flow import open_import, purchase_order
from tests.support.xero_identity import US_TENANT

UK_IN_USD = {**purchase_order(8, tenant="uk", supplier="Stark Industries", total=1080, currency="USD"),
             "CurrencyRate": 1.25}
US_IN_USD = {**purchase_order(9, tenant="us", supplier="Steel Inc", total=1080, currency="USD"), "CurrencyRate": 1.0}


def test_xeros_rate_is_foreign_units_per_base_unit():
    assert cost_in("GBP", Decimal("1080"), "USD", Decimal("1.25"), "GBP").amount == Decimal("864.00")
    assert cost_in("GBP", Decimal("99.99"), "GBP", None, "USD").amount == Decimal("99.99")
    with pytest.raises(CurrencyRefused):
        cost_in("GBP", Decimal("1080"), "USD", Decimal("1"), "USD")
    with pytest.raises(CurrencyRefused):
        cost_in("GBP", Decimal("1080"), "USD", None, "GBP")


async def test_an_order_in_a_foreign_currency_is_converted_with_the_rate_xero_used(bot, xero):
    _, forecast = await ready(bot, xero, uk=(UK_IN_USD,), us=())
    _, view = await open_import(bot, "import purchase-orders")
    answer = await submit_and_wait(bot, view, choose(11, UK_IN_USD))
    [item] = items_sent(forecast)
    assert item["cost"] == 864.0
    assert "USD 1,080.00 at Xero's rate 1.25 = GBP 864.00" in item["notes"]
    assert "1 created" in answer["text"]


async def test_an_order_xero_cannot_convert_to_forecasts_currency_is_refused_with_the_reason(bot, xero):
    _, forecast = await ready(bot, xero, uk=(), us=(US_IN_USD,))
    _, view = await open_import(bot, "import purchase-orders")
    answer = await submit_and_wait(bot, view, choose(11, US_IN_USD, tenant=US_TENANT))
    assert items_sent(forecast) == []
    said = json.dumps(answer["blocks"])
    assert "1 failed" in answer["text"] and "in USD and Forecast keeps costs in GBP" in said
    assert "not imported rather than stored as the wrong currency" in said
    assert await bot.container.links.get("T0TEST", "purchase_order", US_IN_USD["PurchaseOrderID"], US_TENANT) is None


async def test_forecast_not_saying_its_currency_stops_the_import_before_anything_is_created(bot, xero):
    _, forecast = await ready(bot, xero, uk=(UK_IN_USD,), us=())
    _, view = await open_import(bot, "import purchase-orders")
    forecast.refuse = lambda call: (503, "down") if call.path == "/company" else None
    bot.container.forecast.sleep = _no_wait
    answer = await submit_and_wait(bot, view, choose(11, UK_IN_USD))
    assert items_sent(forecast) == [] and "company currency" in answer["text"]


async def _no_wait(seconds: float) -> None:
    return None
