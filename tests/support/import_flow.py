"""Xero records and the steps of an import as people do them in Slack, for the import tests.

Xero is the sandbox's stand-in (tests/support/xero_standin.py), its UK and US demo organisations filed under
the tenant ids `connect_organisations` connects, holding only the contacts and purchase orders a test gives;
Forecast is the sandbox's too (`forecast_holding`).
"""

from __future__ import annotations

from services.shared.settings import SettingsChanges
from tests.support.forecast_standin import ForecastStandIn
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import UK_TENANT, US_TENANT
from tests.support.xero_standin import XeroStandIn, connected_books

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


def xero_holding(xero, *, uk_contacts=(), us_contacts=(), uk_orders=(), us_orders=()) -> XeroStandIn:
    """The connected UK and US organisations with exactly these contacts and purchase orders."""
    standin = connected_books(xero, {"UK": UK_TENANT, "US": US_TENANT})
    standin.holding(UK_TENANT, contacts=uk_contacts, purchase_orders=uk_orders)
    standin.holding(US_TENANT, contacts=us_contacts, purchase_orders=us_orders)
    return standin


def listings(standin: XeroStandIn) -> list:
    """The calls that read the Contacts or PurchaseOrders lists."""
    return [c for c in standin.calls if c.method == "GET" and c.resource in ("Contacts", "PurchaseOrders")]


def refuse_tenant(standin: XeroStandIn, tenant_id: str, status: int) -> None:
    """Every call to this organisation fails with `status` (a revoked connection, an outage)."""
    standin.refuse = lambda call: ((status, {"Title": "Unavailable", "Status": status}, {})
                                   if call.tenant == tenant_id else None)


async def set_forecast_key(bot) -> None:
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(forecast_api_key=FORECAST_KEY),
                                                  updated_by="U0ADMIN")


def forecast_holding(xero, **records) -> ForecastStandIn:
    """The sandbox's Forecast (tests/support/forecast_standin.py), accepting the key `set_forecast_key` sets and
    holding exactly the records of each kind given (`ForecastStandIn.holding`)."""
    return ForecastStandIn(key=FORECAST_KEY).install(xero).holding(**records)


async def open_import(bot, text: str, **kwargs) -> tuple[dict, dict]:
    """Types the command; returns the views.open call and the view it was updated with."""
    await bot.command(text, **kwargs)
    opened = await bot.slack.wait_for("views.open")
    updated = await bot.slack.wait_for("views.update")
    return opened, {**updated["view"], "id": updated["view_id"]}
