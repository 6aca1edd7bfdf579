"""The sandbox's Xero organisations answering through aioresponses: the one Xero double of the tests.

Every Accounting call goes to the sandbox's own handlers (sandbox/xero/accounting.py) over its demo
organisations, with Xero's Idempotency-Key replay, real totals, tax types and per-item errors, and is checked
against Xero's OpenAPI spec when the contracts are available.

- Setting up: `connected_books(xero, {"UK": UK_TENANT})` files demo organisations under the tenant ids the
  bot connected, empty; `add_contact`, `add_invoice`, `add_account`, `add_currency`/`remove_currency`,
  `holding` and `change` (which If-Modified-Since then finds) put in what a test needs; `tracking_category`
  and `archive_option` reach the tracking categories (Region: North, South; Department: Consulting, Design).
- What a bookkeeper does: `approve`, `pay`, `remove_payment`, `void`, `edit_line`, `edit_contact`
  (the sandbox's own bookkeeping, sandbox/xero/bookkeeping.py); `credit_note`, `overpayment`, `allocate`,
  `remove_allocation`, `void_credit_note` (sandbox/xero/credits.py).
- Failures and timing: `fail_next` (the next matching call), `refuse` (any call, by a function),
  `refuse_invoice` (one invoice of a batch), `before` (holds a call, async), `after_commit` (may raise to cut
  the connection after Xero has done the work), `day_remaining` (X-DayLimit-Remaining).
- What the bot sent: `calls`, `sent(method, resource)`, `bodies(method, resource)`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aioresponses import CallbackResult
from multidict import MultiDict, MultiDictProxy

from sandbox.xero import accounting, bookkeeping, credits, tracking
from sandbox.xero.demo_data import build_organisations
from sandbox.xero.state import XeroState
from tests.support import in_process
from tests.support.contracts import CONTRACTS_DIR, validate_xero_accounting_request

API_URL = "https://api.xero.test"
EDITABLE_LINE_FIELDS = ("Description", "Quantity", "UnitAmount", "DiscountRate", "AccountCode", "TaxType", "ItemCode")
_PATTERN = re.compile(r"^" + re.escape(API_URL) + r"/api\.xro/2\.0/(?P<resource>\w+)(?:/(?P<key>[^?]+))?(?:\?.*)?$")


class Call(in_process.Call):
    @property
    def resource(self) -> str:
        return _PATTERN.match(self.url).group("resource")

    @property
    def tenant(self) -> str:
        return self.headers.get("xero-tenant-id", "")

    @property
    def if_modified_since(self) -> str | None:
        return self.headers.get("If-Modified-Since")


@dataclass
class XeroStandIn:
    organisations: dict[str, dict[str, Any]] = field(default_factory=lambda: build_organisations(time.time()))
    calls: list[Call] = field(default_factory=list)
    replays: dict[str, tuple[int, Any]] = field(default_factory=dict)
    after_commit: Callable[[Call], None] | None = None  # may raise to cut the connection after the work is done
    refuse: Callable[[Call], tuple[int, Any, dict] | None] | None = None  # (status, body, headers) instead
    before: Callable[[Call], Awaitable[None]] | None = None
    scripted: list[tuple[str, str, tuple[int, Any, dict]]] = field(default_factory=list)  # see fail_next
    day_remaining: int = 4999  # X-DayLimit-Remaining on every answer
    refused_invoices: dict[str, str] = field(default_factory=dict)  # invoice number -> Xero's message

    def install(self, mocked) -> XeroStandIn:
        for method in ("get", "put", "post"):
            getattr(mocked, method)(_PATTERN, callback=self._callback(method.upper()), repeat=True)
        return self

    def connected_as(self, tenant_ids: dict[str, str]) -> XeroStandIn:
        """Files demo organisations (by short name: "UK", "US") under the tenant ids a test connected."""
        for short, tenant_id in tenant_ids.items():
            org = self.organisations.pop(self.tenant_id(short))
            org["TenantID"] = tenant_id
            self.organisations[tenant_id] = org
        return self

    def holding(self, tenant_id: str, *, contacts: Iterable[dict] = (), purchase_orders: Iterable[dict] = (),
                changed_at: float | None = None) -> XeroStandIn:
        """The organisation holds exactly these contacts and purchase orders, last changed a day ago, and no
        invoices: the demo records are gone."""
        org = self.organisations[tenant_id]
        org["Contacts"], org["PurchaseOrders"], org["Invoices"] = {}, {}, {}
        for row in contacts:
            self.change(tenant_id, row, at=changed_at or time.time() - 86400)
        for row in purchase_orders:
            self.change(tenant_id, row, at=changed_at or time.time() - 86400)
        return self

    def change(self, tenant_id: str, row: dict, *, at: float | None = None) -> None:
        """Someone adds or edits a contact or purchase order in Xero: If-Modified-Since now finds it."""
        records, key = ((self.organisations[tenant_id]["PurchaseOrders"], "PurchaseOrderID")
                        if "PurchaseOrderID" in row else (self.organisations[tenant_id]["Contacts"], "ContactID"))
        records[row[key]] = {**row, "_updated": time.time() if at is None else at}

    def fail_next(self, method: str, resource: str, status: int, payload: Any = None,
                  headers: dict | None = None) -> None:
        """The next `method` call to `resource` is answered with this failure instead (in the order scripted)."""
        self.scripted.append((method, resource, (status, {} if payload is None else payload, headers or {})))

    def refuse_invoice(self, number: str, message: str) -> None:
        """Xero refuses this invoice wherever it is sent, as a per-invoice validation error; the others in the
        same request are made (with summarizeErrors=false)."""
        self.refused_invoices[number] = message

    def add_account(self, tenant_id: str, code: str, name: str, **fields: Any) -> None:
        """A revenue account like the organisation's Sales account, without its tax type unless given."""
        accounts = self.organisations[tenant_id]["Accounts"]
        sales = next(a for a in accounts if a["Code"] == "200")
        accounts.append({**{k: v for k, v in sales.items() if k != "TaxType"}, "AccountID": str(uuid.uuid4()),
                         "Code": code, "Name": name, **fields})

    def tracking_category(self, tenant_id: str, name: str) -> dict:
        """The organisation's tracking category by name ("Region": North, South; "Department")."""
        return next(c for c in tracking.categories(self.organisations[tenant_id]) if c["Name"] == name)

    def archive_option(self, tenant_id: str, category: str, option: str) -> None:
        """A bookkeeper archives a tracking option in Xero's settings."""
        found = self.tracking_category(tenant_id, category)
        option_id = next(o["TrackingOptionID"] for o in found["Options"] if o["Name"] == option)
        tracking.set_option_status(self.organisations[tenant_id], found["TrackingCategoryID"], option_id, "ARCHIVED")

    def invoices(self, tenant_id: str) -> list[dict]:
        """The organisation's invoices as stored, oldest first."""
        return sorted(self.organisations[tenant_id]["Invoices"].values(), key=lambda i: i.get("_created", 0))

    def contacts(self, tenant_id: str) -> list[dict]:
        return list(self.organisations[tenant_id]["Contacts"].values())

    def add_currency(self, tenant_id: str, code: str) -> None:
        self.organisations[tenant_id]["Currencies"].append({"Code": code, "Description": code})

    def remove_currency(self, tenant_id: str, code: str) -> None:
        org = self.organisations[tenant_id]
        org["Currencies"] = [c for c in org["Currencies"] if c["Code"] != code]

    def bodies(self, method: str, resource: str) -> list[Any]:
        return [json.loads(c.body) for c in self.sent(method, resource)]

    def add_contact(self, tenant_id: str, name: str, **fields: Any) -> str:
        """A customer someone made in Xero; returns its ContactID."""
        contact_id = str(uuid.uuid4())
        self.change(tenant_id, {"ContactID": contact_id, "Name": name, "ContactStatus": "ACTIVE",
                                "IsCustomer": True, **fields})
        return contact_id

    def add_invoice(self, tenant_id: str, number: str, **fields: Any) -> str:
        """A sales invoice someone made in Xero; returns its InvoiceID."""
        invoice_id = str(uuid.uuid4())
        self.organisations[tenant_id]["Invoices"][invoice_id] = {
            "InvoiceID": invoice_id, "InvoiceNumber": number, "Type": "ACCREC", "Status": "DRAFT",
            "_created": time.time(), "_updated": time.time(), **fields}
        return invoice_id

    # What people do in Xero (the sandbox's own bookkeeping) ---------------------------------------
    def invoice(self, tenant_id: str, number: str = "INV-101") -> dict:
        [found] = self.invoices_numbered(tenant_id, number)
        return found

    def total(self, tenant_id: str, number: str = "INV-101") -> Decimal:
        return Decimal(str(self.invoice(tenant_id, number)["Total"]))

    def approve(self, tenant_id: str, number: str = "INV-101") -> None:
        bookkeeping.approve(self._books(), tenant_id, self.invoice(tenant_id, number)["InvoiceID"])

    def pay(self, tenant_id: str, amount: str, on: str = "2026-12-03", number: str = "INV-101",
            reference: str = "Bank transfer") -> str:
        """A payment recorded against the invoice; returns its PaymentID."""
        invoice = self.invoice(tenant_id, number)
        bookkeeping.record_payment(self._books(), tenant_id, invoice["InvoiceID"], amount, on)
        invoice["Payments"][-1]["Reference"] = reference
        return invoice["Payments"][-1]["PaymentID"]

    def remove_payment(self, tenant_id: str, payment_id: str, number: str = "INV-101") -> None:
        bookkeeping.remove_payment(self._books(), tenant_id, self.invoice(tenant_id, number)["InvoiceID"], payment_id)

    def void(self, tenant_id: str, number: str = "INV-101") -> None:
        bookkeeping.void(self._books(), tenant_id, self.invoice(tenant_id, number)["InvoiceID"])

    def credit_note(self, tenant_id: str, amount: str, *, number: str = "INV-101", on: str = "2026-12-04") -> str:
        """A credit note for the invoice's customer (AUTHORISED, not allocated yet); returns its CreditNoteID."""
        contact_id = self.invoice(tenant_id, number)["Contact"]["ContactID"]
        credit_id, _ = credits.create(self._books(), tenant_id, "credit_note", contact_id, amount, on)
        return credit_id

    def overpayment(self, tenant_id: str, amount: str, *, kind: str = "overpayment", number: str = "INV-101",
                    on: str = "2026-12-04") -> str:
        """An overpayment (or `kind="prepayment"`) received from the invoice's customer; returns its id."""
        contact_id = self.invoice(tenant_id, number)["Contact"]["ContactID"]
        credit_id, _ = credits.create(self._books(), tenant_id, kind, contact_id, amount, on)
        return credit_id

    def allocate(self, tenant_id: str, credit_id: str, amount: str, *, kind: str = "credit_note",
                 number: str = "INV-101", on: str = "2026-12-05") -> str:
        """Part of a credit applied to the invoice; returns the AllocationID."""
        invoice = self.invoice(tenant_id, number)
        credits.allocate(self._books(), tenant_id, kind, credit_id, invoice["InvoiceID"], amount, on)
        return credits.documents(self.organisations[tenant_id], kind)[credit_id]["Allocations"][-1]["AllocationID"]

    def remove_allocation(self, tenant_id: str, credit_id: str, allocation_id: str, *,
                          kind: str = "credit_note") -> None:
        credits.remove_allocation(self._books(), tenant_id, kind, credit_id, allocation_id)

    def void_credit_note(self, tenant_id: str, credit_id: str) -> None:
        credits.void(self._books(), tenant_id, credit_id)

    def edit_line(self, tenant_id: str, line: int, number: str = "INV-101", **changes: Any) -> None:
        """A line changed in Xero's invoice editor: saved through the Accounting API's update, totals and all."""
        invoice = self.invoice(tenant_id, number)
        lines = [{k: v for k, v in item.items() if k in EDITABLE_LINE_FIELDS} for item in invoice["LineItems"]]
        lines[line - 1].update(changes)
        request = accounting.ApiRequest(
            "POST", "Invoices", None, MultiDictProxy(MultiDict()), {},
            {"Invoices": [{"InvoiceID": invoice["InvoiceID"], "LineItems": lines}]},
            self.organisations[tenant_id], time.time())
        status, answer = accounting.save_invoices(request)
        assert status == 200, answer
        bookkeeping.restate(self.invoice(tenant_id, number))

    def edit_contact(self, tenant_id: str, **changes: Any) -> dict:
        """The organisation's first contact edited in Xero; returns it."""
        contact = next(iter(self.organisations[tenant_id]["Contacts"].values()))
        contact.update(changes, _updated=time.time())
        return contact

    def _books(self) -> XeroState:
        return XeroState(None, time.time, "", "", organisations=self.organisations)

    def tenant_id(self, short: str) -> str:
        return next(tid for tid, org in self.organisations.items() if org["Short"] == short)

    def invoices_numbered(self, tenant_id: str, number: str) -> list[dict]:
        return [i for i in self.organisations[tenant_id]["Invoices"].values() if i.get("InvoiceNumber") == number]

    def sent(self, method: str, resource: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.resource == resource]

    def _callback(self, method: str):
        async def callback(url, **kwargs):
            headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
            body = kwargs.get("data")
            call = Call(method, str(url), headers, body)
            self.calls.append(call)
            if self.before is not None:
                await self.before(call)
            if CONTRACTS_DIR is not None:
                validate_xero_accounting_request(method, str(url), headers, body)
            refused = self._scripted(call) or (self.refuse(call) if self.refuse is not None else None)
            if refused is not None:
                return CallbackResult(status=refused[0], payload=refused[1], headers=refused[2])
            status, payload = self._answer(call, url)
            if self.after_commit is not None:
                self.after_commit(call)
            return CallbackResult(status=status, payload=payload,
                                  headers={"X-MinLimit-Remaining": "59",
                                           "X-DayLimit-Remaining": str(self.day_remaining)})
        return callback

    def _refused_in(self, method: str, resource: str, body: Any) -> set[str]:
        if method == "GET" or resource != "Invoices" or not isinstance(body, dict):
            return set()
        return {i.get("InvoiceNumber") for i in body.get("Invoices", [])} & set(self.refused_invoices)

    def _with_refusals(self, sent: list[dict], payload: dict, refused: set[str]) -> dict:
        made = iter(payload.get("Invoices", []))
        return {**payload, "Invoices": [
            {**i, "HasErrors": True, "StatusAttributeString": "ERROR",
             "ValidationErrors": [{"Message": self.refused_invoices[i["InvoiceNumber"]]}]}
            if i.get("InvoiceNumber") in refused else next(made) for i in sent]}

    def _scripted(self, call: Call) -> tuple[int, Any, dict] | None:
        for script in self.scripted:
            if script[0] == call.method and script[1] == call.resource:
                self.scripted.remove(script)
                return script[2]
        return None

    def _answer(self, call: Call, url) -> tuple[int, Any]:
        match = _PATTERN.match(call.url)
        resource = accounting.RESOURCE_NAMES[match.group("resource").lower()]
        key = call.headers.get("Idempotency-Key")
        replay_key = f"{call.headers['xero-tenant-id']}|{key}"
        if key and call.method != "GET" and replay_key in self.replays:
            return self.replays[replay_key]
        if call.method == "GET":
            handler = accounting.READERS[resource]
        else:
            handler = (accounting.SUB_WRITERS if "/" in (match.group("key") or "") else accounting.WRITERS)[resource]
        body = json.loads(call.body) if call.body else None
        refused = self._refused_in(call.method, resource, body)
        if refused:
            body = {"Invoices": [i for i in body["Invoices"] if i.get("InvoiceNumber") not in refused]}
        request = accounting.ApiRequest(
            call.method, resource, match.group("key"), MultiDictProxy(MultiDict(url.query)), call.headers,
            body, self.organisations[call.headers["xero-tenant-id"]], time.time(),
        )
        answer = handler(request) if not refused or body["Invoices"] else (200, {"Invoices": []})
        if refused:
            answer = (answer[0], self._with_refusals(json.loads(call.body)["Invoices"], answer[1], refused))
        if key and call.method != "GET":
            self.replays[replay_key] = answer
        return answer


def validation_error(*messages: str) -> dict:
    """Xero's 400 ValidationException naming these problems, as the sandbox words it."""
    return accounting.validation_exception([{"ValidationErrors": [{"Message": m} for m in messages]}])


def connected_books(mocked, tenant_ids: dict[str, str]) -> XeroStandIn:
    """The demo organisations named in `tenant_ids` ("UK", "US") under the tenant ids the bot connected,
    holding no contacts, invoices or purchase orders yet; answering through aioresponses `mocked`."""
    standin = XeroStandIn().connected_as(tenant_ids).install(mocked)
    for tenant_id in tenant_ids.values():
        standin.holding(tenant_id)
    return standin


class Tokens:
    """Access tokens for the Xero client without OAuth: each token set has a fixed one."""

    async def access_token(self, token_set_id: str) -> str:
        return "access-" + token_set_id


async def no_sleep(_seconds: float) -> None:
    """The Xero client's retry wait, not waiting."""
