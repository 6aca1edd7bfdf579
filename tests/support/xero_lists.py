"""Xero's Contacts and PurchaseOrders lists (paged, If-Modified-Since, failures) for aioresponses, and Forecast data."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aioresponses import CallbackResult

from services.workspace_settings import SettingsChanges
from tests.support.fake_slack import TEAM_ID
from tests.support.harness import FORECAST_API, XERO_API

ACCOUNTING = XERO_API + "/api.xro/2.0"
FORECAST_KEY = "fc-test-key-0001"


def contact(n: int, name: str | None = None, *, tenant: str = "a", **extra) -> dict:
    return {"ContactID": f"c{tenant}-{n:05d}", "Name": f"Customer {n:05d}" if name is None else name,
            "IsCustomer": True, "ContactStatus": "ACTIVE", **extra}


def purchase_order(n: int, *, tenant: str = "a", status: str = "AUTHORISED", day: int = 1, supplier="Supplies Ltd",
                   total: float = 100.0, currency: str = "GBP") -> dict:
    return {"PurchaseOrderID": f"po{tenant}-{n:05d}", "PurchaseOrderNumber": f"PO-{n:04d}",
            "Contact": {"ContactID": f"s{tenant}-{n}", "Name": supplier},
            "Date": f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T00:00:00", "Status": status, "Total": total,
            "CurrencyCode": currency}


@dataclass
class Sent:
    method: str
    url: str
    headers: dict

    @property
    def tenant(self) -> str:
        return self.headers.get("xero-tenant-id", "")

    @property
    def if_modified_since(self) -> str | None:
        return self.headers.get("If-Modified-Since")


@dataclass
class FakeXeroLists:
    """Answers GET /Contacts and GET /PurchaseOrders per organisation, 100 a page."""

    contacts: dict[str, list[dict]] = field(default_factory=dict)
    orders: dict[str, list[dict]] = field(default_factory=dict)
    # What changed since the last listing: answered instead when If-Modified-Since is sent.
    changed_contacts: dict[str, list[dict]] = field(default_factory=dict)
    changed_orders: dict[str, list[dict]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # tenant -> HTTP status
    sent: list[Sent] = field(default_factory=list)
    on_request: Callable[[Sent], Awaitable[None]] | None = None

    def install(self, xero) -> FakeXeroLists:
        for resource, handler in (("Contacts", self._contacts), ("PurchaseOrders", self._orders)):
            pattern = re.compile(re.escape(f"{ACCOUNTING}/{resource}") + r"(\?.*)?$")
            xero.get(pattern, callback=handler, repeat=True)
        return self

    async def _contacts(self, url, **kwargs):
        return await self._answer("Contacts", self.contacts, self.changed_contacts, url, kwargs)

    async def _orders(self, url, **kwargs):
        return await self._answer("PurchaseOrders", self.orders, self.changed_orders, url, kwargs)

    async def _answer(self, key, everything, changed, url, kwargs):
        sent = Sent("GET", str(url), dict(kwargs.get("headers") or {}))
        self.sent.append(sent)
        if self.on_request:
            await self.on_request(sent)
        if sent.tenant in self.failures:
            status = self.failures[sent.tenant]
            return CallbackResult(status=status, payload={"Title": "Unavailable", "Status": status})
        rows = (changed if sent.if_modified_since else everything).get(sent.tenant, [])
        page, size = int(url.query.get("page", 1)), int(url.query.get("pageSize", 100))
        return CallbackResult(payload={key: rows[(page - 1) * size: page * size]})

    def requests_to(self, resource: str) -> list[Sent]:
        return [s for s in self.sent if f"/{resource}" in s.url]


async def set_forecast_key(bot) -> None:
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(forecast_api_key=FORECAST_KEY),
                                                  updated_by="U0ADMIN")


def forecast_calls(xero, method: str, path: str) -> list:
    return [call for (m, url), calls in xero.requests.items()
            if m == method and str(url).split("?")[0] == FORECAST_API + path for call in calls]


async def open_import(bot, text: str, **kwargs) -> tuple[dict, dict]:
    """Types the command; returns the views.open call and the view it was updated with."""
    await bot.command(text, **kwargs)
    opened = await bot.slack.wait_for("views.open")
    updated = await bot.slack.wait_for("views.update")
    return opened, {**updated["view"], "id": updated["view_id"]}
