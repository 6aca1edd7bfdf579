"""What sync reads back from Xero: an invoice with its payments, credits and amounts (beyond what export
sends), and credit notes with their allocations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date
from decimal import Decimal
from typing import Literal

from pydantic import Field

from services.xero.models import XeroAmount, XeroDate, XeroDateTime, XeroInvoice, XeroModel


class XeroPayment(XeroModel):
    payment_id: str = Field(alias="PaymentID")
    date: XeroDate | None = None
    amount: XeroAmount | None = None
    reference: str | None = None
    status: str | None = None  # AUTHORISED | DELETED (a removed or reversed payment)

    @property
    def live(self) -> bool:
        return (self.status or "AUTHORISED").upper() != "DELETED"


CreditKind = Literal["credit_note", "overpayment", "prepayment"]
DEAD_CREDIT = ("VOIDED", "DELETED")


class XeroAppliedCredit(XeroModel):
    """A credit note, overpayment or prepayment as an invoice lists it: `AppliedAmount` is what of it
    lowers this invoice's amount due."""

    credit_note_id: str | None = Field(None, alias="CreditNoteID")
    overpayment_id: str | None = Field(None, alias="OverpaymentID")
    prepayment_id: str | None = Field(None, alias="PrepaymentID")
    credit_note_number: str | None = None
    applied_amount: XeroAmount | None = None
    date: XeroDate | None = None
    status: str | None = None


@dataclass(frozen=True)
class AppliedCredit:
    kind: CreditKind
    credit_id: str  # lower case
    number: str | None
    amount: Decimal
    date: Date | None


class XeroInvoiceState(XeroInvoice):
    amount_due: XeroAmount | None = None
    amount_paid: XeroAmount | None = None
    amount_credited: XeroAmount | None = None
    fully_paid_on_date: XeroDate | None = None
    updated_date_utc: XeroDateTime | None = Field(None, alias="UpdatedDateUTC")
    payments: list[XeroPayment] | None = None
    credit_notes: list[XeroAppliedCredit] | None = None
    overpayments: list[XeroAppliedCredit] | None = None
    prepayments: list[XeroAppliedCredit] | None = None

    @property
    def live_payments(self) -> list[XeroPayment]:
        return [p for p in self.payments or [] if p.live and p.payment_id]

    @property
    def applied_credits(self) -> list[AppliedCredit]:
        """Every credit lowering what is due, one per document (amounts of the same document summed)."""
        found: dict[tuple[str, str], AppliedCredit] = {}
        kinds: tuple[tuple[CreditKind, list[XeroAppliedCredit] | None], ...] = (
            ("credit_note", self.credit_notes), ("overpayment", self.overpayments), ("prepayment", self.prepayments))
        for kind, rows in kinds:
            for row in rows or []:
                credit_id = (row.credit_note_id or row.overpayment_id or row.prepayment_id or "").lower()
                amount = row.applied_amount or Decimal(0)
                if not credit_id or amount <= 0 or (row.status or "").upper() in DEAD_CREDIT:
                    continue
                before = found.get((kind, credit_id))
                if before is not None:
                    amount += before.amount
                days = [d for d in (row.date, before.date if before else None) if d is not None]
                found[(kind, credit_id)] = AppliedCredit(kind, credit_id, row.credit_note_number, amount,
                                                         max(days) if days else None)
        return list(found.values())


class XeroAllocation(XeroModel):
    allocation_id: str | None = Field(None, alias="AllocationID")
    amount: XeroAmount | None = None
    date: XeroDate | None = None
    invoice: XeroInvoice | None = None


class XeroCreditNote(XeroModel):
    """A credit note read for a CREDITNOTE webhook event: which invoices its allocations name."""

    credit_note_id: str = Field(alias="CreditNoteID")
    credit_note_number: str | None = None
    status: str | None = None
    allocations: list[XeroAllocation] | None = None

    @property
    def invoice_ids(self) -> list[str]:
        return [a.invoice.invoice_id.lower() for a in self.allocations or [] if a.invoice and a.invoice.invoice_id]
