"""The three demo organisations every sandbox starts with.

IDs are derived from names (uuid5) so they are the same on every start and can be named in docs and tests.
"""

from __future__ import annotations

import uuid
from typing import Any

from .dates import day_start, ms_date
from .money import line_totals

_NAMESPACE = uuid.UUID("6f6a5c1e-7b1d-4c55-9a3c-0b7e2d1f9a10")

DAY = 86400.0


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


ORG_SPECS: list[dict[str, Any]] = [
    {
        "name": "Demo Company (UK)",
        "short": "UK",
        "address": ("London", "EC1A 1BB", "United Kingdom"),
        "base_currency": "GBP",
        "currencies": [("GBP", "British Pound"), ("EUR", "Euro"), ("USD", "United States Dollar")],
        "country": "GB",
        "timezone": "GMTSTANDARDTIME",
        "sales_tax": ("OUTPUT2", "20% (VAT on Income)", 20.0),
        "purchase_tax": ("INPUT2", "20% (VAT on Expenses)", 20.0),
        "zero_tax": ("NONE", "No VAT", 0.0),
        "customers": [
            "Acme Corporation", "Globex Ltd", "Initech UK", "Hooli Europe", "Stark Industries Ltd",
            "Wayne Enterprises plc",
        ],
        "suppliers": ["Office Supplies Co", "Cloud Hosting Ltd", "Northwind Traders"],
        "checked": True,
    },
    {
        "name": "Demo Company (US)",
        "short": "US",
        "address": ("New York", "10001", "United States"),
        "base_currency": "USD",
        "currencies": [("USD", "United States Dollar"), ("CAD", "Canadian Dollar")],
        "country": "US",
        "timezone": "EASTERNSTANDARDTIME",
        "sales_tax": ("OUTPUT", "Tax on Sales", 8.5),
        "purchase_tax": ("INPUT", "Tax on Purchases", 0.0),
        "zero_tax": ("NONE", "Tax Exempt", 0.0),
        "customers": [
            "Globex Ltd", "Umbrella Corp", "Soylent Inc", "Cyberdyne Systems", "Massive Dynamic",
            "Tyrell Corp",
        ],
        "suppliers": ["Paper Street Supplies", "Blue Sky Logistics"],
        "checked": True,
    },
    {
        "name": "Acme Holdings NZ",
        "short": "NZ",
        "address": ("Auckland", "1010", "New Zealand"),
        "base_currency": "NZD",
        "currencies": [("NZD", "New Zealand Dollar"), ("AUD", "Australian Dollar")],
        "country": "NZ",
        "timezone": "NEWZEALANDSTANDARDTIME",
        "sales_tax": ("OUTPUT2", "15% GST on Income", 15.0),
        "purchase_tax": ("INPUT2", "15% GST on Expenses", 15.0),
        "zero_tax": ("NONE", "No GST", 0.0),
        "customers": [
            "Kiwi Design Ltd", "Weta Widgets", "Pavlova Partners", "Tui Tech", "Kea Consulting",
            "Harbour Bridge Events",
        ],
        "suppliers": ["Southern Freight", "Auckland Print"],
        "checked": False,
    },
]

# Units of the foreign currency per unit of base currency; good enough for CurrencyRate.
EXCHANGE_RATES = {
    ("GBP", "EUR"): 1.17, ("GBP", "USD"): 1.27, ("USD", "CAD"): 1.36, ("NZD", "AUD"): 0.92,
}


def build_organisations(now: float, *, many_contacts: int = 0) -> dict[str, dict[str, Any]]:
    orgs = {}
    for spec in ORG_SPECS:
        org = _build_org(spec, now)
        if spec["short"] == "UK":
            for number in range(1, many_contacts + 1):
                _add_contact(org, f"Customer {number:04d}", now - 20 * DAY, customer=True)
        orgs[org["TenantID"]] = org
    return orgs


def build_organisation(spec: dict[str, Any], now: float) -> dict[str, Any]:
    """One more organisation shaped like the demo ones (the bench adds two); `spec` as in ORG_SPECS."""
    return _build_org(spec, now)


