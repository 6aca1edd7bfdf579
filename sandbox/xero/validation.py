"""Xero's business rules for creating invoices and contacts, applied to one organisation.

Each `plan_*` function checks one submitted element and returns either the document to store or the
validation messages Xero would answer with. Nothing is stored here; `commit_*` does that.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from . import tracking as tracking_categories
from .dates import day_start, parse_xero_date
from .demo_data import EXCHANGE_RATES
from .money import line_totals, round2
from .query import public

INVOICE_TYPES = ("ACCREC", "ACCPAY")
CREATABLE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED")
LOCKED_STATUSES = ("PAID", "VOIDED", "DELETED")
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
MAX_ELEMENTS_PER_REQUEST = 50
DAY = 86400.0

MSG_NUMBER_NOT_UNIQUE = "Invoice # must be unique."
MSG_NO_CONTACT = "A Contact must be specified for this type of transaction"
MSG_NO_LINES = "One or more line items must be specified"
MSG_DUE_DATE = "Due Date is required."
MSG_CONTACT_NAME_REQUIRED = "The contact name must be specified."

CONTACT_WRITABLE = (
    "Name", "FirstName", "LastName", "EmailAddress", "ContactNumber", "AccountNumber", "TaxNumber",
    "DefaultCurrency", "Addresses", "Phones", "ContactPersons", "BankAccountDetails", "Website",
)


@dataclass
class Plan:
    """What one submitted element would become: a document to store, or the reasons it cannot be."""

    submitted: dict[str, Any]
    document: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    new_contact: dict[str, Any] | None = None
    existing_id: str | None = None


def _number(value: Any, default: float) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _tax_rate(org: dict[str, Any], tax_type: str) -> dict[str, Any] | None:
    return next((t for t in org["TaxRates"] if t["TaxType"] == tax_type), None)


def _account(org: dict[str, Any], code: str) -> dict[str, Any] | None:
    return next((a for a in org["Accounts"] if a["Code"] == code and a["Status"] == "ACTIVE"), None)


def find_contact(org: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any] | None:
    contacts = org["Contacts"]
    if reference.get("ContactID"):
        return contacts.get(str(reference["ContactID"]))
    if reference.get("ContactNumber"):
        return next((c for c in contacts.values() if c.get("ContactNumber") == reference["ContactNumber"]), None)
    name = str(reference.get("Name") or "").strip().lower()
    return next((c for c in contacts.values() if c["Name"].lower() == name and c["ContactStatus"] == "ACTIVE"),
                None)


def find_invoice(org: dict[str, Any], key: str) -> dict[str, Any] | None:
    invoices = org["Invoices"]
    return invoices.get(key) or next((i for i in invoices.values() if i.get("InvoiceNumber") == key), None)


# Invoices -------------------------------------------------------------------------------
def plan_invoice(org: dict[str, Any], submitted: Any, now: float, *, numbers_in_batch: set[str],
                 allow_update: bool) -> Plan:
    if not isinstance(submitted, dict):
        return Plan({}, errors=["The invoice must be a JSON object"])
    plan = Plan(submitted)
    existing = _existing_invoice(org, submitted) if allow_update else None
    if existing is not None:
        plan.existing_id = existing["InvoiceID"]
        if existing["Status"] in LOCKED_STATUSES:
            plan.errors.append("Invoice not of valid status for modification")
            return plan
        merged = public(existing)  # dates as Xero writes them, so they read back like submitted ones
        merged.update(submitted)
        submitted = merged
    elif submitted.get("InvoiceID"):
        plan.errors.append("The InvoiceID specified does not exist")
        return plan
    errors = plan.errors
    invoice_type = submitted.get("Type")
    if not invoice_type:
        errors.append("Invoice Type must be specified")
    elif invoice_type not in INVOICE_TYPES:
        errors.append(f"'{invoice_type}' is not a valid invoice type")
    status = submitted.get("Status") or "DRAFT"
    if existing is None and status not in CREATABLE_STATUSES:
        errors.append("Invoice not of valid status for creation")
    elif status not in CREATABLE_STATUSES + LOCKED_STATUSES:
        errors.append(f"'{status}' is not a valid invoice status")
    line_amount_types = submitted.get("LineAmountTypes") or "Exclusive"
    if line_amount_types not in LINE_AMOUNT_TYPES:
        errors.append(f"'{line_amount_types}' is not a valid value for LineAmountTypes")
    currency = submitted.get("CurrencyCode") or org["BaseCurrency"]
    if currency not in {c["Code"] for c in org["Currencies"]}:
        errors.append(f"Organisation is not subscribed to currency {currency}")
    date, due_date = _invoice_dates(submitted, status, now, errors)
    contact, plan.new_contact = _invoice_contact(org, submitted.get("Contact"), invoice_type, now, errors)
    number = _invoice_number(org, submitted, invoice_type, existing, numbers_in_batch, errors)
    lines = _line_items(org, submitted.get("LineItems"), line_amount_types, errors)
    if errors:
        return plan
    subtotal = round2(sum(line["LineAmount"] for line in lines))
    total_tax = round2(sum(line["TaxAmount"] for line in lines))
    total = subtotal if line_amount_types == "Inclusive" else round2(subtotal + total_tax)
    if line_amount_types == "Inclusive":
        subtotal = round2(total - total_tax)
    invoice_id = existing["InvoiceID"] if existing else str(uuid.uuid4())
    document = {
        key: submitted[key]
        for key in ("Reference", "Url", "BrandingThemeID", "SentToContact", "ExpectedPaymentDate")
        if key in submitted
    }
    document.update({
        "Type": invoice_type,
        "InvoiceID": invoice_id,
        "InvoiceNumber": number,
        "Contact": {"ContactID": contact["ContactID"], "Name": contact["Name"]},
        "Date": date,
        "DueDate": due_date,
        "Status": status,
        "LineAmountTypes": line_amount_types,
        "LineItems": lines,
        "SubTotal": subtotal,
        "TotalTax": total_tax,
        "Total": total,
        "CurrencyCode": currency,
        "CurrencyRate": _currency_rate(org["BaseCurrency"], currency, submitted.get("CurrencyRate")),
        "_created": existing["_created"] if existing else now,
        "_updated": now,
    })
    plan.document = document
    return plan


def _existing_invoice(org, submitted) -> dict[str, Any] | None:
    if submitted.get("InvoiceID"):
        return org["Invoices"].get(str(submitted["InvoiceID"]))
    number = submitted.get("InvoiceNumber")
    if number and submitted.get("Type", "ACCREC") == "ACCREC":
        return next((i for i in org["Invoices"].values()
                     if i.get("InvoiceNumber") == number and i["Type"] == "ACCREC"), None)
    return None


def _invoice_dates(submitted, status, now, errors) -> tuple[float | None, float | None]:
    date = day_start(now)
    if submitted.get("Date"):
        date = parse_xero_date(submitted["Date"])
        if date is None:
            errors.append(f"'{submitted['Date']}' is not a valid date for Date")
    due_date = None
    if submitted.get("DueDate"):
        due_date = parse_xero_date(submitted["DueDate"])
        if due_date is None:
            errors.append(f"'{submitted['DueDate']}' is not a valid date for DueDate")
    elif status == "AUTHORISED":
        errors.append(MSG_DUE_DATE)
    return date, due_date


def _invoice_contact(org, reference, invoice_type, now, errors) -> tuple[dict | None, dict | None]:
    if not isinstance(reference, dict) or not any(reference.get(k) for k in ("ContactID", "Name", "ContactNumber")):
        errors.append(MSG_NO_CONTACT)
        return None, None
    contact = find_contact(org, reference)
    if contact is not None:
        return contact, None
    if reference.get("ContactID") or not reference.get("Name"):
        errors.append("The contact specified could not be found")
        return None, None
    # Xero creates a contact when an invoice names one it does not know.
    created = new_contact_document(org["BaseCurrency"], {"Name": str(reference["Name"]).strip()}, now)
    created["IsCustomer"] = invoice_type == "ACCREC"
    created["IsSupplier"] = invoice_type == "ACCPAY"
    return created, created


def _invoice_number(org, submitted, invoice_type, existing, numbers_in_batch, errors) -> str | None:
    number = submitted.get("InvoiceNumber")
    if invoice_type != "ACCREC":
        return number
    if not number:
        return None  # numbered on commit, like Xero's automatic sequence
    if len(str(number)) > 255:
        errors.append("Invoice Number must be no more than 255 characters long")
    taken = any(
        i.get("InvoiceNumber") == number and i["Type"] == "ACCREC" and i["Status"] != "DELETED"
        and (existing is None or i["InvoiceID"] != existing["InvoiceID"])
        for i in org["Invoices"].values()
    )
    if taken or number in numbers_in_batch:
        errors.append(MSG_NUMBER_NOT_UNIQUE)
    numbers_in_batch.add(number)
    return number


def _line_items(org, submitted_lines, line_amount_types, errors) -> list[dict[str, Any]]:
    if not isinstance(submitted_lines, list) or not submitted_lines:
        errors.append(MSG_NO_LINES)
        return []
    lines = []
    for submitted in submitted_lines:
        if not isinstance(submitted, dict):
            errors.append("Each line item must be a JSON object")
            continue
        line = _line_item(org, submitted, line_amount_types, errors)
        if line is not None:
            lines.append(line)
    return lines


def _line_item(org, submitted, line_amount_types, errors) -> dict[str, Any] | None:
    quantity = _number(submitted.get("Quantity"), 1.0)
    unit_amount = _number(submitted.get("UnitAmount"), 0.0)
    discount = _number(submitted.get("DiscountRate"), 0.0)
    if quantity is None or unit_amount is None or discount is None:
        errors.append("Quantity, UnitAmount and DiscountRate must be numbers")
        return None
    account_code = submitted.get("AccountCode")
    account = None
    if account_code:
        account = _account(org, str(account_code))
        if account is None:
            errors.append(f"Account code '{account_code}' is not a valid code for this document.")
            return None
    tax_type = submitted.get("TaxType") or (account["TaxType"] if account else None)
    tracking_problems = tracking_categories.line_problems(org, submitted.get("Tracking"))
    if tracking_problems:
        errors.extend(tracking_problems)
        return None
    tax_rate = 0.0
    if tax_type:
        rate = _tax_rate(org, tax_type)
        if rate is None:
            errors.append(f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of "
                          "transaction.")
            return None
        tax_rate = rate["EffectiveRate"]
    line_amount, tax_amount = line_totals(quantity, unit_amount, discount, tax_rate, line_amount_types)
    line = {
        "LineItemID": submitted.get("LineItemID") or str(uuid.uuid4()),
        "Description": submitted.get("Description", ""),
        "Quantity": quantity,
        "UnitAmount": unit_amount,
        "TaxType": tax_type or "NONE",
        "TaxAmount": tax_amount,
        "LineAmount": line_amount,
    }
    if account_code:
        line["AccountCode"] = str(account_code)
    if "ItemCode" in submitted:
        line["ItemCode"] = submitted["ItemCode"]
    if submitted.get("Tracking"):
        line["Tracking"] = tracking_categories.on_line(org, submitted["Tracking"])
    if discount:
        line["DiscountRate"] = discount
    return line


def _currency_rate(base: str, currency: str, submitted_rate: Any) -> float:
    if currency == base:
        return 1.0
    if isinstance(submitted_rate, (int, float)) and submitted_rate > 0:
        return float(submitted_rate)
    return EXCHANGE_RATES.get((base, currency), 1.0)


def commit_invoice(org: dict[str, Any], plan: Plan, now: float) -> dict[str, Any]:
    document = plan.document
    assert document is not None
    if plan.new_contact is not None:
        org["Contacts"][plan.new_contact["ContactID"]] = plan.new_contact
    contact = org["Contacts"][document["Contact"]["ContactID"]]
    if document["Type"] == "ACCREC" and not contact["IsCustomer"]:
        contact["IsCustomer"] = True
        contact["_updated"] = now
    if document["Type"] == "ACCPAY" and not contact["IsSupplier"]:
        contact["IsSupplier"] = True
        contact["_updated"] = now
    if document["Type"] == "ACCREC" and not document.get("InvoiceNumber"):
        document["InvoiceNumber"] = f"INV-{org['NextInvoiceNumber']:04d}"
        org["NextInvoiceNumber"] += 1
    org["Invoices"][document["InvoiceID"]] = document
    return document


# Contacts -------------------------------------------------------------------------------
def new_contact_document(base_currency: str, submitted: dict[str, Any], now: float) -> dict[str, Any]:
    contact = {key: submitted[key] for key in CONTACT_WRITABLE if key in submitted}
    contact.setdefault("DefaultCurrency", base_currency)
    contact.update({
        "ContactID": str(uuid.uuid4()),
        "ContactStatus": "ACTIVE",
        "Name": str(submitted.get("Name", "")).strip(),
        "Addresses": submitted.get("Addresses", []),
        "Phones": submitted.get("Phones", []),
        "ContactGroups": [],
        "ContactPersons": submitted.get("ContactPersons", []),
        "IsSupplier": False,
        "IsCustomer": False,
        "HasAttachments": False,
        "HasValidationErrors": False,
        "_updated": now,
    })
    return contact


def name_taken_message(name: str) -> str:
    return (f"The contact name {name} is already assigned to another contact. "
            "The contact name must be unique across all active contacts.")


def plan_contact(org: dict[str, Any], submitted: Any, now: float, *, names_in_batch: set[str],
                 allow_update: bool) -> Plan:
    if not isinstance(submitted, dict):
        return Plan({}, errors=["The contact must be a JSON object"])
    plan = Plan(submitted)
    existing = org["Contacts"].get(str(submitted.get("ContactID"))) if submitted.get("ContactID") else None
    if submitted.get("ContactID") and (existing is None or not allow_update):
        plan.errors.append("The ContactID specified does not exist" if existing is None
                           else "A contact with this ContactID already exists; use POST to update it")
        return plan
    name = str(submitted.get("Name", existing["Name"] if existing else "")).strip()
    if not name:
        plan.errors.append(MSG_CONTACT_NAME_REQUIRED)
        return plan
    if len(name) > 255:
        plan.errors.append("The contact name must be no more than 255 characters long.")
    clash = find_contact(org, {"Name": name})
    if (clash is not None and (existing is None or clash["ContactID"] != existing["ContactID"])) \
            or name.lower() in names_in_batch:
        plan.errors.append(name_taken_message(name))
    names_in_batch.add(name.lower())
    currency = submitted.get("DefaultCurrency")
    if currency and currency not in {c["Code"] for c in org["Currencies"]}:
        plan.errors.append(f"Organisation is not subscribed to currency {currency}")
    if plan.errors:
        return plan
    if existing is not None:
        plan.existing_id = existing["ContactID"]
        updated = dict(existing)
        updated.update({key: submitted[key] for key in CONTACT_WRITABLE if key in submitted})
        updated["Name"] = name
        updated["_updated"] = now
        plan.document = updated
    else:
        plan.document = new_contact_document(org["BaseCurrency"], {**submitted, "Name": name}, now)
    return plan


def commit_contact(org: dict[str, Any], plan: Plan) -> dict[str, Any]:
    assert plan.document is not None
    org["Contacts"][plan.document["ContactID"]] = plan.document
    return plan.document
