"""Xero and Forecast for the sync tests: invoices that get paid, voided and edited, contacts that change,
Forecast invoice payments, and signed webhook deliveries into the bot's real route."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from aioresponses import CallbackResult

from bot.xero_webhooks import xero_signature
from tests.support.harness import FORECAST_API
from tests.support.xero_books import XeroBooks

WEBHOOK_KEY = "xero-webhook-key-for-tests-0000000000000000000000000000000000"
TAX_RATE = Decimal("0.20")  # OUTPUT2, the revenue account's tax type in XeroBooks


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


@dataclass
class SyncBooks(XeroBooks):
    """XeroBooks plus what sync reads: `IDs=`, `If-Modified-Since`, payments and totals."""

    day_remaining: int = 4000

    def _answer(self, method: str):
        inner = super()._answer(method)

        def callback(url, **kwargs):
            result = inner(url, **kwargs)
            result.headers = {**(result.headers or {}), "X-DayLimit-Remaining": str(self.day_remaining)}
            return result

        return callback

    # ------------------------------------------------------------------ reads
    def _get_invoices(self, tenant, query, body, headers):
        since = _since(headers)
        if "IDs" in query:
            wanted = set(query["IDs"].lower().split(","))
            return 200, {"Invoices": [self._full(i) for i in self.invoices[tenant] if i["InvoiceID"] in wanted]}
        if query.get("where") == 'Type=="ACCREC"':
            if query.get("page", "1") != "1":
                return 200, {"Invoices": []}
            return 200, {"Invoices": [self._full(i) for i in self.invoices[tenant]
                                      if since is None or i.get("_updated", 0) > since]}
        return super()._get_invoices(tenant, query, body, headers)

    def _get_contacts(self, tenant, query, body, headers):
        since = _since(headers)
        if "IDs" in query:
            wanted = set(query["IDs"].lower().split(","))
            return 200, {"Contacts": [self._public(c) for c in self.contacts[tenant] if c["ContactID"] in wanted]}
        if "where" not in query:
            if query.get("page", "1") != "1":
                return 200, {"Contacts": []}
            return 200, {"Contacts": [self._public(c) for c in self.contacts[tenant]
                                      if since is None or c.get("_updated", 0) > since]}
        return super()._get_contacts(tenant, query, body, headers)

    @staticmethod
    def _public(row: dict) -> dict:
        return {k: v for k, v in row.items() if not k.startswith("_")}

    def _full(self, invoice: dict) -> dict:
        sub_total = sum((Decimal(str(line["Quantity"])) * Decimal(str(line["UnitAmount"]))
                         * (1 - Decimal(str(line.get("DiscountRate", 0))) / 100) for line in invoice["LineItems"]),
                        Decimal(0))
        tax = (sub_total * TAX_RATE).quantize(Decimal("0.01"))
        total = sub_total + tax
        payments = invoice.setdefault("Payments", [])
        paid = sum((Decimal(str(p["Amount"])) for p in payments if p.get("Status") != "DELETED"), Decimal(0))
        return {**self._public(invoice), "SubTotal": _money(sub_total), "TotalTax": _money(tax), "Total": _money(total),
                "AmountPaid": _money(paid), "AmountDue": _money(total - paid)}

    # ------------------------------------------------------------------ what people do in Xero
    def invoice(self, tenant: str, number: str = "INV-101") -> dict:
        return next(i for i in self.invoices[tenant] if i["InvoiceNumber"] == number)

    def total(self, tenant: str, number: str = "INV-101") -> Decimal:
        return Decimal(str(self._full(self.invoice(tenant, number))["Total"]))

    def pay(self, tenant: str, amount: str, on: str = "2026-12-03", number: str = "INV-101") -> str:
        invoice = self.invoice(tenant, number)
        payment_id = str(uuid.uuid4())
        invoice.setdefault("Payments", []).append(
            {"PaymentID": payment_id, "Date": on, "Amount": float(amount), "Reference": "Bank transfer",
             "Status": "AUTHORISED"})
        self._restate(invoice, on)
        return payment_id

    def remove_payment(self, tenant: str, payment_id: str, number: str = "INV-101") -> None:
        invoice = self.invoice(tenant, number)
        invoice["Payments"] = [p for p in invoice["Payments"] if p["PaymentID"] != payment_id]
        self._restate(invoice, None)

    def void(self, tenant: str, number: str = "INV-101") -> None:
        invoice = self.invoice(tenant, number)
        invoice["Status"] = "VOIDED"
        invoice["_updated"] = time.time()

    def edit_line(self, tenant: str, line: int, number: str = "INV-101", **changes) -> None:
        invoice = self.invoice(tenant, number)
        invoice["LineItems"][line - 1].update(changes)
        invoice["_updated"] = time.time()

    def edit_contact(self, tenant: str, **changes) -> dict:
        contact = self.contacts[tenant][0]
        contact.update(changes)
        contact["_updated"] = time.time()
        return contact

    def _restate(self, invoice: dict, paid_on: str | None) -> None:
        full = self._full(invoice)
        due = Decimal(str(full["AmountDue"]))
        invoice["Status"] = "PAID" if due <= 0 else "AUTHORISED"
        if due <= 0 and paid_on:
            invoice["FullyPaidOnDate"] = paid_on
        else:
            invoice.pop("FullyPaidOnDate", None)
        invoice["_updated"] = time.time()


def _since(headers: dict) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "if-modified-since"), None)
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


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