def _build_org(spec: dict[str, Any], now: float) -> dict[str, Any]:
    tenant_id = stable_id("tenant", spec["name"])
    sales_type, purchase_type, zero_type = spec["sales_tax"][0], spec["purchase_tax"][0], spec["zero_tax"][0]
    org: dict[str, Any] = {
        "TenantID": tenant_id,
        "Name": spec["name"],
        "Short": spec["short"],
        "BaseCurrency": spec["base_currency"],
        "CountryCode": spec["country"],
        "Timezone": spec["timezone"],
        "Currencies": [{"Code": code, "Description": text} for code, text in spec["currencies"]],
        "TaxRates": [_tax_rate(*spec[key]) for key in ("sales_tax", "purchase_tax", "zero_tax")],
        "Accounts": [
            _account(tenant_id, "090", "Business Bank Account", "BANK", "ASSET", zero_type, now),
            _account(tenant_id, "200", "Sales", "REVENUE", "REVENUE", sales_type, now),
            _account(tenant_id, "260", "Other Revenue", "REVENUE", "REVENUE", sales_type, now),
            _account(tenant_id, "270", "Interest Income", "REVENUE", "REVENUE", zero_type, now),
            _account(tenant_id, "400", "Advertising", "EXPENSE", "EXPENSE", purchase_type, now),
            _account(tenant_id, "429", "General Expenses", "EXPENSE", "EXPENSE", purchase_type, now),
        ],
        "Contacts": {},
        "Invoices": {},
        "PurchaseOrders": {},
        "NextInvoiceNumber": 1,
        "NextPurchaseOrderNumber": 1,
        "CreatedDateUTC": now - 400 * DAY,
    }
    for offset, name in enumerate(spec["customers"]):
        _add_contact(org, name, now - (30 - offset) * DAY, customer=True)
    suppliers = [_add_contact(org, name, now - 25 * DAY, supplier=True) for name in spec["suppliers"]]
    _add_demo_invoices(org, now)
    _add_demo_purchase_orders(org, suppliers, now)
    return org


def _tax_rate(tax_type: str, name: str, rate: float) -> dict[str, Any]:
    return {
        "Name": name,
        "TaxType": tax_type,
        "ReportTaxType": ("OUTPUT" if tax_type.startswith("OUTPUT")
                          else "INPUT" if tax_type.startswith("INPUT") else "NONE"),
        "CanApplyToAssets": True,
        "CanApplyToEquity": True,
        "CanApplyToExpenses": True,
        "CanApplyToLiabilities": True,
        "CanApplyToRevenue": not tax_type.startswith("INPUT"),  # purchase rates are not offered for sales
        "DisplayTaxRate": rate,
        "EffectiveRate": rate,
        "Status": "ACTIVE",
        "TaxComponents": [{"Name": name, "Rate": rate, "IsCompound": False, "IsNonRecoverable": False}],
    }


def _account(tenant_id, code, name, account_type, account_class, tax_type, now) -> dict[str, Any]:
    return {
        "AccountID": stable_id("account", tenant_id, code),
        "Code": code,
        "Name": name,
        "Type": account_type,
        "TaxType": tax_type,
        "Status": "ACTIVE",
        "Class": account_class,
        "EnablePaymentsToAccount": False,
        "ShowInExpenseClaims": account_class == "EXPENSE",
        "BankAccountType": "BANK" if account_type == "BANK" else "",
        "ReportingCode": account_class[:3],
        "HasAttachments": False,
        "AddToWatchlist": False,
        "UpdatedDateUTC": ms_date(now - 400 * DAY),
    }


def _add_contact(org, name, updated, *, customer=False, supplier=False) -> dict[str, Any]:
    contact_id = stable_id("contact", org["TenantID"], name)
    first_word = name.split()[0].lower()
    contact = {
        "ContactID": contact_id,
        "ContactStatus": "ACTIVE",
        "Name": name,
        "EmailAddress": f"accounts@{first_word}.example",
        "Addresses": _demo_addresses(org, len(org["Contacts"]) + 1),
        "Phones": [],
        "ContactGroups": [],
        "ContactPersons": [],
        "IsSupplier": supplier,
        "IsCustomer": customer,
        "DefaultCurrency": org["BaseCurrency"],
        "HasAttachments": False,
        "HasValidationErrors": False,
        "_updated": updated,
    }
    if customer:
        contact["TaxNumber"] = f"{org['CountryCode']}{int(contact_id[:8], 16) % 10**9:09d}"
    org["Contacts"][contact_id] = contact
    return contact


def _demo_addresses(org, number: int) -> list[dict[str, Any]]:
    """A street address in the organisation's city, and an empty postal one, as Xero returns them."""
    city, postcode, country = next(spec["address"] for spec in ORG_SPECS if spec["country"] == org["CountryCode"])
    return [{"AddressType": "STREET", "AddressLine1": f"{number} Market Street", "City": city,
             "PostalCode": postcode, "Country": country},
            {"AddressType": "POBOX"}]


