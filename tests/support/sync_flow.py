"""Forecast's invoice payments and signed Xero webhook deliveries into the bot's real route, for the sync tests.
Xero itself is the sandbox's stand-in (tests/support/xero_standin.py: pay, void, edit_line, edit_contact)."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from dataclasses import dataclass, field

from aioresponses import CallbackResult

from bot.xero_webhooks import xero_signature
from tests.support.harness import FORECAST_API

WEBHOOK_KEY = "xero-webhook-key-for-tests-0000000000000000000000000000000000"


@dataclass
class ForecastPayments:
    """Forecast's invoice payments (`GET /invoices/{id}` lists them) and client updates, on aioresponses."""

    invoice: dict
    integer_amounts: bool = False  # Forecast keeping only whole amounts, as one part of its docs says
    stall_first_read: bool = False  # the first read of the invoice never answers (its process dies meanwhile)
    reads: int = 0
    payments: list[dict] = field(default_factory=list)
    client_updates: list[dict] = field(default_factory=list)
    created: list[dict] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(900))

    def install(self, mocked) -> ForecastPayments:
        invoice_id = self.invoice["id"]
        mocked.get(f"{FORECAST_API}/invoices/{invoice_id}", callback=self._get_invoice, repeat=True)
        mocked.post(f"{FORECAST_API}/invoices/{invoice_id}/invoice_payments", callback=self._create, repeat=True)
        mocked.delete(re.compile(re.escape(FORECAST_API) + r"/invoice_payments/\d+$"), callback=self._delete,
                      repeat=True)
        mocked.put(re.compile(re.escape(FORECAST_API) + r"/clients/\d+$"), callback=self._update_client, repeat=True)
        return self

    async def _get_invoice(self, url, **kwargs):
        self.reads += 1
        if self.stall_first_read and self.reads == 1:
            await asyncio.Event().wait()
        return CallbackResult(payload={**self.invoice, "payments": self.payments})

    def _create(self, url, **kwargs):
        body = kwargs["json"]
        self.created.append(body)
        amount = int(body["amount"]) if self.integer_amounts else body["amount"]
        row = {"id": next(self._ids), "invoice_id": self.invoice["id"], "notes": body["notes"], "amount": amount,
               "date": body["date"]}
        self.payments.append(row)
        return CallbackResult(status=201, payload=row)

    def _delete(self, url, **kwargs):
        payment_id = int(str(url).rsplit("/", 1)[1])
        self.deleted.append(payment_id)
        self.payments = [p for p in self.payments if p["id"] != payment_id]
        return CallbackResult(status=200, body="")

    def _update_client(self, url, **kwargs):
        self.client_updates.append(kwargs["json"])
        return CallbackResult(payload={"id": int(str(url).rsplit("/", 1)[1]), **kwargs["json"]})


def event(resource_id: str, tenant_id: str, *, category: str = "INVOICE", when: str = "2026-12-03T10:00:00.000",
          event_type: str = "UPDATE") -> dict:
    resource = "Invoices" if category == "INVOICE" else "Contacts"
    return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/{resource}/{resource_id}", "resourceId": resource_id,
            "tenantId": tenant_id, "tenantType": "ORGANISATION", "eventCategory": category, "eventType": event_type,
            "eventDateUtc": when}


def delivery(events: list[dict]) -> bytes:
    return json.dumps({"events": events, "firstEventSequence": 1, "lastEventSequence": max(1, len(events)),
                       "entropy": "SOMERANDOMLETTERS"}).encode()


async def post_webhook(bot, body: bytes, *, key: str | None = WEBHOOK_KEY, signature: str | None = None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["x-xero-signature"] = signature
    elif key is not None:
        headers["x-xero-signature"] = xero_signature(key, body)
    return await bot.client.post("/xero/webhooks", data=body, headers=headers)
