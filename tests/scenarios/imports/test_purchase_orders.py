"""/xero import purchase-orders end to end: listing, status filter, project, expense items, no duplicates."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from bot.blocks import imports as blocks
from tests.support.contracts import validate_xero_accounting_request
from tests.support.forecast_standin import ForecastStandIn
from tests.support.import_flow import (
    forecast_holding,
    listings,
    open_import,
    purchase_order,
    refuse_tenant,
    set_forecast_key,
    xero_holding,
)
from tests.support.xero_identity import UK_TENANT, US_TENANT, connect_organisations
from tests.support.xero_standin import XeroStandIn

LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)
UK_OLD = purchase_order(1, tenant="uk", day=3, supplier="Paper Co", total=120.5)
UK_NEW = purchase_order(2, tenant="uk", day=20, supplier="Ink Ltd", total=1234.56, status="BILLED")
UK_DRAFT = purchase_order(3, tenant="uk", day=25, status="DRAFT")
US_MID = purchase_order(7, tenant="us", day=10, supplier="Steel Inc", total=99, currency="USD")
PROJECTS = [{"id": 11, "name": "Website", "company_project_id": 4, "stage": "RUNNING"},
            {"id": 12, "name": "Old rollout", "company_project_id": 2, "stage": "DONE"}]
CATEGORIES = [{"id": 3, "name": "Archived", "disabled": True}, {"id": 5, "name": "Materials"},
              {"id": 6, "name": "Travel"}]


# Forecast's ids run on across projects: the next expense item made is 501.
EARLIER_ITEM = {"id": 500, "project_id": 12, "name": "Courier", "expense_date": "2025-12-01", "cost": 20.0,
                "quantity": 1, "expense_category": 6, "approved": True, "billable": True}


async def ready(bot, xero, *, uk=(UK_OLD, UK_NEW, UK_DRAFT), us=(US_MID,),
                projects=PROJECTS) -> tuple[XeroStandIn, ForecastStandIn]:
    await connect_organisations(bot, xero)
    await set_forecast_key(bot)
    forecast = forecast_holding(xero, projects=projects, expense_categories=CATEGORIES, expense_items=[EARLIER_ITEM])
    return xero_holding(xero, uk_orders=uk, us_orders=us), forecast


def items_sent(forecast: ForecastStandIn, project_id: int = 11) -> list[dict]:
    """The expense items the bot asked Forecast to create in the project, as sent."""
    return forecast.bodies("POST", f"/projects/{project_id}/expense_items")


def choose(project_id: int | None, *orders: dict, tenant: str = UK_TENANT) -> dict:
    values = {blocks.PO_PICK_BLOCK: {blocks.PO_PICK_ACTION: {"type": "multi_static_select", "selected_options": [
        {"value": blocks.pair_value(tenant, o["PurchaseOrderID"])} for o in orders]}}}
    if project_id is not None:
        values[blocks.PO_PROJECT_BLOCK] = {blocks.PO_PROJECT_ACTION: {"type": "static_select",
                                                                      "selected_option": {"value": str(project_id)}}}
    return values


def picker_values(view: dict) -> list[str]:
    block = next(b for b in view["blocks"] if b.get("block_id") == blocks.PO_PICK_BLOCK)
    return [o["value"] for g in block["element"]["option_groups"] for o in g["options"]]


async def submit_and_wait(bot, view: dict, values: dict) -> dict:
    seen = len(bot.slack.called("chat.postEphemeral"))
    response = await bot.submit(view, values=values)
    assert response.status == 200
    return (await bot.slack.wait_for("chat.postEphemeral",
                                     lambda c: bot.slack.called("chat.postEphemeral").index(c) >= seen)).args


# Listing ------------------------------------------------------------------------------------------


async def test_modal_lists_purchase_orders_newest_first_with_their_details(bot, xero):
    await ready(bot, xero)
    opened, view = await open_import(bot, "import purchase-orders")
    assert "Loading" in json.dumps(opened["view"])
    assert picker_values(view) == [blocks.pair_value(UK_TENANT, UK_NEW["PurchaseOrderID"]),
                                   blocks.pair_value(UK_TENANT, UK_OLD["PurchaseOrderID"]),
                                   blocks.pair_value(US_TENANT, US_MID["PurchaseOrderID"])]
    listing = "\n".join(b["text"]["text"] for b in view["blocks"] if b["type"] == "section")
    assert listing.index("PO-0002") < listing.index("PO-0007") < listing.index("PO-0001")  # by date
    assert "*PO-0002* · Ink Ltd · 2026-01-21 · GBP 1,234.56 · Billed · _Demo Company (UK)_" in listing
    assert "USD 99.00" in listing and "PO-0003" not in listing  # drafts are not in the default filter


async def test_default_status_filter_is_approved_and_billed_and_projects_come_from_forecast(bot, xero):
    await ready(bot, xero)
    _, view = await open_import(bot, "import purchase-orders")
    status = next(b for b in view["blocks"] if b.get("block_id") == blocks.PO_STATUS_BLOCK)
    assert status["dispatch_action"] is True
    assert [o["value"] for o in status["element"]["initial_options"]] == ["AUTHORISED", "BILLED"]
    project = next(b for b in view["blocks"] if b.get("block_id") == blocks.PO_PROJECT_BLOCK)
    assert [(o["value"], o["text"]["text"]) for o in project["element"]["options"]] == [
        ("11", "P4 Website"), ("12", "P2 Old rollout")]  # running projects first


async def test_changing_the_status_filter_redraws_the_modal_from_the_cache(bot, xero):
    fake, _ = await ready(bot, xero)
    _, view = await open_import(bot, "import purchase-orders")
    xero_calls = len(fake.calls)
    shown = bot.slack.view_hash(view["id"])  # the hash Slack sends with the action
    await bot.view_action(view, {"type": "multi_static_select", "action_id": blocks.PO_STATUS_ACTION,
                                 "selected_options": [{"value": "DRAFT"}]},
                          values=choose(12))
    redraw = await bot.slack.wait_for("views.update", lambda c: "PO-0003" in json.dumps(c["view"]))
    assert redraw["view_id"] == view["id"] and redraw["hash"] == shown and redraw.response["ok"]
    assert picker_values(redraw["view"]) == [blocks.pair_value(UK_TENANT, UK_DRAFT["PurchaseOrderID"])]
    project = next(b for b in redraw["view"]["blocks"] if b.get("block_id") == blocks.PO_PROJECT_BLOCK)
    assert project["element"]["initial_option"]["value"] == "12"  # the pick survives the redraw
    assert len(fake.calls) == xero_calls  # no new call to Xero


async def test_many_purchase_orders_keep_the_modal_within_slacks_limits(bot, xero):
    many = [purchase_order(n, tenant="uk", day=n % 300) for n in range(250)]
    await ready(bot, xero, uk=many, us=())
    _, view = await open_import(bot, "import purchase-orders")
    assert len(view["blocks"]) <= 100 and len(picker_values(view)) == 100
    assert "newest 100 of 250" in json.dumps(view["blocks"])
    assert all(len(b["text"]["text"]) <= 3000 for b in view["blocks"] if b["type"] == "section")


async def test_an_unavailable_organisation_says_why_and_the_others_still_show(bot, xero):
    fake, _ = await ready(bot, xero)
    refuse_tenant(fake, UK_TENANT, 401)
    _, view = await open_import(bot, "import purchase-orders")
    text = json.dumps(view["blocks"])
    assert "Demo Company (UK)* is unavailable" in text and "no longer authorised" in text
    assert picker_values(view) == [blocks.pair_value(US_TENANT, US_MID["PurchaseOrderID"])]


async def test_second_listing_sends_if_modified_since_and_keeps_unchanged_orders(bot, xero):
    fake, _ = await ready(bot, xero)
    await open_import(bot, "import purchase-orders")
    fake.change(US_TENANT, {**US_MID, "Status": "BILLED"})
    fake.calls.clear()
    bot.slack.calls.clear()
    _, view = await open_import(bot, "import purchase-orders")
    assert len(listings(fake)) == 2 and all(s.if_modified_since for s in listings(fake))
    assert len(picker_values(view)) == 3
    assert "Steel Inc · 2026-01-11 · USD 99.00 · Billed" in json.dumps(view["blocks"], ensure_ascii=False)
    for sent in listings(fake):
        validate_xero_accounting_request("GET", sent.url, sent.headers)


async def test_no_organisation_connected_says_how_to_connect(bot):
    await set_forecast_key(bot)
    reply = await bot.ask("import purchase-orders")
    assert "/xero connect" in json.dumps(reply["blocks"]) and bot.slack.called("views.open") == []


# Importing -------------------------------------------------------------------------------------


async def test_import_creates_an_expense_item_and_remembers_it(bot, xero):
    _, forecast = await ready(bot, xero)
    _, view = await open_import(bot, "import purchase-orders")
    answer = await submit_and_wait(bot, view, choose(11, UK_NEW))
    assert items_sent(forecast) == [{"name": "PO-0002 · Ink Ltd", "cost": 1234.56, "quantity": 1, "expense_category": 5,
                       "expense_date": "2026-01-21",
                       "notes": "Xero purchase order PO-0002 from Demo Company (UK) (GBP 1,234.56, BILLED)."}]
    link = await bot.container.links.get("T0TEST", "purchase_order", UK_NEW["PurchaseOrderID"], UK_TENANT)
    assert link.status == "linked" and link.xero_id == UK_NEW["PurchaseOrderID"] and link.xero_number == "PO-0002"
    assert link.details == {"expense_item_id": 501, "project_id": 11, "project_name": "Website",
                            "project_display_id": "P4"}
    assert "into P4 Website: 1 created, 0 skipped, 0 failed" in answer["text"]


async def test_importing_the_same_purchase_order_again_points_to_the_existing_item(bot, xero):
    _, forecast = await ready(bot, xero)
    _, view = await open_import(bot, "import purchase-orders")
    await submit_and_wait(bot, view, choose(11, UK_NEW))
    again = await submit_and_wait(bot, view, choose(11, UK_NEW, UK_OLD))
    assert [b["name"] for b in items_sent(forecast)] == ["PO-0002 · Ink Ltd", "PO-0001 · Paper Co"]
    assert "1 created, 1 skipped" in again["text"]
    assert "already imported as expense item 501 in project P4 Website" in json.dumps(again["blocks"])
    bot.slack.calls.clear()
    _, view = await open_import(bot, "import purchase-orders")
    assert "imported as expense item 501 in P4 Website" in json.dumps(view["blocks"])


async def test_two_submits_at_once_create_one_expense_item(bot, xero):
    _, forecast = await ready(bot, xero)
    _, view = await open_import(bot, "import purchase-orders")
    release, arrived = asyncio.Event(), asyncio.Event()

    async def slow(call):
        if call.method == "POST":
            arrived.set()
            await asyncio.wait_for(release.wait(), 5)

    forecast.before = slow
    await bot.submit(view, values=choose(11, UK_OLD))
    await asyncio.wait_for(arrived.wait(), 5)
    await bot.submit(view, values=choose(11, UK_OLD))
    second = await bot.slack.wait_for("chat.postEphemeral")
    assert "1 skipped" in second["text"]
    release.set()
    await bot.slack.wait_for("chat.postEphemeral", lambda c: "1 created" in c["text"])
    assert len(items_sent(forecast)) == 1


async def test_a_project_that_no_longer_exists_is_a_clear_error_and_nothing_is_stored(bot, xero):
    _, forecast = await ready(bot, xero)
    _, view = await open_import(bot, "import purchase-orders")
    forecast.delete("projects", 12)  # someone deletes the project in Forecast meanwhile
    answer = await submit_and_wait(bot, view, choose(12, UK_NEW))
    assert "project you picked no longer exists" in answer["text"]
    assert items_sent(forecast, 12) == [] and await bot.storage.links.count_documents({}) == 0


async def test_a_selection_of_zero_purchase_orders_gets_an_inline_error(bot, xero):
    _, forecast = await ready(bot, xero)
    _, view = await open_import(bot, "import purchase-orders")
    response = await bot.submit(view, values=choose(11))
    assert await response.json() == {"response_action": "errors",
                                     "errors": {blocks.PO_PICK_BLOCK: "Pick at least one purchase order to import."}}
    assert items_sent(forecast) == []


async def test_forecast_rejecting_an_expense_item_is_reported_and_can_be_retried(bot, xero):
    _, forecast = await ready(bot, xero)
    _, view = await open_import(bot, "import purchase-orders")
    forecast.fail_next("POST", "/projects/11/expense_items", 400, "Cost must be positive")
    answer = await submit_and_wait(bot, view, choose(11, UK_OLD))
    assert "1 failed" in answer["text"] and "Cost must be positive" in json.dumps(answer["blocks"])
    assert await bot.storage.links.count_documents({}) == 0  # the claim was released: a retry may import it


async def test_an_import_that_died_after_creating_the_expense_item_links_it_instead_of_creating_another(bot, xero):
    _, forecast = await ready(bot, xero)
    _, view = await open_import(bot, "import purchase-orders")
    made = {"id": 777, "name": "PO-0001 · Paper Co", "notes": "Xero purchase order PO-0001 from Demo Company (UK) "
                                                              "(GBP 120.50, AUTHORISED).", "cost": 120.5}
    forecast.holding(expense_items=[{**made, "project_id": 11}])
    await bot.storage.links.insert_one({  # the claim the dead process left, its two minutes over
        "team_id": "T0TEST", "kind": "purchase_order", "forecast_id": UK_OLD["PurchaseOrderID"],
        "tenant_id": UK_TENANT, "status": "pending", "linked_by": "U0ADMIN", "linked_at": LONG_AGO,
        "details": {}, "claim_until": LONG_AGO, "holder": "a-dead-job"})
    answer = await submit_and_wait(bot, view, choose(11, UK_OLD))
    assert "1 created" in answer["text"]
    assert items_sent(forecast) == []  # the item the dead import made, not a second one
    link = await bot.storage.links.find_one({"forecast_id": UK_OLD["PurchaseOrderID"]})
    assert link["status"] == "linked" and link["details"]["expense_item_id"] == 777


async def test_without_a_forecast_key_the_admin_is_told_to_set_it(bot, xero):
    await connect_organisations(bot, xero)
    reply = await bot.ask("import purchase-orders")
    assert "/xero settings" in json.dumps(reply["blocks"]) and bot.slack.called("views.open") == []


async def test_forecast_failing_to_list_projects_says_so_in_the_modal(bot, xero):
    await connect_organisations(bot, xero)
    await set_forecast_key(bot)
    xero_holding(xero, uk_orders=[UK_OLD])
    forecast_holding(xero).use_key("a-key-made-since")
    _, view = await open_import(bot, "import purchase-orders")
    assert "Could not read the Forecast projects" in json.dumps(view["blocks"]) and "submit" not in view


async def test_after_removing_and_reconnecting_an_organisation_its_imported_orders_still_show_as_imported(bot, xero):
    _, forecast = await ready(bot, xero)
    _, view = await open_import(bot, "import purchase-orders")
    await submit_and_wait(bot, view, choose(11, UK_NEW))
    await bot.container.connections.remove("T0TEST", UK_TENANT, removed_by="U0ADMIN")
    await connect_organisations(bot, xero)
    bot.slack.calls.clear()
    _, view = await open_import(bot, "import purchase-orders")
    block = next(b for b in view["blocks"] if b.get("block_id") == blocks.PO_PICK_BLOCK)
    texts = {o["value"]: o["text"]["text"] for g in block["element"]["option_groups"] for o in g["options"]}
    assert texts[blocks.pair_value(UK_TENANT, UK_NEW["PurchaseOrderID"])].endswith("(imported)")
    assert "imported as expense item 501 in P4 Website" in json.dumps(view["blocks"])
    again = await submit_and_wait(bot, view, choose(11, UK_NEW))
    assert len(items_sent(forecast)) == 1 and "already imported as expense item 501" in json.dumps(again["blocks"])
