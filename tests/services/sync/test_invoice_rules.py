"""What counts as an edit in Xero, and what status an invoice is in: the rules behind the thread replies."""

from __future__ import annotations

from decimal import Decimal

from services.forecast import ForecastInvoice
from services.sync.invoices import compare_snapshots, compare_with_export, lines_snapshot, status_of
from services.xero.sync_models import XeroInvoiceState

EXPORTED = ForecastInvoice.model_validate({
    "id": 1, "invoice_reference": "INV-1", "entries": [
        {"name": "Design", "description": "Sprint 4", "quantity": 3, "unit_price": 33.3333, "discount": 0},
        {"name": "Hosting", "quantity": 1, "unit_price": 50}]})


def in_xero(*lines, **totals) -> XeroInvoiceState:
    return XeroInvoiceState.model_validate({"InvoiceID": "x", "Status": "AUTHORISED", "LineItems": [
        {"Description": d, "Quantity": q, "UnitAmount": u} for d, q, u in lines], **totals})


def test_xeros_own_rounding_is_not_an_edit():
    unchanged = in_xero(("Design — Sprint 4", 3, 33.33), ("Hosting", 1, 50.0), SubTotal=149.99)
    assert compare_with_export(EXPORTED, lines_snapshot(unchanged)) == []


def test_changed_quantity_added_line_and_totals_are_named():
    edited = in_xero(("Design — Sprint 4", 4, 33.33), ("Hosting", 1, 50.0), ("Support", 1, 10.0), SubTotal=193.32)
    found = {(d.what, d.line, d.before, d.after) for d in compare_with_export(EXPORTED, lines_snapshot(edited))}
    assert found == {("quantity", 1, "3", "4"), ("line_added", 3, None, "Support"),
                     ("sub_total", None, "149.99", "193.32")}
    before = lines_snapshot(edited)
    removed = in_xero(("Design — Sprint 4", 4, 33.33), SubTotal=133.32, TotalTax=26.66, Total=159.98)
    assert {d.what for d in compare_snapshots(before, lines_snapshot(removed))} == {"line_removed", "sub_total"}


def test_status_labels_follow_what_xero_says_was_paid():
    def state(status, paid, total="100"):
        return status_of(XeroInvoiceState.model_validate({"Status": status, "AmountPaid": paid, "Total": total}))

    assert state("AUTHORISED", 0).label == "authorised"
    part = state("AUTHORISED", 40)
    assert part.label == "part_paid" and part.amount_due == Decimal("60")
    assert [state(s, 0).label for s in ("PAID", "VOIDED", "DELETED", "DRAFT")] == ["paid", "voided", "deleted", "draft"]
