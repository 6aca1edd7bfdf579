"""Line and invoice totals the way Xero rounds them (2 decimal places, half away from zero)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def round2(value: float | Decimal) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def line_totals(
    quantity: float, unit_amount: float, discount_rate: float | None, tax_rate: float, line_amount_types: str
) -> tuple[float, float]:
    """-> (LineAmount, TaxAmount). `tax_rate` in percent."""
    gross = Decimal(str(quantity)) * Decimal(str(unit_amount))
    if discount_rate:
        gross = gross * (Decimal(100) - Decimal(str(discount_rate))) / Decimal(100)
    line_amount = Decimal(str(round2(gross)))
    rate = Decimal(str(tax_rate)) / Decimal(100)
    if line_amount_types == "NoTax" or not rate:
        return float(line_amount), 0.0
    if line_amount_types == "Inclusive":
        tax = line_amount - line_amount / (1 + rate)
    else:
        tax = line_amount * rate
    return float(line_amount), round2(tax)
