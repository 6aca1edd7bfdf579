"""What a person reads in the import modals and search box: counts, required fields, telling picks apart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.blocks import imports as blocks
from services.forecast import ForecastProject
from services.imports.common import OrganisationStatus
from services.imports.customers import CustomerChoice
from services.imports.purchase_orders import PurchaseOrderListing, PurchaseOrderRow
from services.xero.errors import XeroError


def context_lines(view: dict) -> list[str]:
    return [e["text"] for b in view["blocks"] if b["type"] == "context" for e in b["elements"]]


def listing(orders: list[PurchaseOrderRow], *organisations: OrganisationStatus) -> PurchaseOrderListing:
    return PurchaseOrderListing(list(organisations), orders, len(orders), ["AUTHORISED"])


ORDER = PurchaseOrderRow("t1", "Solo Ltd", "po1", "PO-0001", "Supplies Ltd", date(2026, 1, 2), Decimal("10"),
                         "GBP", "AUTHORISED")
PROJECT = ForecastProject(id=1, name="Website", stage="RUNNING")


def test_one_record_is_counted_in_the_singular():
    view = blocks.customers_modal([OrganisationStatus("t1", "Solo Ltd", 1, None),
                                   OrganisationStatus("t2", "Pair Ltd", 2, None)])
    assert context_lines(view) == [":white_check_mark: *Solo Ltd*: 1 customer",
                                   ":white_check_mark: *Pair Ltd*: 2 customers"]
    picker = next(b for b in view["blocks"] if b.get("block_id") == blocks.CUSTOMERS_BLOCK)
    assert picker["element"]["placeholder"]["text"] == "Search 3 customers"
    orders = blocks.po_modal(listing([ORDER], OrganisationStatus("t1", "Solo Ltd", 1, None)), [PROJECT])
    assert ":white_check_mark: *Solo Ltd*: 1 purchase order" in context_lines(orders)


def test_an_unavailable_organisation_names_its_records_in_the_plural():
    view = blocks.customers_modal([OrganisationStatus("t1", "Solo Ltd", 0, None, XeroError("Xero is down"))])
    assert context_lines(view) == [
        ":warning: *Solo Ltd* is unavailable: Xero is down. None of its customers are shown."]


def test_the_fields_to_pick_from_are_required_not_optional():
    customers = blocks.customers_modal([OrganisationStatus("t1", "Solo Ltd", 1, None)])
    orders = blocks.po_modal(listing([ORDER], OrganisationStatus("t1", "Solo Ltd", 1, None)), [PROJECT])
    for view, block_id in ((customers, blocks.CUSTOMERS_BLOCK), (orders, blocks.PO_PICK_BLOCK),
                           (orders, blocks.PO_PROJECT_BLOCK)):
        block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
        assert not block.get("optional"), block_id  # Slack would label it "(optional)"


def test_a_name_found_in_several_organisations_names_the_organisation_in_its_option():
    answer = blocks.customer_options([
        CustomerChoice("uk", "Demo Company (UK)", "c1", "Globex Ltd", False),
        CustomerChoice("uk", "Demo Company (UK)", "c2", "Initech", False),
        CustomerChoice("us", "Demo Company (US)", "c3", "globex ltd", True),
    ])
    texts = [o["text"]["text"] for g in answer["option_groups"] for o in g["options"]]
    assert texts == ["Globex Ltd · Demo Company (UK)", "Initech", "globex ltd · Demo Company (US) (already linked)"]
