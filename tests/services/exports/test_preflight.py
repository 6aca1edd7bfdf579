"""Pre-flight: what an approver sees on each line before approving, and what Xero will compute."""

from __future__ import annotations

from decimal import Decimal

from services.exports.preflight import map_tax_rate, preflight
from services.forecast import ForecastInvoice
from services.shared.links import Link
from services.xero.models import XeroAccount, XeroInvoice, XeroTaxRate
from services.xero.reference import OrgReference


def rate(tax_type: str, percent: float, *, revenue: bool = True, status: str = "ACTIVE") -> XeroTaxRate:
    return XeroTaxRate(tax_type=tax_type, name=tax_type, effective_rate=Decimal(str(percent)),
                       can_apply_to_revenue=revenue, status=status)


REFERENCE = OrgReference(
    tenant_id="T-NZ",
    currencies=("NZD", "USD"),
    accounts=(XeroAccount(code="090", type="BANK", status="ACTIVE"),
              XeroAccount(code="200", type="REVENUE", status="ACTIVE", tax_type="OUTPUT2"),
              XeroAccount(code="260", type="REVENUE", status="ARCHIVED")),
    tax_rates=(rate("INPUT2", 15, revenue=False), rate("OUTPUT2", 15), rate("OUTPUT3", 20), rate("NONE", 0),
               rate("ZERORATEDOUTPUT", 0), rate("OLD20", 20, status="DELETED")),
    fetched_at=None,
)


def invoice(*lines: tuple[float, float, float], currency: str = "USD", number: str = "INV-103",
            discount: float = 0) -> ForecastInvoice:
    return ForecastInvoice.model_validate({
        "id": 103, "invoice_reference": number, "currency": currency, "entries": [
            {"name": f"Line {n}", "quantity": q, "unit_price": p, "tax": t, "discount": discount}
            for n, (q, p, t) in enumerate(lines)]})


def test_zero_fifteen_and_twenty_percent_lines_map_to_matching_rates_and_totals_agree_to_the_cent():
    forecast = invoice((37.5, 150.0, 0), (12.25, 96, 15), (3, 333.33, 20))
    check = preflight(forecast, "T-NZ", REFERENCE)

    assert check.code == "ready" and check.exportable
    assert [line.tax_type for line in check.lines] == ["NONE", "OUTPUT2", "OUTPUT3"]
    assert check.computed_total == check.expected_total == Decimal(str(forecast.total))
    # Xero: 5,625.00 + (1,176.00 + 176.40) + (999.99 + 200.00, its 199.998 tax rounded on the line)
    assert check.computed_total == Decimal("8177.39")


def test_a_zero_percent_line_never_goes_without_a_tax_type():
    check = preflight(invoice((1, 100, 0)), "T-NZ", REFERENCE)
    assert check.lines[0].tax_type == "NONE"  # without it Xero would apply account 200's 15%
    assert check.computed_total == Decimal("100.00")


def test_the_workspace_tax_type_wins_among_rates_with_the_same_percentage():
    assert map_tax_rate(Decimal(0), REFERENCE, ("ZERORATEDOUTPUT",)) == "ZERORATEDOUTPUT"
    assert map_tax_rate(Decimal(0), REFERENCE, ("OUTPUT2",)) == "NONE"  # 15% is not 0%
    assert map_tax_rate(Decimal(15), REFERENCE) == "OUTPUT2"  # INPUT2 is not for revenue


def test_a_tax_percentage_without_an_active_revenue_rate_is_named():
    check = preflight(invoice((1, 100, 12.5), (1, 10, 20), (2, 5, 12.5)), "T-NZ", REFERENCE)
    assert check.code == "tax_unmapped" and not check.exportable
    assert check.problem("tax_unmapped").data == {"percents": ["12.5"]}


def test_per_line_rounding_that_differs_from_forecasts_total_is_flagged_with_both_amounts():
    # Xero rounds each line (0.625 -> 0.63, tax 0.126 -> 0.13: 3 x 0.76); Forecast rounds only the sum (1.875 x 1.2).
    check = preflight(invoice((1, 0.625, 20), (1, 0.625, 20), (1, 0.625, 20)), "T-NZ", REFERENCE)
    assert check.code == "total_mismatch"
    assert check.problem("total_mismatch").data == {"expected": "2.25", "computed": "2.28"}


def test_discounts_are_applied_before_rounding_the_line():
    check = preflight(invoice((3, 19.99, 15), discount=12.5), "T-NZ", REFERENCE)
    assert check.lines[0].line_amount == Decimal("52.47")
    assert check.computed_total == check.expected_total


def test_a_currency_the_organisation_does_not_use_is_refused_before_approval():
    check = preflight(invoice((1, 100, 15), currency="EUR"), "T-NZ", REFERENCE)
    assert check.code == "currency_not_enabled"
    assert check.problem("currency_not_enabled").data == {"currency": "EUR", "enabled": ["NZD", "USD"]}


def test_an_account_code_that_is_not_active_there_is_refused():
    assert preflight(invoice((1, 1, 15)), "T-NZ", REFERENCE, account_code="260").code == "account_invalid"
    assert preflight(invoice((1, 1, 15)), "T-NZ", REFERENCE, account_code="999").code == "account_invalid"
    assert preflight(invoice((1, 1, 15)), "T-NZ", REFERENCE).account_code == "200"


def test_a_number_already_in_the_organisation_will_be_linked():
    existing = XeroInvoice(invoice_id="x-1", invoice_number="INV-103", total=Decimal("115"))
    check = preflight(invoice((1, 100, 15)), "T-NZ", REFERENCE, existing=existing)
    assert check.code == "already_in_xero" and check.exportable and check.existing is existing


def test_exported_before_to_a_removed_organisation_needs_an_explicit_choice():
    removed = Link(team_id="T", kind="invoice", forecast_id="103", tenant_id="T-GONE", xero_id="x-9",
                   status="unlinked")
    check = preflight(invoice((1, 100, 15)), "T-NZ", REFERENCE, links=[removed], connected_tenant_ids={"T-NZ"})
    assert check.code == "exported_to_removed_org" and not check.exportable
    assert check.problem("exported_to_removed_org").data == {"tenant_ids": ["T-GONE"]}

    chosen = preflight(invoice((1, 100, 15)), "T-NZ", REFERENCE, links=[removed], connected_tenant_ids={"T-NZ"},
                       allow_duplicate=True)
    assert chosen.code == "ready" and chosen.duplicate_allowed


def test_an_invoice_with_a_live_link_is_not_exported_again():
    live = Link(team_id="T", kind="invoice", forecast_id="103", tenant_id="T-UK", xero_id="x-1", status="linked")
    assert preflight(invoice((1, 100, 15)), "T-NZ", REFERENCE, links=[live]).code == "already_exported"
