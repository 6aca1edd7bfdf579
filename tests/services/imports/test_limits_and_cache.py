"""Slack's limits in the import builders, and the Xero list cache's refresh rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bot.blocks import imports as blocks
from bot.blocks.errors import error_words
from services.connections.service import Tenant
from services.forecast import ForecastProject
from services.imports.common import ImportSummary, OrganisationStatus
from services.imports.customers import CustomerChoice, new_client
from services.imports.purchase_orders import PurchaseOrderListing, PurchaseOrderRow
from services.imports.xero_lists import CONTACTS, XeroCache
from services.xero.errors import XeroError, XeroUnavailable
from services.xero.models import XeroContact


def org(n: int, error: str | None = None) -> OrganisationStatus:
    return OrganisationStatus(f"t{n}", f"Organisation {n}", 10, None, XeroError(error) if error else None)


def order(n: int) -> PurchaseOrderRow:
    return PurchaseOrderRow(f"t{n % 3}", f"Organisation {n % 3}", f"po{n}", f"PO-{n:04d}", "S" * 200,
                            date(2026, 1, 1), Decimal("10.5"), "GBP", "AUTHORISED")


def test_customer_options_stop_at_100_with_short_texts_whatever_comes_in():
    choices = [CustomerChoice(f"t{n % 150}", f"Organisation {n % 150} " + "x" * 80, f"c{n}", "N" * 120, n % 2 == 0)
               for n in range(1000)]
    answer = blocks.customer_options(choices)
    options = [o for g in answer["option_groups"] for o in g["options"]]
    assert len(options) == 100 and len(answer["option_groups"]) <= 100
    assert all(len(o["text"]["text"]) <= 75 for o in options)
    assert all(len(g["label"]["text"]) <= 75 for g in answer["option_groups"])
    assert options[0]["text"]["text"].endswith("(already linked)")


def test_customers_modal_with_hundreds_of_organisations_stays_under_100_blocks():
    view = blocks.customers_modal([org(n, "down" if n % 7 == 0 else None) for n in range(1500)])
    assert len(view["blocks"]) <= 100
    assert all(len(b["elements"]) <= 10 for b in view["blocks"] if b["type"] == "context")
    assert "more lines are not shown" in view["blocks"][-1]["elements"][0]["text"]


def test_purchase_order_modal_caps_options_blocks_and_text():
    listing = PurchaseOrderListing([org(n) for n in range(3)], [order(n) for n in range(100)], 400,
                                   ["AUTHORISED"])
    projects = [ForecastProject(id=n, name=f"Project {n}", stage=("RUNNING", "DONE", "PLANNING")[n % 3])
                for n in range(250)]
    view = blocks.po_modal(listing, projects, selected_project="7")
    assert len(view["blocks"]) <= 100
    project = next(b for b in view["blocks"] if b.get("block_id") == blocks.PO_PROJECT_BLOCK)["element"]
    assert all(len(g["options"]) <= 100 for g in project["option_groups"])
    assert project["initial_option"]["value"] == "7"
    picker = next(b for b in view["blocks"] if b.get("block_id") == blocks.PO_PICK_BLOCK)["element"]
    assert sum(len(g["options"]) for g in picker["option_groups"]) == 100
    assert all(len(o["text"]["text"]) <= 75 for g in picker["option_groups"] for o in g["options"])
    assert all(len(b["text"]["text"]) <= 3000 for b in view["blocks"] if b["type"] == "section")


def test_summary_of_a_huge_import_fits_in_one_message():
    summary = ImportSummary()
    for n in range(600):
        summary.add(f"Customer {n}", "Organisation", ("created", "linked", "skipped", "failed")[n % 4], "r" * 100)
    payload = blocks.customer_summary(summary)
    assert len(payload["blocks"]) <= 50
    assert payload["text"].endswith("150 created, 150 linked, 150 skipped, 150 failed")
    assert all(len(b["text"]["text"]) <= 3000 for b in payload["blocks"] if b["type"] == "section")


def test_new_client_falls_back_to_the_postal_address_and_leaves_out_blanks():
    contact = XeroContact.model_validate({"Name": "Acme", "TaxNumber": " ", "Addresses": [
        {"AddressType": "STREET"}, {"AddressType": "POBOX", "AddressLine1": "PO Box 1", "City": "Leeds"}]})
    assert new_client(contact, "Acme").to_request() == {"name": "Acme", "street": "PO Box 1", "city": "Leeds"}


# The cache ---------------------------------------------------------------------------------


class StubXero:
    def __init__(self):
        self.answers: list = []
        self.since: list = []

    async def list_contacts(self, auth, *, customers_only, if_modified_since):
        self.since.append(if_modified_since)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return [XeroContact.model_validate(c) for c in answer]


TENANT = Tenant(team_id="T1", tenant_id="ten", name="Org", connection_id="c", token_set_id="ts",
                connected_by="U1", connected_at=datetime(2026, 1, 1, tzinfo=UTC))


async def names(cache: XeroCache) -> list[str]:
    return [r.record["Name"] for r in await cache.find("T1", ["ten"], CONTACTS)]


async def test_cache_merges_changes_drops_archived_and_reads_in_full_after_a_day(storage):
    now = [datetime(2026, 3, 1, 9, 0, tzinfo=UTC)]
    xero = StubXero()
    cache = XeroCache(storage, xero, clock=lambda: now[0])
    xero.answers = [[{"ContactID": "a", "Name": "Alpha"}, {"ContactID": "b", "Name": "Bravo"}]]
    await cache.refresh("T1", [TENANT], CONTACTS)
    assert xero.since == [None] and await names(cache) == ["Alpha", "Bravo"]

    now[0] += timedelta(hours=1)
    xero.answers = [[{"ContactID": "b", "Name": "Bravo", "ContactStatus": "ARCHIVED"}]]
    await cache.refresh("T1", [TENANT], CONTACTS)
    assert xero.since[-1] == datetime(2026, 3, 1, 8, 55, tzinfo=UTC)  # last fetch less the overlap
    assert await names(cache) == ["Alpha"]

    now[0] += timedelta(hours=25)
    xero.answers = [[{"ContactID": "c", "Name": "Charlie"}]]
    await cache.refresh("T1", [TENANT], CONTACTS)
    assert xero.since[-1] is None and await names(cache) == ["Charlie"]


async def test_a_failed_refresh_keeps_the_last_list_and_says_why(storage):
    xero = StubXero()
    cache = XeroCache(storage, xero)
    down = XeroUnavailable("Xero is down", code="unavailable", data={"status": 503, "attempts": 4})
    xero.answers = [[{"ContactID": "a", "Name": "Alpha"}], down]
    await cache.refresh("T1", [TENANT], CONTACTS)
    [result] = await cache.refresh("T1", [TENANT], CONTACTS)
    assert result.error is down and result.fetched_at is not None
    assert await names(cache) == ["Alpha"]
    stored = (await cache.state("T1", TENANT, CONTACTS)).error
    assert stored is not None and (stored.code, stored.data) == ("unavailable", {"status": 503, "attempts": 4})
    assert error_words(stored) == "Xero is unavailable right now (HTTP 503) — gave up after 4 attempts"
