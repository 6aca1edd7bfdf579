"""A small stateful stand-in for the Xero Accounting calls an export makes, on top of aioresponses.

Each organisation (tenant) has currencies, accounts, contacts and invoices; created objects can be found
again, and a create repeated with the same Idempotency-Key is answered with the first result, as Xero does.
`fail_next(...)` scripts one failure (validation error, 429, 503) for the next matching call.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from aioresponses import CallbackResult

from tests.support.harness import XERO_API
from tests.support.xero_identity import UK_TENANT, US_TENANT

ACCOUNTING = XERO_API + "/api.xro/2.0"
_PATTERN = re.compile(
    r"^" + re.escape(ACCOUNTING) + r"/(?P<resource>Invoices|Contacts|Currencies|Accounts|TaxRates)(?:\?.*)?$")


def validation_error(*messages: str) -> dict:
    return {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": [{"ValidationErrors": [{"Message": m} for m in messages]}]}


@dataclass
class Scripted:
    method: str
    resource: str
    status: int
    payload: dict | None
    headers: dict


@dataclass
class XeroBooks:
    currencies: dict[str, list[str]] = field(default_factory=lambda: {UK_TENANT: ["GBP", "EUR"], US_TENANT: ["USD"]})
    accounts: dict[str, list[dict]] = field(default_factory=lambda: {
        tenant: [{"Code": "090", "Name": "Bank", "Type": "BANK", "Status": "ACTIVE"},
                 {"Code": "200", "Name": "Sales", "Type": "REVENUE", "Status": "ACTIVE", "TaxType": "OUTPUT2"}]
        for tenant in (UK_TENANT, US_TENANT)})
    tax_rates: dict[str, list[dict]] = field(default_factory=lambda: {
        tenant: [{"Name": "20% (VAT on Income)", "TaxType": "OUTPUT2", "Status": "ACTIVE", "CanApplyToRevenue": True,
                  "EffectiveRate": 20.0},
                 {"Name": "No VAT", "TaxType": "NONE", "Status": "ACTIVE", "CanApplyToRevenue": True,
                  "EffectiveRate": 0.0},
                 {"Name": "20% (VAT on Expenses)", "TaxType": "INPUT2", "Status": "ACTIVE",
                  "CanApplyToRevenue": False, "EffectiveRate": 20.0}]
        for tenant in (UK_TENANT, US_TENANT)})
    contacts: dict[str, list[dict]] = field(default_factory=lambda: {UK_TENANT: [], US_TENANT: []})
    invoices: dict[str, list[dict]] = field(default_factory=lambda: {UK_TENANT: [], US_TENANT: []})
    scripted: list[Scripted] = field(default_factory=list)
    replays: dict[str, tuple[int, dict]] = field(default_factory=dict)
    calls: list[tuple[str, str, dict, bytes | None]] = field(default_factory=list)  # method, url, headers, body

    def install(self, mocked) -> XeroBooks:
        mocked.get(_PATTERN, callback=self._answer("GET"), repeat=True)
        mocked.put(_PATTERN, callback=self._answer("PUT"), repeat=True)
        return self

    def fail_next(self, method: str, resource: str, status: int, payload: dict | None = None,
                  headers: dict | None = None) -> None:
        self.scripted.append(Scripted(method, resource, status, payload, headers or {}))

    def sent(self, method: str, resource: str) -> list[tuple[str, str, dict, bytes | None]]:
        return [c for c in self.calls if c[0] == method and f"/{resource}" in c[1]]

    def sent_bodies(self, method: str, resource: str) -> list[dict]:
        return [json.loads(c[3]) for c in self.sent(method, resource)]

    # ------------------------------------------------------------------------------------------------
    def _answer(self, method: str):
        def callback(url, **kwargs):
            headers = dict(kwargs.get("headers") or {})
            body = kwargs.get("data")
            self.calls.append((method, str(url), headers, body))
            resource = _PATTERN.match(str(url)).group("resource")
            for script in self.scripted:
                if script.method == method and script.resource == resource:
                    self.scripted.remove(script)
                    return CallbackResult(status=script.status, payload=script.payload or {}, headers=script.headers)
            tenant = headers["xero-tenant-id"]
            query = {k: v[0] for k, v in parse_qs(url.query_string).items()}
            status, payload = getattr(self, f"_{method.lower()}_{resource.lower()}")(tenant, query, body, headers)
            return CallbackResult(status=status, payload=payload)

        return callback

    def _get_currencies(self, tenant, query, body, headers):
        return 200, {"Currencies": [{"Code": c, "Description": c} for c in self.currencies[tenant]]}

    def _get_accounts(self, tenant, query, body, headers):
        return 200, {"Accounts": self.accounts[tenant]}

    def _get_taxrates(self, tenant, query, body, headers):
        return 200, {"TaxRates": self.tax_rates[tenant]}

    def _get_contacts(self, tenant, query, body, headers):
        where = query.get("where", "")
        name = re.fullmatch(r'Name=="(.*)"', where)
        found = [c for c in self.contacts[tenant] if name and c["Name"].lower() == name.group(1).lower()]
        return 200, {"Contacts": found}

    def _put_contacts(self, tenant, query, body, headers):
        return self._replayed(headers) or self._remember(headers, 200, {"Contacts": [
            self._add(self.contacts[tenant], {**c, "ContactID": str(uuid.uuid4()), "ContactStatus": "ACTIVE"})
            for c in json.loads(body)["Contacts"]]})

    def _get_invoices(self, tenant, query, body, headers):
        numbers = (query.get("InvoiceNumbers") or "").split(",")
        return 200, {"Invoices": [i for i in self.invoices[tenant] if i["InvoiceNumber"] in numbers]}

    def _put_invoices(self, tenant, query, body, headers):
        return self._replayed(headers) or self._remember(headers, 200, {"Invoices": [
            self._add(self.invoices[tenant], {**i, "InvoiceID": str(uuid.uuid4()), "Status": i.get("Status", "DRAFT")})
            for i in json.loads(body)["Invoices"]]})

    def _replayed(self, headers):
        return self.replays.get(headers.get("Idempotency-Key"))

    def _remember(self, headers, status, payload):
        if headers.get("Idempotency-Key"):
            self.replays[headers["Idempotency-Key"]] = (status, payload)
        return status, payload

    @staticmethod
    def _add(rows: list[dict], row: dict) -> dict:
        rows.append(row)
        return row
