"""One exported invoice read back from Xero: its payments into Forecast, its status and any edits.

Returns what happened (codes and numbers); bot/blocks/sync.py puts it into words.

Payments: each live Xero payment becomes one Forecast invoice payment whose notes name the Xero
PaymentID, and a `payment` link remembers the pair. Before creating, Forecast's own payments are read and
one already naming the PaymentID is adopted, so a run that died after Forecast created the payment but
before the link was written does not create it again. A Forecast payment naming a Xero payment that is
no longer on the invoice (removed or reversed in Xero) is deleted.

Credits: a credit note, overpayment or prepayment applied to the invoice (the invoice's `CreditNotes`,
`Overpayments`, `Prepayments` with their `AppliedAmount`) lowers what is due just like a payment, so it becomes
a Forecast invoice payment too, whose notes name the credit, its id and the amount applied
(`Xero credit note <id> applied 100.00 · CN-0001`), linked under `credit_key`. Removing the allocation or voiding
the credit note takes it off the invoice, and its Forecast payment is deleted like a removed payment's.

Crash safety without a transaction across Forecast and MongoDB: the Forecast write comes first (it can
be found again by its notes), then `before_saving` saves the notices, and only then do the payment links
remember what was done. A run that died after the Forecast write finds no link yet, so it reports the
adopted payment (or a deletion whose link is still live) again and the notices are saved then (their ids
are stable, so saving twice keeps one): the payment is never written twice and its notice never lost.

Forecast documents `amount` as an Integer when sent and a Double when read; the bot sends the exact
amount and reads back what Forecast kept: if that differs, the payment is reported as `inexact`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Literal

from pydantic import BaseModel

from services.forecast import (
    ForecastApi,
    ForecastError,
    ForecastInvoice,
    ForecastNotFound,
    NewForecastInvoicePayment,
)
from services.platform.crash_points import crash_point
from services.platform.logfmt import fields
from services.shared.links import LINKED, Link, LinkStore
from services.shared.problems import Problem
from services.xero.sync_models import AppliedCredit, CreditKind, XeroInvoiceState, XeroPayment

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
_UUID = r"([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})"
_NOTES_ID = re.compile(r"Xero payment " + _UUID)
_CREDIT_NOTES_ID = re.compile(r"Xero (credit note|overpayment|prepayment) " + _UUID + r" applied (\d+(?:\.\d+)?)")
CREDIT_WORDS: dict[str, CreditKind] = {"credit note": "credit_note", "overpayment": "overpayment",
                                       "prepayment": "prepayment"}
SettlementKind = Literal["payment", "credit_note", "overpayment", "prepayment"]

WAITING_FOR_KEY = "payments_wait_for_key"  # link detail: payments not copied, no Forecast key was set
RAW_LABELS = {"DRAFT": "draft", "SUBMITTED": "submitted", "PAID": "paid", "VOIDED": "voided", "DELETED": "deleted"}
StatusLabel = Literal["draft", "submitted", "authorised", "part_paid", "paid", "voided", "deleted", "unknown"]


class InvoiceStatus(BaseModel):
    label: StatusLabel
    total: Decimal | None = None
    amount_paid: Decimal | None = None
    amount_due: Decimal | None = None
    paid_on: date | None = None
    amount_credited: Decimal | None = None  # credit notes, overpayments and prepayments applied

    def to_details(self) -> dict:
        return {"sync_status": self.label, "amount_paid": _text(self.amount_paid), "total": _text(self.total),
                "amount_due": _text(self.amount_due), "paid_on": self.paid_on.isoformat() if self.paid_on else None,
                "amount_credited": _text(self.amount_credited)}

    @classmethod
    def from_details(cls, details: dict) -> InvoiceStatus | None:
        """What sync saw last; before the first sync, the status the export got back from Xero."""
        if not details.get("sync_status"):
            raw = (details.get("status") or "").upper()
            return cls(label=RAW_LABELS.get(raw, "authorised" if raw == "AUTHORISED" else "unknown")) if raw else None
        return cls(label=details["sync_status"], total=_number(details.get("total")),
                   amount_paid=_number(details.get("amount_paid")), amount_due=_number(details.get("amount_due")),
                   amount_credited=_number(details.get("amount_credited")),
                   paid_on=date.fromisoformat(details["paid_on"]) if details.get("paid_on") else None)


class PaymentRecorded(BaseModel):
    """A Forecast invoice payment made for a Xero payment, or for a credit note, overpayment or prepayment
    applied to the invoice (`kind`; then `xero_payment_id` is the credit's key, see `credit_key`)."""

    xero_payment_id: str
    amount: Decimal
    paid_on: date | None
    forecast_payment_id: int | None = None
    forecast_amount: Decimal | None = None  # what Forecast kept, when not exactly `amount`
    kind: SettlementKind = "payment"
    credit_number: str | None = None  # a credit note's number (CN-0001)

    @property
    def exact(self) -> bool:
        return self.forecast_amount is None


class PaymentRemoved(BaseModel):
    """A Forecast payment deleted: its Xero payment was removed, or its credit no longer applies (the
    allocation was removed, the credit note voided)."""

    xero_payment_id: str
    amount: Decimal | None
    forecast_payment_id: int
    kind: SettlementKind = "payment"
    credit_number: str | None = None


class LineDifference(BaseModel):
    """`what`: line_added | line_removed | description | quantity | unit_amount | discount | sub_total |
    total_tax | total; `line` counts from 1."""

    what: str
    line: int | None = None
    before: str | None = None
    after: str | None = None


class InvoiceSynced(BaseModel):
    team_id: str
    tenant_id: str
    forecast_invoice_id: int
    xero_invoice_id: str
    reference: str
    currency: str | None = None
    status: InvoiceStatus
    previous_status: InvoiceStatus | None = None
    payments_recorded: list[PaymentRecorded] = []
    payments_removed: list[PaymentRemoved] = []
    line_differences: list[LineDifference] = []
    problems: list[Problem | str] = []  # what could not be done in Forecast (strings: stored by older versions)
    forecast_key_missing: bool = False  # payments could not be copied: no Forecast API key is set

    @property
    def status_changed(self) -> bool:
        before, now = self.previous_status, self.status
        if before is None:
            return True
        return ((before.label, before.amount_paid or 0, before.amount_credited or 0)
                != (now.label, now.amount_paid or 0, now.amount_credited or 0))

    @property
    def became_paid(self) -> bool:
        return self.status.label == "paid" and (self.previous_status is None or self.previous_status.label != "paid")

    @property
    def changed(self) -> bool:
        return bool(self.status_changed or self.payments_recorded or self.payments_removed
                    or self.line_differences or self.problems)

    @property
    def inexact_payments(self) -> list[PaymentRecorded]:
        return [p for p in self.payments_recorded if not p.exact]


def status_of(invoice: XeroInvoiceState) -> InvoiceStatus:
    raw = (invoice.status or "").upper()
    paid = invoice.amount_paid or Decimal(0)
    credited = invoice.amount_credited
    if credited is None:
        credited = sum((c.amount for c in invoice.applied_credits), Decimal(0))
    label = RAW_LABELS.get(raw, "authorised" if raw == "AUTHORISED" else "unknown")
    if label == "authorised" and paid + credited > 0:
        label = "part_paid"
    paid_on = invoice.fully_paid_on_date
    if label == "paid" and paid_on is None:
        days = [p.date for p in invoice.live_payments] + [c.date for c in invoice.applied_credits]
        paid_on = max((d for d in days if d), default=None)
    due = invoice.amount_due
    if due is None and invoice.total is not None:
        due = invoice.total - paid - credited
    return InvoiceStatus(label=label, total=invoice.total, amount_paid=paid, amount_due=due, paid_on=paid_on,
                         amount_credited=credited)


@dataclass
class InvoiceSync:
    forecast: ForecastApi
    links: LinkStore

    async def sync(self, link: Link, invoice: XeroInvoiceState, *, api_key: str | None,
                   exported: ForecastInvoice | None,
                   before_saving: Callable[[InvoiceSynced], Awaitable[None]] | None = None) -> InvoiceSynced:
        """`before_saving` sees the report before the link remembers this state of the invoice."""
        status = status_of(invoice)
        report = InvoiceSynced(
            team_id=link.team_id, tenant_id=link.tenant_id, forecast_invoice_id=int(link.forecast_id),
            xero_invoice_id=invoice.invoice_id or link.xero_id or "",
            reference=(link.details or {}).get("reference") or invoice.invoice_number or link.forecast_id,
            currency=invoice.currency_code, status=status,
            previous_status=InvoiceStatus.from_details(link.details or {}),
        )
        links_to_save: list[Callable[[], Awaitable[object]]] = []  # after the notices are saved
        if api_key:
            await self._sync_payments(link, invoice, api_key, report, links_to_save)
        else:
            report.forecast_key_missing = True
        snapshot = lines_snapshot(invoice)
        baseline = (link.details or {}).get("snapshot")
        if baseline is not None:
            report.line_differences = compare_snapshots(baseline, snapshot)
        elif exported is not None:
            report.line_differences = compare_with_export(exported, snapshot)
        if before_saving is not None:
            await before_saving(report)
        for save in links_to_save:
            await save()
        details = {**(link.details or {}), "status": invoice.status, **status.to_details(), "snapshot": snapshot}
        details.pop(WAITING_FOR_KEY, None)
        if report.forecast_key_missing and (invoice.live_payments or invoice.applied_credits):
            details[WAITING_FOR_KEY] = 1  # the next scan reads it again, and copies them once a key is set
        await self.links.update_details(link, details)
        return report

    # ----------------------------------------------------------------- payments

    async def _sync_payments(self, link: Link, invoice: XeroInvoiceState, api_key: str,
                             report: InvoiceSynced, links_to_save: list[Callable[[], Awaitable[object]]]) -> None:
        """Payments and applied credits alike: each live one has one Forecast payment, found by its notes."""
        invoice_id = int(link.forecast_id)
        try:
            in_forecast = await self.forecast.list_invoice_payments(api_key, invoice_id)
        except ForecastError as exc:
            report.problems.append(Problem.of(exc))
            return
        ours = {key: payment for payment in in_forecast if (key := _key_in_notes(payment.notes, invoice_id))}
        live = {payment.payment_id.lower(): payment for payment in invoice.live_payments}
        credits = {credit_key(credit, invoice_id): credit for credit in invoice.applied_credits}
        for payment_id, payment in live.items():
            try:
                await self._record(link, invoice_id, _Settlement.of_payment(payment), ours.get(payment_id),
                                   api_key, report, links_to_save)
            except ForecastError as exc:
                report.problems.append(Problem.of(exc))
        for key, credit in credits.items():
            try:
                await self._record(link, invoice_id, _Settlement.of_credit(key, credit, invoice.invoice_id),
                                   ours.get(key), api_key, report, links_to_save)
            except ForecastError as exc:
                report.problems.append(Problem.of(exc))
        for payment_id, forecast_payment in ours.items():
            if payment_id in live or payment_id in credits:
                continue
            try:
                await self.forecast.delete_invoice_payment(api_key, forecast_payment.id)
            except ForecastNotFound:
                pass
            except ForecastError as exc:
                report.problems.append(Problem.of(exc))
                continue
            crash_point("after_forecast_payment_deleted")
            stale = await self.links.get(link.team_id, "payment", payment_id, link.tenant_id)
            if stale is not None and stale.status == LINKED:
                links_to_save.append(partial(self.links.unlink, stale))
            details = (stale.details or {}) if stale is not None else {}
            report.payments_removed.append(PaymentRemoved(
                xero_payment_id=payment_id, amount=forecast_payment.amount, forecast_payment_id=forecast_payment.id,
                kind=_kind_of(payment_id), credit_number=details.get("number")))
        await self._deleted_before_a_crash(link, invoice_id, {**live, **credits}, ours, report, links_to_save)

    async def _deleted_before_a_crash(self, link: Link, invoice_id: int, live: dict, ours: dict,
                                      report: InvoiceSynced, links_to_save: list) -> None:
        """A payment whose link is live although it is neither in Xero nor in Forecast any more: a run
        deleted it and died before its notice was saved. It is reported (and unlinked) now."""
        for stale in await self.links.with_detail(link.team_id, "payment", link.tenant_id,
                                                  "forecast_invoice_id", invoice_id):
            payment_id = str(stale.forecast_id).lower()
            if payment_id in live or payment_id in ours:
                continue
            details = stale.details or {}
            links_to_save.append(partial(self.links.unlink, stale))
            report.payments_removed.append(PaymentRemoved(
                xero_payment_id=payment_id, amount=_number(details.get("amount")),
                forecast_payment_id=int(details.get("forecast_payment_id") or 0), kind=_kind_of(payment_id),
                credit_number=details.get("number")))

    async def _record(self, link: Link, invoice_id: int, settlement: _Settlement, existing, api_key: str,
                      report: InvoiceSynced, links_to_save: list) -> None:
        key = settlement.key
        known = await self.links.get(link.team_id, "payment", key, link.tenant_id)
        if known is not None and known.status == LINKED:
            return  # recorded, and told, once already (if someone removed it in Forecast since: never twice)
        amount = settlement.amount
        created = existing is None
        if existing is None:
            existing = await self.forecast.create_invoice_payment(api_key, invoice_id, NewForecastInvoicePayment(
                amount=amount, paid_on=settlement.paid_on or date.today(), notes=settlement.notes))
            crash_point("after_forecast_payment_created")
            log.info("sync.payment_recorded", **fields(team=link.team_id, tenant=link.tenant_id, invoice=invoice_id,
                                                       kind=settlement.kind))
        if created or known is None:  # known None: made by a run that died before its notice was saved
            kept = existing.amount
            exact = kept is not None and kept.quantize(CENT) == amount.quantize(CENT)
            report.payments_recorded.append(PaymentRecorded(
                xero_payment_id=key, amount=amount, paid_on=settlement.paid_on, forecast_payment_id=existing.id,
                forecast_amount=None if exact else (kept if kept is not None else Decimal(0)),
                kind=settlement.kind, credit_number=settlement.number))
        details = {"forecast_payment_id": existing.id, "forecast_invoice_id": invoice_id, "amount": _text(amount)}
        if settlement.kind != "payment":
            details |= {"kind": settlement.kind, "credit_id": settlement.credit_id, "number": settlement.number,
                        "xero_invoice_id": settlement.xero_invoice_id}
        links_to_save.append(partial(
            self.links.link, link.team_id, "payment", key, link.tenant_id, xero_id=settlement.credit_id or key,
            linked_by="xero-sync", details=details))


@dataclass(frozen=True)
class _Settlement:
    """What lowers an invoice's amount due in Xero and becomes one Forecast invoice payment."""

    key: str
    kind: SettlementKind
    amount: Decimal
    paid_on: date | None
    notes: str
    number: str | None = None
    credit_id: str | None = None
    xero_invoice_id: str | None = None

    @classmethod
    def of_payment(cls, payment: XeroPayment) -> _Settlement:
        return cls(payment.payment_id.lower(), "payment", payment.amount or Decimal(0), payment.date,
                   payment_notes(payment))

    @classmethod
    def of_credit(cls, key: str, credit: AppliedCredit, xero_invoice_id: str | None) -> _Settlement:
        return cls(key, credit.kind, credit.amount, credit.date, credit_notes(credit), credit.number,
                   credit.credit_id, (xero_invoice_id or "").lower() or None)


def credit_key(credit: AppliedCredit, forecast_invoice_id: int) -> str:
    """One Forecast payment per credit, invoice and applied amount: a changed amount is a new payment (the old
    one is deleted), and the same credit note split over two invoices gives two."""
    return f"{credit.kind}:{credit.credit_id}:{forecast_invoice_id}:{credit.amount.quantize(CENT)}"


def credit_notes(credit: AppliedCredit) -> str:
    """The Forecast payment's notes: which credit, and what of it applies (the key is read back from them)."""
    words = {value: word for word, value in CREDIT_WORDS.items()}[credit.kind]
    notes = f"Xero {words} {credit.credit_id} applied {credit.amount.quantize(CENT)}"
    return f"{notes} · {credit.number}" if credit.number else notes


def _key_in_notes(notes: str | None, forecast_invoice_id: int) -> str | None:
    if match := _CREDIT_NOTES_ID.search(notes or ""):
        kind, credit_id, amount = CREDIT_WORDS[match.group(1)], match.group(2).lower(), Decimal(match.group(3))
        return credit_key(AppliedCredit(kind, credit_id, None, amount, None), forecast_invoice_id)
    if match := _NOTES_ID.search(notes or ""):
        return match.group(1).lower()
    return None


def _kind_of(key: str) -> SettlementKind:
    kind = key.split(":", 1)[0]
    return kind if kind in ("credit_note", "overpayment", "prepayment") else "payment"  # type: ignore[return-value]


def payment_notes(payment: XeroPayment) -> str:
    notes = f"Xero payment {payment.payment_id}"
    return f"{notes} · {payment.reference}" if payment.reference else notes


# ----------------------------------------------------------------- lines and totals


def lines_snapshot(invoice: XeroInvoiceState) -> dict:
    lines = [[(line.description or "").strip(), _text(line.quantity), _text(line.unit_amount),
              _text(line.discount_rate or Decimal(0))] for line in invoice.line_items or []]
    return {"lines": lines, "sub_total": _text(invoice.sub_total), "total_tax": _text(invoice.total_tax),
            "total": _text(invoice.total)}


def compare_with_export(exported: ForecastInvoice, now: dict) -> list[LineDifference]:
    """Lines and the total before tax against what was exported (Xero applies its own tax rates)."""
    if not now["lines"]:
        return []  # Xero left the lines out of this answer: nothing to compare
    lines, sub_total = [], Decimal(0)
    for entry in exported.entries:
        quantity, discount = Decimal(str(entry.quantity)), Decimal(str(entry.discount or 0))
        unit = Decimal(str(entry.unit_price)).quantize(CENT, ROUND_HALF_UP)  # Xero keeps 2 decimals by default
        sub_total += (quantity * unit * (1 - discount / 100)).quantize(CENT, ROUND_HALF_UP)  # rounded per line
        lines.append([_line_description(entry.name, entry.description), _text(quantity), _text(unit), _text(discount)])
    sent = {"lines": lines, "sub_total": _text(sub_total)}
    return compare_snapshots(sent, now, totals=("sub_total",))


def compare_snapshots(before: dict, now: dict, totals=("sub_total", "total_tax", "total")) -> list[LineDifference]:
    if not now.get("lines") and before.get("lines"):
        return []
    differences: list[LineDifference] = []
    old_lines, new_lines = before.get("lines") or [], now.get("lines") or []
    names = ("description", "quantity", "unit_amount", "discount")
    for number, (old, new) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
        for what, was, is_now in zip(names, old, new, strict=False):
            if _same(was, is_now):
                continue
            differences.append(LineDifference(what=what, line=number, before=was, after=is_now))
    for number, line in enumerate(new_lines[len(old_lines):], start=len(old_lines) + 1):
        differences.append(LineDifference(what="line_added", line=number, after=line[0]))
    for number, line in enumerate(old_lines[len(new_lines):], start=len(new_lines) + 1):
        differences.append(LineDifference(what="line_removed", line=number, before=line[0]))
    for what in totals:
        if before.get(what) is not None and now.get(what) is not None and not _same(before[what], now[what]):
            differences.append(LineDifference(what=what, before=before[what], after=now[what]))
    return differences


def _line_description(name: str, description: str | None) -> str:
    """How the export writes a Forecast entry as a Xero line description (services/exports/writer.py)."""
    parts = [p.strip() for p in (name, description or "") if p and p.strip()]
    return " — ".join(dict.fromkeys(parts)) or "Forecast invoice line"


def _same(a: str | None, b: str | None) -> bool:
    numbers = _number(a), _number(b)
    if None not in numbers:
        return numbers[0] == numbers[1]
    return (a or "") == (b or "")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _number(value) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None
