"""The Forecast stand-in, driven end to end by the real ForecastApi over HTTP on 127.0.0.1."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.forecast import DEFAULT_API_KEY, create_forecast_app
from services.forecast import (
    ForecastApi,
    ForecastAuthError,
    ForecastNotFound,
    ForecastValidationError,
    NewForecastCustomer,
    NewForecastExpenseItem,
)

MOUNT = "/forecast/api/v1"


async def no_sleep(_seconds: float) -> None:
    return None


class Sandbox:
    """The stand-in mounted the way the sandbox server mounts it, plus a client pointed at it."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.server: TestServer | None = None

    async def start(self) -> ForecastApi:
        root = web.Application()
        root.add_subapp(MOUNT, create_forecast_app(self.data_dir))
        self.server = TestServer(root, host="127.0.0.1", port=0)
        await self.server.start_server()
        self.session = aiohttp.ClientSession()
        return ForecastApi(self.session, self.url(""), timeout=5, sleep=no_sleep)

    def url(self, path: str) -> str:
        return str(self.server.make_url(MOUNT + path))

    async def stop(self) -> None:
        await self.session.close()
        await self.server.close()


@pytest.fixture
async def sandbox(tmp_path):
    box = Sandbox(tmp_path)
    box.api = await box.start()
    yield box
    await box.stop()


async def test_find_inv_101_with_its_entries_and_client(sandbox):
    invoice = await sandbox.api.find_invoice(DEFAULT_API_KEY, "inv-101")

    assert invoice.invoice_reference == "INV-101"
    assert invoice.currency == "GBP"
    assert invoice.line_count == 3
    assert invoice.total == pytest.approx((5 * 950 + 32 * 85 + 6 * 70 * 0.9) * 1.2)
    customer = await sandbox.api.get_customer(DEFAULT_API_KEY, invoice.client_id)
    assert customer.name == "Acme Corporation"
    assert customer.vat_number == "GB123456789"


async def test_demo_has_a_dozen_invoices_and_inv_112_has_no_entries(sandbox):
    invoices = await sandbox.api.list_invoices(DEFAULT_API_KEY)

    assert [i.invoice_reference for i in invoices] == [f"INV-{n}" for n in range(101, 113)]
    assert {i.currency for i in invoices} == {"GBP", "USD", "EUR"}
    assert all(1 <= i.line_count <= 4 for i in invoices[:-1])
    assert (await sandbox.api.find_invoice(DEFAULT_API_KEY, "112")).line_count == 0


async def test_demo_clients_include_the_ones_in_the_xero_demo(sandbox):
    names = {c.name for c in await sandbox.api.list_customers(DEFAULT_API_KEY)}

    assert {"Acme Corporation", "Globex Ltd"} <= names
    assert len(names) >= 4


async def test_bare_invoice_id_is_found(sandbox):
    first = (await sandbox.api.list_invoices(DEFAULT_API_KEY))[0]

    found = await sandbox.api.find_invoice(DEFAULT_API_KEY, str(first.id))

    assert found.invoice_reference == "INV-101"


async def test_created_client_is_listed_and_survives_a_restart(sandbox):
    new = NewForecastCustomer(name="Wayne Enterprises", street="1007 Mountain Drive", zip="10001",
                              city="Gotham", country="US", vat_number="US-99")

    created = await sandbox.api.create_customer(DEFAULT_API_KEY, new)

    assert created.id > 5 and created.city == "Gotham"
    saved = json.loads((sandbox.data_dir / "forecast.json").read_text())
    assert any(c["name"] == "Wayne Enterprises" for c in saved["clients"])
    await sandbox.stop()
    api = await sandbox.start()
    assert (await api.get_customer(DEFAULT_API_KEY, created.id)).name == "Wayne Enterprises"


async def test_created_expense_item_shows_on_the_project(sandbox):
    item = NewForecastExpenseItem(name="PO-0042 Laptops", cost=2400, price=2600, quantity=2,
                                  expense_category=4, expense_date="2025-05-01")

    created = await sandbox.api.create_expense_item(DEFAULT_API_KEY, 2, item)

    summary = (created.project_id, created.name, created.quantity, created.billable)
    assert summary == (2, "PO-0042 Laptops", 2, True)
    listed = await sandbox.api.list_expense_items(DEFAULT_API_KEY, 2)
    assert created.id in {i.id for i in listed}


