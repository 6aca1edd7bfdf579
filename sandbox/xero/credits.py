"""Credit notes, overpayments and prepayments in the stand-in: made, allocated to a sales invoice, the
allocation removed, a credit note voided. Each returns the webhook events Xero would send for it: CREDITNOTE
for a credit note (Xero has no category for overpayments or prepayments) and INVOICE for the invoice whose
amount due changed.

The credit document keeps its `Allocations` (with `RemainingCredit`); the invoice lists what is applied to it
in `CreditNotes`, `Overpayments` and `Prepayments` (one entry per document, `AppliedAmount` summed) and in
`AmountCredited`, as Xero's Invoice schema has them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from .bookkeeping import BookkeepingError, _invoice, _touched, restate
from .money import round2
from .state import XeroState

KINDS = {  # collection in the organisation, id field, the invoice's array, Type
    "credit_note": ("CreditNotes", "CreditNoteID", "CreditNotes", "ACCRECCREDIT"),
    "overpayment": ("Overpayments", "OverpaymentID", "Overpayments", "RECEIVE-OVERPAYMENT"),
    "prepayment": ("Prepayments", "PrepaymentID", "Prepayments", "RECEIVE-PREPAYMENT"),
}


def documents(org: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The organisation's credit notes (or overpayments, prepayments); state saved before credits has none."""
    return org.setdefault(KINDS[kind][0], {})


