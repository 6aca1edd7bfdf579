"""What a bookkeeper does in Xero after an invoice arrives: approve it, record or remove a payment, void
it, edit a contact. Each change stamps `_updated` (so If-Modified-Since sees it) and returns the webhook
event Xero would send for it."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from .money import round2
from .state import XeroState


class BookkeepingError(ValueError):
    """What Xero's own screen would refuse, in its words."""


def _invoice(state: XeroState, tenant_id: str, invoice_id: str) -> dict[str, Any]:
    invoice = state.org(tenant_id)["Invoices"].get(invoice_id)
    if invoice is None:
        raise BookkeepingError("No such invoice in this organisation.")
    return invoice


CREDIT_ARRAYS = ("CreditNotes", "Overpayments", "Prepayments")  # what an invoice lists as applied to it


def restate(invoice: dict[str, Any]) -> None:
    """AmountPaid, AmountCredited, AmountDue and the status after the payments or credits changed."""
    live = [p for p in invoice.get("Payments", []) if p.get("Status") != "DELETED"]
    credits = [c for key in CREDIT_ARRAYS for c in invoice.get(key, [])]
    paid = sum((Decimal(str(p["Amount"])) for p in live), Decimal(0))
    credited = sum((Decimal(str(c["AppliedAmount"])) for c in credits), Decimal(0))
    due = Decimal(str(invoice["Total"])) - paid - credited
    invoice["AmountPaid"], invoice["AmountDue"] = round2(paid), round2(due)
    invoice["AmountCredited"] = round2(credited)
    if due <= 0 and paid + credited > 0:
        invoice["Status"] = "PAID"
        days = [p["Date"] for p in live] + [c["Date"] for c in credits]
        invoice["FullyPaidOnDate"] = max(days)
    else:
        invoice["Status"] = "AUTHORISED"
        invoice.pop("FullyPaidOnDate", None)


def approve(state: XeroState, tenant_id: str, invoice_id: str) -> dict[str, Any]:
    invoice = _invoice(state, tenant_id, invoice_id)
    if invoice["Status"] not in ("DRAFT", "SUBMITTED"):
        raise BookkeepingError(f"Only a draft can be approved; this invoice is {invoice['Status']}.")
    invoice["Status"] = "AUTHORISED"
    restate(invoice)
    return _touched(state, tenant_id, invoice, "INVOICE", invoice_id)


def record_payment(state: XeroState, tenant_id: str, invoice_id: str, amount: str, on: str) -> dict[str, Any]:
    invoice = _invoice(state, tenant_id, invoice_id)
    if invoice["Status"] != "AUTHORISED":
        raise BookkeepingError("Payments can only be applied to approved invoices (status AUTHORISED).")
    try:
        value = Decimal(amount)
    except ArithmeticError:
        raise BookkeepingError("The amount must be a number.") from None
    due = Decimal(str(invoice.get("AmountDue", invoice["Total"])))
    if value <= 0 or value > due:
        raise BookkeepingError(f"The payment must be more than 0 and at most the amount due ({due}).")
    invoice.setdefault("Payments", []).append({
        "PaymentID": str(uuid.uuid4()), "Date": on, "Amount": round2(value), "Reference": "Sandbox payment",
        "Status": "AUTHORISED", "HasAccount": False, "HasValidationErrors": False})
    restate(invoice)
    return _touched(state, tenant_id, invoice, "INVOICE", invoice_id)


def remove_payment(state: XeroState, tenant_id: str, invoice_id: str, payment_id: str) -> dict[str, Any]:
    invoice = _invoice(state, tenant_id, invoice_id)
    payments = invoice.get("Payments", [])
    if not any(p["PaymentID"] == payment_id for p in payments):
        raise BookkeepingError("No such payment on this invoice.")
    invoice["Payments"] = [p for p in payments if p["PaymentID"] != payment_id]
    restate(invoice)
    return _touched(state, tenant_id, invoice, "INVOICE", invoice_id)


def void(state: XeroState, tenant_id: str, invoice_id: str) -> dict[str, Any]:
    invoice = _invoice(state, tenant_id, invoice_id)
    if invoice.get("Payments") or any(invoice.get(key) for key in CREDIT_ARRAYS):
        raise BookkeepingError("This invoice has payments or credits: remove them before voiding it.")
    if invoice["Status"] not in ("AUTHORISED", "SUBMITTED", "DRAFT"):
        raise BookkeepingError(f"An invoice that is {invoice['Status']} cannot be voided.")
    invoice["Status"] = "VOIDED" if invoice["Status"] == "AUTHORISED" else "DELETED"
    return _touched(state, tenant_id, invoice, "INVOICE", invoice_id)


def edit_contact(state: XeroState, tenant_id: str, contact_id: str, *, name: str, tax_number: str,
                 street: str, city: str, postal_code: str) -> dict[str, Any]:
    org = state.org(tenant_id)
    contact = org["Contacts"].get(contact_id)
    if contact is None:
        raise BookkeepingError("No such contact in this organisation.")
    name = " ".join(name.split())
    if not name:
        raise BookkeepingError("A contact must have a name.")
    contact["Name"] = name
    contact["TaxNumber"] = tax_number.strip()
    addresses = [a for a in contact.get("Addresses", []) if a.get("AddressType") != "STREET"]
    street_address = next((a for a in contact.get("Addresses", []) if a.get("AddressType") == "STREET"), {})
    addresses.insert(0, {**street_address, "AddressType": "STREET", "AddressLine1": street.strip(),
                         "City": city.strip(), "PostalCode": postal_code.strip()})
    contact["Addresses"] = addresses
    return _touched(state, tenant_id, contact, "CONTACT", contact_id)


RESOURCES = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}


def _touched(state: XeroState, tenant_id: str, document: dict[str, Any], category: str,
             resource_id: str) -> dict[str, Any]:
    now = state.clock()
    document["_updated"] = now
    state.save()
    resource = RESOURCES[category]
    return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/{resource}/{resource_id}", "resourceId": resource_id,
            "tenantId": tenant_id, "tenantType": "ORGANISATION", "eventCategory": category, "eventType": "UPDATE",
            "eventDateUtc": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]}