def _demo_line(description, quantity, unit_amount, account_code, tax_type, rate) -> dict[str, Any]:
    line_amount, tax_amount = line_totals(quantity, unit_amount, None, rate, "Exclusive")
    return {
        "LineItemID": str(uuid.uuid4()),
        "Description": description,
        "Quantity": quantity,
        "UnitAmount": unit_amount,
        "AccountCode": account_code,
        "TaxType": tax_type,
        "TaxAmount": tax_amount,
        "LineAmount": line_amount,
    }


def _add_demo_invoices(org, now) -> None:
    sales = org["TaxRates"][0]
    customers = [c for c in org["Contacts"].values() if c["IsCustomer"]][:3]
    for index, (customer, status) in enumerate(zip(customers, ["AUTHORISED", "DRAFT", "PAID"], strict=False)):
        number = f"INV-{org['NextInvoiceNumber']:04d}"
        org["NextInvoiceNumber"] += 1
        created = now - (20 - index * 5) * DAY
        line = _demo_line("Consulting services", 10.0, 120.0, "200", sales["TaxType"], sales["EffectiveRate"])
        invoice_id = stable_id("invoice", org["TenantID"], number)
        org["Invoices"][invoice_id] = {
            "Type": "ACCREC",
            "InvoiceID": invoice_id,
            "InvoiceNumber": number,
            "Reference": f"Demo {index + 1}",
            "Contact": {"ContactID": customer["ContactID"], "Name": customer["Name"]},
            "Date": ms_date(day_start(created)),
            "DueDate": ms_date(day_start(created) + 30 * DAY),
            "Status": status,
            "LineAmountTypes": "Exclusive",
            "LineItems": [line],
            "SubTotal": line["LineAmount"],
            "TotalTax": line["TaxAmount"],
            "Total": round(line["LineAmount"] + line["TaxAmount"], 2),
            "CurrencyCode": org["BaseCurrency"],
            "CurrencyRate": 1.0,
            "_created": created,
            "_updated": created,
        }


_PO_ITEMS = [
    ("Laptop stands", 4.0, 45.0, "429"),
    ("Cloud hosting (annual)", 1.0, 2400.0, "429"),
    ("Printed brochures", 500.0, 0.8, "400"),
    ("Office chairs", 6.0, 180.0, "429"),
    ("Trade show booth", 1.0, 3200.0, "400"),
    ("Paper (boxes)", 20.0, 25.0, "429"),
]


def _add_demo_purchase_orders(org, suppliers, now) -> None:
    purchase_tax = org["TaxRates"][1]
    statuses = ["DRAFT", "SUBMITTED", "AUTHORISED", "AUTHORISED", "BILLED"]
    if org["Short"] == "UK":
        statuses.append("BILLED")
    for index, status in enumerate(statuses):
        supplier = suppliers[index % len(suppliers)]
        description, quantity, unit_amount, account = _PO_ITEMS[index]
        in_dollars = org["Short"] == "UK" and index == 5  # one order in another currency: its import is converted
        number = f"PO-{org['NextPurchaseOrderNumber']:04d}"
        org["NextPurchaseOrderNumber"] += 1
        updated = now - (15 - index * 2) * DAY
        line = _demo_line(description, quantity, unit_amount, account, purchase_tax["TaxType"],
                          purchase_tax["EffectiveRate"])
        po_id = stable_id("purchase-order", org["TenantID"], number)
        org["PurchaseOrders"][po_id] = {
            "PurchaseOrderID": po_id,
            "PurchaseOrderNumber": number,
            "Reference": f"Demo PO {index + 1}",
            "Contact": {"ContactID": supplier["ContactID"], "Name": supplier["Name"]},
            "Date": ms_date(day_start(updated)),
            "DeliveryDate": ms_date(day_start(updated) + 14 * DAY),
            "Status": status,
            "LineAmountTypes": "Exclusive",
            "LineItems": [line],
            "SubTotal": line["LineAmount"],
            "TotalTax": line["TaxAmount"],
            "Total": round(line["LineAmount"] + line["TaxAmount"], 2),
            "CurrencyCode": "USD" if in_dollars else org["BaseCurrency"],
            "CurrencyRate": EXCHANGE_RATES[(org["BaseCurrency"], "USD")] if in_dollars else 1.0,
            "HasAttachments": False,
            "_updated": updated,
        }
