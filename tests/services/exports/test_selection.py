"""Which invoices a batch means: named ones, or every approved or sent one not yet in Xero (of one client)."""

from __future__ import annotations

import aiohttp
import pytest

from services.exports.selection import select_references, select_unexported
from services.forecast import ForecastApi
from services.shared.links import LinkStore
from tests.support.forecast_standin import ForecastStandIn
from tests.support.harness import FORECAST_API

KEY = "forecast-key"
LINE = [{"name": "Work", "quantity": 1, "unit_price": 100, "tax": 20}]


def invoice(n: int, status: str = "SENT", client: int | None = 1, entries=LINE, created: str = "2026-11-01") -> dict:
    return {"id": n, "invoice_reference": f"INV-{n}", "status": status, "client_id": client, "currency": "GBP",
            "created_date": created, "entries": entries}


@pytest.fixture
def forecast_lists(xero):
    """The sandbox's Forecast holding these invoices of three clients."""
    def install(invoices: list[dict]) -> ForecastStandIn:
        return ForecastStandIn(key=KEY).install(xero).holding(invoices=invoices, clients=[
            {"id": 1, "name": "Acme Ltd"}, {"id": 2, "name": "Globex Corporation"}, {"id": 3, "name": "Acme Holdings"}])
    return install


@pytest.fixture
async def forecast():
    async with aiohttp.ClientSession() as session:
        yield ForecastApi(session, FORECAST_API)


async def test_named_invoices_are_read_with_one_listing_and_each_refusal_has_a_reason(storage, forecast,
                                                                                    forecast_lists):
    standin = forecast_lists([invoice(101), invoice(102, client=None), invoice(103, entries=[]), invoice(104),
                              invoice(105)])
    links = LinkStore(storage)
    await links.link("T", "invoice", 104, "tenant-uk", xero_id="x-104", xero_number="INV-104")

    chosen = await select_references(forecast, KEY, links, "T", ["INV-101", "inv-101", "102", "INV-103", "INV-104",
                                                                 "INV-999", "105"])

    assert [s.invoice.invoice_reference for s in chosen.selected] == ["INV-101", "INV-105"]
    assert chosen.selected[0].customer.name == "Acme Ltd"
    assert [(r.reference, r.reason) for r in chosen.refused] == [
        ("INV-999", "not_found"), ("INV-102", "no_client"), ("INV-103", "no_lines"), ("INV-104", "already_exported")]
    assert chosen.refused[3].data == {"tenant_id": "tenant-uk", "xero_number": "INV-104"}
    assert len(standin.sent("GET", "/invoices")) == 1


async def test_unexported_picks_approved_or_sent_invoices_not_in_xero_oldest_first(storage, forecast, forecast_lists):
    forecast_lists([invoice(1, "DRAFT"), invoice(2, "SENT", created="2026-11-20"), invoice(3, "APPROVED",
                   created="2026-11-02"), invoice(4, "SENT", client=2), invoice(5, "SENT")])
    links = LinkStore(storage)
    await links.link("T", "invoice", 5, "tenant-uk", xero_id="x-5")

    everything = await select_unexported(forecast, KEY, links, "T")
    assert [s.invoice.id for s in everything.selected] == [4, 3, 2]
    assert everything.refused == []

    globex = await select_unexported(forecast, KEY, links, "T", "globex  corporation")
    assert [s.invoice.id for s in globex.selected] == [4]
    acme_words = await select_unexported(forecast, KEY, links, "T", "acme")  # two clients contain it
    assert [s.invoice.id for s in acme_words.selected] == [3, 2]


async def test_unexported_of_an_unknown_client_says_so(storage, forecast, forecast_lists):
    forecast_lists([invoice(1)])
    nobody = await select_unexported(forecast, KEY, LinkStore(storage), "T", "Initech")
    assert nobody.selected == [] and [(r.reference, r.reason) for r in nobody.refused] == [("Initech",
                                                                                            "client_not_found")]


async def test_more_than_five_hundred_unexported_keeps_the_oldest_five_hundred_and_names_the_rest(
        storage, forecast, forecast_lists):
    forecast_lists([invoice(n, created=f"2026-{1 + n // 50:02d}-{1 + n % 50 // 2:02d}") for n in range(505)][::-1])
    chosen = await select_unexported(forecast, KEY, LinkStore(storage), "T")
    assert [s.invoice.id for s in chosen.selected] == list(range(500))
    assert [r.reference for r in chosen.refused] == [f"INV-{n}" for n in range(500, 505)]
    assert {(r.reason, r.data["limit"]) for r in chosen.refused} == {("too_many", 500)}
