"""Before anyone approves: would this Forecast invoice go into this Xero organisation exactly as it is?

Checked per invoice, with the organisation's reference data (services/xero/reference.py) and what Xero
already holds:
- the currency is enabled there;
- the account code is an active account there (the workspace setting, else the first revenue account);
- each line's tax % maps to an active Xero tax rate usable on revenue with the same effective rate, and the
  line is sent with that TaxType (a line without one takes the account's default, which is how 0% lines
  came out at 20%);
- the total Xero will compute equals Forecast's to the cent;
- the invoice number is already in the organisation (it will be linked, not created);
- the tracking option its lines carry (services/exports/tracking.py) is active, or will be created;
- it was exported before to an organisation that has since been removed (exported again only on an
  admin's explicit choice, knowing it will exist twice).

Xero's arithmetic, per its Accounting API spec (LineItem): LineAmount = Quantity × UnitAmount ×
((100 − DiscountRate) / 100), rounded to 2 decimal places; TaxAmount is the tax rate applied to each
line's amount, rounded per line; Total = Σ LineAmount + Σ TaxAmount. UnitAmount keeps 4 decimal places
because we send `unitdp=4`. Rounding is half away from zero.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from services.exports.tracking import TrackingPlan
from services.forecast import ForecastInvoice, ForecastInvoiceEntry
from services.shared.links import LINKED, Link
from services.xero.models import XeroInvoice, XeroTaxRate
from services.xero.reference import OrgReference

PreflightCode = Literal[
    "ready",  # will be created
    "already_in_xero",  # the number exists there: linked, not created
    "already_exported",  # a live link exists: nothing to do
    "currency_not_enabled",
    "account_invalid",
    "tax_unmapped",
    "total_mismatch",
    "tracking_unusable",  # the tracking option is archived or missing (and cannot be created)
    "exported_to_removed_org",  # needs an admin's explicit choice
]
EXPORTABLE: frozenset[str] = frozenset({"ready", "already_in_xero"})
CENT = Decimal("0.01")
UNIT_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Problem:
    code: PreflightCode
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedLine:
    """One Forecast line as it will be sent, and what Xero will make of it."""

    description: str
    quantity: Decimal
    unit_amount: Decimal
    discount_rate: Decimal | None
    tax_percent: Decimal
    tax_type: str | None  # None when no Xero tax rate matches (the invoice is then not exportable)
    line_amount: Decimal
    tax_amount: Decimal


@dataclass(frozen=True)
class Preflight:
    forecast_invoice_id: int
    reference: str
    tenant_id: str
    code: PreflightCode  # the first blocking problem, else ready / already_in_xero / already_exported
    problems: tuple[Problem, ...]
    currency: str | None
    account_code: str | None
    lines: tuple[PlannedLine, ...]
    expected_total: Decimal  # Forecast's
    computed_total: Decimal  # what Xero will compute from the planned lines
    existing: XeroInvoice | None = None  # the invoice with this number already in the organisation
    duplicate_allowed: bool = False  # an admin chose to export again despite a removed organisation
    plan: dict[str, Any] = field(default_factory=dict)  # the account and tax rates the lines will carry
    tracking: TrackingPlan | None = None  # the tracking option every line carries

    @property
    def exportable(self) -> bool:
        return self.code in EXPORTABLE

    def problem(self, code: PreflightCode) -> Problem | None:
        return next((p for p in self.problems if p.code == code), None)

    def stored_data(self) -> dict[str, Any]:
        """The deciding problem's data as JSON values: how a check is saved (on an export or a batch line)."""
        problem = self.problem(self.code)
        data = {**(dict(problem.data) if problem else {}), "plan": self.plan}
        if self.tracking is not None:
            data.setdefault("tracking", self.tracking.data())
        return json.loads(json.dumps(data, default=str))


def preflight(
    invoice: ForecastInvoice,
    tenant_id: str,
    reference: OrgReference,
    *,
    account_code: str | None = None,
    tax_type: str | None = None,
    existing: XeroInvoice | None = None,
    links: Sequence[Link] = (),
    connected_tenant_ids: set[str] | frozenset[str] = frozenset(),
    allow_duplicate: bool = False,
    tracking: TrackingPlan | None = None,
) -> Preflight:
    """`account_code`/`tax_type`: the workspace settings; `existing`: Xero's invoice with this number in the
    organisation, if any; `links`: every invoice link of this Forecast invoice (LinkStore.history).
    `connected_tenant_ids` is kept for callers; an unlinked link elsewhere counts whether or not its
    organisation is connected now."""
    problems: list[Problem] = []
    live = next((link for link in links if link.status == LINKED and link.xero_id), None)
    if live is not None:
        problems.append(Problem("already_exported", {"tenant_id": live.tenant_id, "xero_id": live.xero_id,
                                                     "xero_number": live.xero_number}))
    # Known to be in another organisation, connected or not (a removed one, or one whose links were not
    # brought back): never created here too without an admin's explicit choice.
    removed = sorted({link.tenant_id for link in links
                      if link.status != LINKED and link.xero_id and link.tenant_id != tenant_id})
    if removed and existing is None and not allow_duplicate:
        problems.append(Problem("exported_to_removed_org", {"tenant_ids": removed}))

    currency = (invoice.currency or "").upper() or None
    if currency and not reference.has_currency(currency):
        problems.append(Problem("currency_not_enabled", {"currency": currency,
                                                         "enabled": list(reference.currencies)}))
    account = _account(reference, account_code)
    if account is None:
        problems.append(Problem("account_invalid", {"account_code": account_code}))
    account_tax = account.tax_type if account else None
    chosen = chosen_tax_rate(reference, tax_type)
    lines, unmapped = plan_lines(invoice.entries, reference, preferred=(tax_type, account_tax), chosen=chosen)
    if unmapped:
        problems.append(Problem("tax_unmapped", {"percents": [_plain(p) for p in unmapped]}))
    expected = Decimal(str(invoice.total)).quantize(CENT)
    computed = xero_total(lines)
    differs = not unmapped and existing is None and computed != expected
    if differs and chosen is None:
        problems.append(Problem("total_mismatch", {"expected": str(expected), "computed": str(computed)}))
    plan = _plan(account, lines, reference, chosen is not None,
                 {"expected": str(expected), "computed": str(computed)} if differs else None)

    if tracking is not None and tracking.blocks:
        problems.append(Problem("tracking_unusable", {"tracking": tracking.data()}))
    code: PreflightCode = problems[0].code if problems else ("already_in_xero" if existing else "ready")
    return Preflight(
        forecast_invoice_id=invoice.id, reference=invoice.invoice_reference, tenant_id=tenant_id, code=code,
        problems=tuple(problems), currency=currency, account_code=account.code if account else account_code,
        lines=tuple(lines), expected_total=expected, computed_total=computed, existing=existing,
        duplicate_allowed=bool(removed) and allow_duplicate, plan=plan, tracking=tracking,
    )