def create(state: XeroState, tenant_id: str, kind: str, contact_id: str, amount: str, on: str,
           currency: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """A credit note (AUTHORISED, one line) or a received overpayment or prepayment for a customer;
    returns its id and the events."""
    org = state.org(tenant_id)
    contact = org["Contacts"].get(contact_id)
    if contact is None:
        raise BookkeepingError("No such contact in this organisation.")
    value = _amount(amount)
    _, id_field, _, type_ = KINDS[kind]
    document_id = str(uuid.uuid4())
    document: dict[str, Any] = {
        id_field: document_id, "Type": type_, "Contact": {"ContactID": contact_id, "Name": contact["Name"]},
        "Date": on, "Status": "AUTHORISED", "LineAmountTypes": "NoTax",
        "SubTotal": round2(value), "TotalTax": 0.0, "Total": round2(value),
        "CurrencyCode": currency or org["BaseCurrency"], "RemainingCredit": round2(value), "Allocations": [],
        "_created": state.clock(),
    }
    if kind == "credit_note":
        number = f"CN-{len(documents(org, kind)) + 1:04d}"
        document.update(CreditNoteNumber=number, Reference="Sandbox credit", LineItems=[{
            "Description": "Credit", "Quantity": 1.0, "UnitAmount": round2(value), "LineAmount": round2(value),
            "AccountCode": "200", "TaxType": "NONE", "TaxAmount": 0.0}])
    documents(org, kind)[document_id] = document
    events = [_touched(state, tenant_id, document, "CREDITNOTE", document_id)] if kind == "credit_note" else []
    if kind != "credit_note":
        document["_updated"] = state.clock()
        state.save()
    return document_id, events


def allocate(state: XeroState, tenant_id: str, kind: str, document_id: str, invoice_id: str, amount: str,
             on: str) -> list[dict[str, Any]]:
    org = state.org(tenant_id)
    document = _document(org, kind, document_id)
    invoice = _invoice(state, tenant_id, invoice_id)
    value = _amount(amount)
    if document["Status"] != "AUTHORISED":
        raise BookkeepingError(f"Only an approved credit can be allocated; this one is {document['Status']}.")
    if invoice["Status"] != "AUTHORISED":
        raise BookkeepingError("Credit can only be allocated to approved invoices (status AUTHORISED).")
    if document["Contact"]["ContactID"] != invoice["Contact"]["ContactID"]:
        raise BookkeepingError("The credit and the invoice must belong to the same contact.")
    if document["CurrencyCode"] != invoice["CurrencyCode"]:
        raise BookkeepingError("The credit and the invoice must be in the same currency.")
    remaining = Decimal(str(document["RemainingCredit"]))
    due = Decimal(str(invoice.get("AmountDue", invoice["Total"])))
    if value > remaining or value > due:
        raise BookkeepingError(f"The amount must be at most the remaining credit ({remaining}) and the amount "
                               f"due ({due}).")
    document["Allocations"].append({
        "AllocationID": str(uuid.uuid4()), "Amount": round2(value), "Date": on,
        "Invoice": {"InvoiceID": invoice_id, "InvoiceNumber": invoice.get("InvoiceNumber")}})
    return _restated(state, tenant_id, kind, document, [invoice_id])


def check_applicable(invoice: dict[str, Any], amount: str) -> None:
    """Xero's rules for applying `amount` of credit to the invoice, without the credit."""
    value = _amount(amount)
    if invoice["Status"] != "AUTHORISED":
        raise BookkeepingError("Credit can only be allocated to approved invoices (status AUTHORISED).")
    due = Decimal(str(invoice.get("AmountDue", invoice["Total"])))
    if value > due:
        raise BookkeepingError(f"The amount must be at most the remaining credit and the amount due ({due}).")


def remove_allocation(state: XeroState, tenant_id: str, kind: str, document_id: str,
                      allocation_id: str) -> list[dict[str, Any]]:
    org = state.org(tenant_id)
    document = _document(org, kind, document_id)
    allocation = next((a for a in document["Allocations"] if a["AllocationID"] == allocation_id), None)
    if allocation is None:
        raise BookkeepingError("No such allocation.")
    document["Allocations"].remove(allocation)
    return _restated(state, tenant_id, kind, document, [allocation["Invoice"]["InvoiceID"]])


def void(state: XeroState, tenant_id: str, document_id: str) -> list[dict[str, Any]]:
    """A credit note voided: its allocations no longer lower what the invoices owe."""
    org = state.org(tenant_id)
    document = _document(org, "credit_note", document_id)
    if document["Status"] in ("VOIDED", "DELETED"):
        raise BookkeepingError(f"A credit note that is {document['Status']} cannot be voided.")
    invoices = [a["Invoice"]["InvoiceID"] for a in document["Allocations"]]
    document["Allocations"] = []
    document["Status"] = "VOIDED"
    return _restated(state, tenant_id, "credit_note", document, invoices)


def _restated(state: XeroState, tenant_id: str, kind: str, document: dict[str, Any],
              invoice_ids: list[str]) -> list[dict[str, Any]]:
    org = state.org(tenant_id)
    _, id_field, array, _ = KINDS[kind]
    allocated = sum((Decimal(str(a["Amount"])) for a in document["Allocations"]), Decimal(0))
    live = document["Status"] in ("AUTHORISED", "PAID")
    document["RemainingCredit"] = round2(Decimal(str(document["Total"])) - allocated) if live else 0.0
    if live and allocated >= Decimal(str(document["Total"])):
        document["Status"] = "PAID"
    elif document["Status"] == "PAID":
        document["Status"] = "AUTHORISED"
    events = []
    if kind == "credit_note":
        events.append(_touched(state, tenant_id, document, "CREDITNOTE", document[id_field]))
    else:
        document["_updated"] = state.clock()
    for invoice_id in dict.fromkeys(invoice_ids):
        invoice = org["Invoices"][invoice_id]
        refresh_invoice(org, invoice)
        restate(invoice)
        events.append(_touched(state, tenant_id, invoice, "INVOICE", invoice_id))
    return events


def refresh_invoice(org: dict[str, Any], invoice: dict[str, Any]) -> None:
    """The invoice's CreditNotes, Overpayments and Prepayments from the allocations that name it."""
    for kind, (_, id_field, array, _) in KINDS.items():
        entries = []
        for document in sorted(documents(org, kind).values(), key=lambda d: d.get("_created", 0)):
            mine = [a for a in document["Allocations"] if a["Invoice"]["InvoiceID"] == invoice["InvoiceID"]]
            if not mine:
                continue
            entry = {id_field: document[id_field], "ID": document[id_field], "Date": max(a["Date"] for a in mine),
                     "AppliedAmount": round2(sum(Decimal(str(a["Amount"])) for a in mine)),
                     "Total": document["Total"], "Status": document["Status"]}
            if kind == "credit_note":
                entry["CreditNoteNumber"] = document["CreditNoteNumber"]
            entries.append(entry)
        if entries:
            invoice[array] = entries
        else:
            invoice.pop(array, None)


def _document(org: dict[str, Any], kind: str, document_id: str) -> dict[str, Any]:
    document = documents(org, kind).get(document_id)
    if document is None:
        raise BookkeepingError(f"No such {kind.replace('_', ' ')} in this organisation.")
    return document


def _amount(amount: str) -> Decimal:
    try:
        value = Decimal(str(amount).strip())
    except ArithmeticError:
        raise BookkeepingError("The amount must be a number.") from None
    if not value.is_finite() or value <= 0:
        raise BookkeepingError("The amount must be more than 0.")
    return value
