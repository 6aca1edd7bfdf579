"""What sync reads back from Xero: an invoice with its payments and amounts (beyond what export sends)."""

from __future__ import annotations

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


class XeroInvoiceState(XeroInvoice):
    amount_due: XeroAmount | None = None
    amount_paid: XeroAmount | None = None
    fully_paid_on_date: XeroDate | None = None
    updated_date_utc: XeroDateTime | None = Field(None, alias="UpdatedDateUTC")
    payments: list[XeroPayment] | None = None

    @property
    def live_payments(self) -> list[XeroPayment]:
        return [p for p in self.payments or [] if p.live and p.payment_id]