def chosen_tax_rate(reference: OrgReference, tax_type: str | None) -> XeroTaxRate | None:
    """The tax rate chosen for the organisation in /xero settings, while it is an active sales rate there.

    The rule: a chosen tax rate wins over the Forecast line's tax % (every line carries it, and Xero's total
    follows it: the line says so when that differs from Forecast's). With none chosen, each line's tax % is
    mapped to a Xero rate of exactly that effective rate."""
    if not tax_type:
        return None
    rate = next((r for r in reference.sales_tax_rates() if r.tax_type == tax_type), None)
    return rate if rate is not None and rate.effective_rate is not None else None


def plan_lines(entries: list[ForecastInvoiceEntry], reference: OrgReference,
               preferred: tuple[str | None, ...] = (),
               chosen: XeroTaxRate | None = None) -> tuple[list[PlannedLine], list[Decimal]]:
    """Each line with its Xero TaxType and amounts; and the tax percentages no Xero tax rate matches."""
    lines: list[PlannedLine] = []
    unmapped: list[Decimal] = []
    for entry in entries:
        percent = _decimal(entry.tax)
        tax_type = map_tax_rate(percent, reference, preferred)
        if chosen is not None:
            tax_type, percent = chosen.tax_type, Decimal(str(chosen.effective_rate))
        if tax_type is None and percent not in unmapped:
            unmapped.append(percent)
        quantity, unit = _decimal(entry.quantity), _decimal(entry.unit_price).quantize(UNIT_PLACES, ROUND_HALF_UP)
        discount = _decimal(entry.discount) if entry.discount else None
        line_amount = line_amount_of(quantity, unit, discount)
        lines.append(PlannedLine(
            description=_line_description(entry.name, entry.description), quantity=quantity, unit_amount=unit,
            discount_rate=discount, tax_percent=percent, tax_type=tax_type, line_amount=line_amount,
            tax_amount=round_cents(line_amount * percent / 100),
        ))
    return lines, unmapped


def _plan(account, lines: list[PlannedLine], reference: OrgReference, chosen: bool,
          differs: dict[str, str] | None) -> dict[str, Any]:
    """What the approval message shows: the account and each tax rate the lines will carry."""
    taxes = []
    for tax_type in dict.fromkeys(line.tax_type for line in lines if line.tax_type):
        rate = reference.tax_rate(tax_type)
        taxes.append({"tax_type": tax_type, "name": (rate.name if rate else None) or tax_type,
                      "percent": _plain(Decimal(str(rate.effective_rate))) if rate and rate.effective_rate is not None
                      else None})
    return {"account_code": account.code if account else None, "account_name": account.name if account else None,
            "taxes": taxes, "tax_chosen": chosen, "total_differs": differs}


def map_tax_rate(percent: Decimal, reference: OrgReference, preferred: tuple[str | None, ...] = ()) -> str | None:
    """The TaxType for a Forecast tax %: an active revenue rate with exactly that effective rate.

    Among several (NONE and ZERORATEDOUTPUT are both 0%), the workspace's tax type, then the account's
    default, then the first Xero lists."""
    candidates = [rate.tax_type for rate in reference.revenue_tax_rates(percent)]
    for wanted in preferred:
        if wanted and wanted in candidates:
            return wanted
    return candidates[0] if candidates else None


def line_amount_of(quantity: Decimal, unit_amount: Decimal, discount_rate: Decimal | None) -> Decimal:
    amount = quantity * unit_amount
    if discount_rate:
        amount = amount * (100 - discount_rate) / 100
    return round_cents(amount)


def xero_total(lines: list[PlannedLine] | tuple[PlannedLine, ...]) -> Decimal:
    return sum((line.line_amount + line.tax_amount for line in lines), Decimal("0")).quantize(CENT)


def round_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _account(reference: OrgReference, account_code: str | None):
    if account_code:
        return reference.active_account(account_code)
    return reference.default_revenue_account()


def _line_description(name: str, description: str | None) -> str:
    parts = [p.strip() for p in (name, description or "") if p and p.strip()]
    return " — ".join(dict.fromkeys(parts)) or "Forecast invoice line"


def _decimal(value: float | int) -> Decimal:
    return Decimal(str(value))


def _plain(percent: Decimal) -> str:
    text = format(percent.normalize(), "f")
    return text