async def test_expense_item_without_a_known_category_is_refused(sandbox):
    item = NewForecastExpenseItem(name="Mystery", cost=10, expense_category=999)

    with pytest.raises(ForecastValidationError, match="expense_category 999 does not exist"):
        await sandbox.api.create_expense_item(DEFAULT_API_KEY, 1, item)


async def test_unknown_project_is_not_found(sandbox):
    with pytest.raises(ForecastNotFound, match="Project with id 404 does not exist"):
        await sandbox.api.get_project(DEFAULT_API_KEY, 404)


async def test_bad_key_is_refused(sandbox):
    with pytest.raises(ForecastAuthError) as caught:
        await sandbox.api.find_invoice("not-the-key", "INV-101")

    assert caught.value.status == 401
    assert "not-the-key" not in str(caught.value)


async def test_errors_use_forecasts_status_message_shape(sandbox):
    async with sandbox.session.post(sandbox.url("/clients"), data="name=x",
                                    headers={"X-FORECAST-API-KEY": DEFAULT_API_KEY}) as response:
        assert response.status == 415
        assert await response.json() == {"status": 415, "message": "Content-Type must be application/json"}
    key = {"X-FORECAST-API-KEY": DEFAULT_API_KEY}
    async with sandbox.session.get(sandbox.url("/nowhere"), headers=key) as response:
        assert response.status == 404
        assert (await response.json())["status"] == 404


async def test_overview_page_lists_everything_without_a_key(sandbox):
    async with sandbox.session.get(sandbox.url("/")) as response:
        page = await response.text()

    assert response.status == 200 and response.content_type == "text/html"
    for expected in ("Acme Corporation", "Globex mobile app", "INV-112", "Stock photography"):
        assert expected in page
    assert DEFAULT_API_KEY not in page


async def test_in_memory_when_no_data_dir():
    box = Sandbox(None)
    api = await box.start()
    try:
        await api.create_customer(DEFAULT_API_KEY, NewForecastCustomer(name="Ephemeral"))
    finally:
        await box.stop()
    api = await box.start()
    try:
        assert "Ephemeral" not in {c.name for c in await api.list_customers(DEFAULT_API_KEY)}
    finally:
        await box.stop()


async def test_an_invoice_can_be_approved_sent_put_back_to_draft_and_deleted_on_the_page_and_by_the_api(sandbox):
    invoices = await sandbox.api.list_invoices(DEFAULT_API_KEY)
    draft = next(i for i in invoices if i.status == "DRAFT")
    async with sandbox.session.post(sandbox.url(f"/invoices/{draft.id}/page-action"),
                                    data={"action": "approved", "person": "2"}, allow_redirects=False) as page:
        assert page.status == 303 and page.headers["Location"].endswith(MOUNT + "/")
    approved = await sandbox.api.get_invoice(DEFAULT_API_KEY, draft.id)
    assert approved.status == "APPROVED" and approved.updated_by == 2
    assert (await sandbox.api.get_person(DEFAULT_API_KEY, 2)).full_name == "Fiona Finance"

    headers = {"X-FORECAST-API-KEY": DEFAULT_API_KEY}
    async with sandbox.session.put(sandbox.url(f"/invoices/{draft.id}"), json={"status": "SENT"},
                                   headers=headers) as sent:
        assert sent.status == 200 and (await sent.json())["status"] == "SENT"
    async with sandbox.session.put(sandbox.url(f"/invoices/{draft.id}"), json={"status": "PAID"},
                                   headers=headers) as refused:
        assert refused.status == 400 and "DRAFT, APPROVED or SENT" in (await refused.json())["message"]
    async with sandbox.session.post(sandbox.url(f"/invoices/{draft.id}/page-action"), data={"action": "delete"},
                                    allow_redirects=False) as deleted:
        assert deleted.status == 303
    with pytest.raises(ForecastNotFound):
        await sandbox.api.get_invoice(DEFAULT_API_KEY, draft.id)
    async with sandbox.session.get(sandbox.url("/")) as overview:
        page = await overview.text()
    assert "Back to draft" in page and "Fiona Finance" in page and 'value="delete"' in page
    saved = json.loads((sandbox.data_dir / "forecast.json").read_text())
    assert draft.id not in [i["id"] for i in saved["invoices"]]
