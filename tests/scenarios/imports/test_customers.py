"""/xero import customers end to end: the modal, the search box, Xero at scale, the import and its summary."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from bot.blocks import imports as blocks
from tests.support.contracts import validate_xero_accounting_request
from tests.support.forecast_standin import ForecastStandIn
from tests.support.import_flow import (
    FORECAST_KEY,
    contact,
    forecast_holding,
    listings,
    open_import,
    refuse_tenant,
    set_forecast_key,
    xero_holding,
)
from tests.support.xero_identity import UK, UK_TENANT, US_TENANT, connect_organisations
from tests.support.xero_standin import XeroStandIn

ACME = contact(1, "Acme Ltd", tenant="uk", TaxNumber="GB123456789", Addresses=[
    {"AddressType": "POBOX", "AddressLine1": "PO Box 9", "City": "Nowhere"},
    {"AddressType": "STREET", "AddressLine1": "1 High Street", "AddressLine2": "Unit 4", "City": "London",
     "PostalCode": "EC1A 1AA", "Country": "United Kingdom"},
])
BETA = contact(2, "Beta GmbH", tenant="uk")
GLOBEX = contact(1, "Globex Inc", tenant="us")


async def ready(bot, xero, *, uk=(ACME, BETA), us=(GLOBEX,), tenants=None) -> XeroStandIn:
    await connect_organisations(bot, xero, **({"tenants": tenants} if tenants else {}))
    await set_forecast_key(bot)
    return xero_holding(xero, uk_contacts=uk, us_contacts=us)


def in_seconds(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def pick(*pairs: tuple[str, str]) -> dict:
    options = [{"value": blocks.pair_value(t, c), "text": {"type": "plain_text", "text": c}} for t, c in pairs]
    return {blocks.CUSTOMERS_BLOCK: {blocks.CUSTOMERS_ACTION: {"type": "multi_external_select",
                                                               "selected_options": options}}}


def option_values(answer: dict) -> list[str]:
    return [o["value"] for g in answer.get("option_groups", []) for o in g["options"]] + \
           [o["value"] for o in answer.get("options", [])]


async def submit_and_wait(bot, view: dict, values: dict) -> dict:
    before = len(bot.slack.called("chat.postEphemeral"))
    response = await bot.submit(view, values=values)
    assert response.status == 200
    call = await bot.slack.wait_for("chat.postEphemeral",
                                    lambda c: bot.slack.called("chat.postEphemeral").index(c) >= before)
    return call.args


def forecast_clients(xero, clients=()) -> ForecastStandIn:
    """Forecast holding exactly these clients; what the bot creates is in `created(forecast)`."""
    return forecast_holding(xero, clients=clients)


def created(forecast: ForecastStandIn) -> list[dict]:
    """The clients the bot asked Forecast to create, as sent."""
    return forecast.bodies("POST", "/clients")


# Opening the modal ------------------------------------------------------------------------------


async def test_no_organisation_connected_says_how_to_connect(bot):
    await set_forecast_key(bot)
    reply = await bot.ask("import customers")
    assert "/xero connect" in json.dumps(reply["blocks"])
    assert bot.slack.called("views.open") == []


async def test_without_a_forecast_key_the_admin_is_told_to_set_it(bot, xero):
    await connect_organisations(bot, xero)
    reply = await bot.ask("import customers")
    assert "/xero settings" in json.dumps(reply["blocks"])
    assert bot.slack.called("views.open") == []


async def test_members_cannot_import(bot, xero):
    await ready(bot, xero)
    reply = await bot.ask("import customers", user="U0MEMBER")
    assert "Only admins" in json.dumps(reply["blocks"])
    assert bot.slack.called("views.open") == []


async def test_modal_opens_loading_then_shows_every_organisation(bot, xero):
    await ready(bot, xero)
    opened, view = await open_import(bot, "import customers")
    assert opened["trigger_id"].startswith("trigger-")
    assert "Loading" in json.dumps(opened["view"]) and "submit" not in opened["view"]
    assert view["id"] == opened.response["view"]["id"]  # the id views.open returned
    text = json.dumps(view["blocks"])
    assert "Demo Company (UK)*: 2 customers" in text and "Demo Company (US)*: 1 customer" in text
    element = next(b for b in view["blocks"] if b.get("block_id") == blocks.CUSTOMERS_BLOCK)["element"]
    assert element["type"] == "multi_external_select" and element["action_id"] == blocks.CUSTOMERS_ACTION


async def test_search_shows_customers_of_all_organisations_grouped_and_filters_by_text(bot, xero):
    await ready(bot, xero)
    _, view = await open_import(bot, "import customers")
    everything = await bot.suggest(blocks.CUSTOMERS_ACTION, "", view=view)
    groups = {g["label"]["text"]: [o["text"]["text"] for o in g["options"]] for g in everything["option_groups"]}
    assert groups == {"Demo Company (UK)": ["Acme Ltd", "Beta GmbH"], "Demo Company (US)": ["Globex Inc"]}
    found = await bot.suggest(blocks.CUSTOMERS_ACTION, "glob", view=view)
    assert option_values(found) == [blocks.pair_value(US_TENANT, GLOBEX["ContactID"])]
    assert await bot.suggest(blocks.CUSTOMERS_ACTION, "zzz", view=view) == {"options": []}


# Xero at scale -----------------------------------------------------------------------------------


async def test_a_thousand_customers_are_paged_and_the_views_stay_within_slacks_limits(bot, xero):
    many = [contact(n, tenant="uk") for n in range(1000)]
    fake = await ready(bot, xero, uk=many)
    _, view = await open_import(bot, "import customers")
    uk_pages = [s for s in fake.sent("GET", "Contacts") if s.tenant == UK_TENANT]
    assert len(uk_pages) == 11  # ten full pages, then a short (empty) one
    assert "1,000 customers" in json.dumps(view["blocks"]) and len(view["blocks"]) <= 100
    answer = await bot.suggest(blocks.CUSTOMERS_ACTION, "", view=view)
    assert len(option_values(answer)) == 100
    narrowed = await bot.suggest(blocks.CUSTOMERS_ACTION, "customer 00099", view=view)
    assert option_values(narrowed) == [blocks.pair_value(UK_TENANT, "cuk-00099")]
    assert all(len(o["text"]["text"]) <= 75 for g in answer["option_groups"] for o in g["options"])


async def test_second_listing_asks_only_for_changes_and_still_shows_unchanged_customers(bot, xero):
    fake = await ready(bot, xero)
    await open_import(bot, "import customers")
    assert all(s.if_modified_since is None for s in listings(fake))
    fake.change(UK_TENANT, {**BETA, "Name": "Beta AG"})
    fake.change(UK_TENANT, contact(3, "Gamma Co", tenant="uk"))
    fake.calls.clear()
    bot.slack.calls.clear()
    _, view = await open_import(bot, "import customers")
    assert listings(fake) and all(s.if_modified_since for s in listings(fake))
    names = [o["text"]["text"] for g in (await bot.suggest(blocks.CUSTOMERS_ACTION, "", view=view))["option_groups"]
             for o in g["options"]]
    assert names == ["Acme Ltd", "Beta AG", "Gamma Co", "Globex Inc"]


async def test_organisations_are_read_at_the_same_time(bot, xero):
    fake = await ready(bot, xero)
    arrived = {UK_TENANT: asyncio.Event(), US_TENANT: asyncio.Event()}

    async def wait_for_the_other(sent):
        arrived[sent.tenant].set()
        other = US_TENANT if sent.tenant == UK_TENANT else UK_TENANT
        await asyncio.wait_for(arrived[other].wait(), 2)  # read one after the other, this times out

    fake.before = wait_for_the_other
    _, view = await open_import(bot, "import customers")
    assert "unavailable" not in json.dumps(view["blocks"])


async def test_a_revoked_organisation_is_marked_unavailable_and_the_others_still_show(bot, xero):
    fake = await ready(bot, xero)
    refuse_tenant(fake, US_TENANT, 403)
    _, view = await open_import(bot, "import customers")
    text = json.dumps(view["blocks"])
    assert "Demo Company (US)* is unavailable" in text and "/xero connect" in text
    assert "Demo Company (UK)*: 2 customers" in text
    answer = await bot.suggest(blocks.CUSTOMERS_ACTION, "", view=view)
    assert [g["label"]["text"] for g in answer["option_groups"]] == ["Demo Company (UK)"]


async def test_an_organisation_failing_after_retries_is_marked_unavailable(bot, xero):
    fake = await ready(bot, xero)  # the harness's Xero client records its waits instead of waiting
    refuse_tenant(fake, UK_TENANT, 503)
    _, view = await open_import(bot, "import customers")
    text = json.dumps(view["blocks"])
    assert "Demo Company (UK)* is unavailable" in text and "gave up after 4 attempts" in text
    assert "Demo Company (US)*: 1 customer" in text
    assert len(bot.xero_sleeps) == 3
    assert len([s for s in fake.calls if s.tenant == UK_TENANT]) == 4


async def test_requests_to_xero_match_the_official_accounting_spec(bot, xero):
    fake = await ready(bot, xero)
    await open_import(bot, "import customers")
    bot.slack.calls.clear()
    await open_import(bot, "import customers")  # the second one sends If-Modified-Since
    assert any(s.if_modified_since for s in listings(fake))
    for sent in listings(fake):
        validate_xero_accounting_request("GET", sent.url, sent.headers)


# Importing -------------------------------------------------------------------------------------


async def test_import_creates_a_forecast_client_from_the_contact_and_links_it(bot, xero):
    await ready(bot, xero)
    _, view = await open_import(bot, "import customers")
    forecast = forecast_clients(xero)
    answer = await submit_and_wait(bot, view, pick((UK_TENANT, ACME["ContactID"])))
    assert created(forecast) == [{"name": "Acme Ltd", "street": "1 High Street, Unit 4", "zip": "EC1A 1AA",
                                  "city": "London", "country": "United Kingdom", "vat_number": "GB123456789"}]
    assert forecast.sent("POST", "/clients")[0].headers["X-FORECAST-API-KEY"] == FORECAST_KEY
    link = await bot.container.links.by_xero_id("T0TEST", "client", UK_TENANT, ACME["ContactID"])
    [made] = forecast.clients()
    assert link is not None and link.forecast_id == str(made["id"])
    assert "1 created, 0 linked, 0 skipped, 0 failed" in answer["text"]
    assert answer["channel"] == "C0GENERAL" and answer["user"] == "U0ADMIN"


async def test_a_forecast_client_with_the_same_name_is_linked_not_duplicated(bot, xero):
    await ready(bot, xero)
    _, view = await open_import(bot, "import customers")
    forecast = forecast_clients(xero, [{"id": 7, "name": "ACME LTD"}])
    answer = await submit_and_wait(bot, view, pick((UK_TENANT, ACME["ContactID"])))
    assert created(forecast) == []
    assert (await bot.container.links.by_xero_id("T0TEST", "client", UK_TENANT, ACME["ContactID"])).forecast_id == "7"
    assert "0 created, 1 linked" in answer["text"]


async def test_the_same_name_in_two_organisations_becomes_one_forecast_client(bot, xero):
    us_acme = {**contact(5, "Acme Ltd", tenant="us")}
    await ready(bot, xero, us=(us_acme,))
    _, view = await open_import(bot, "import customers")
    forecast = forecast_clients(xero)
    answer = await submit_and_wait(bot, view, pick((UK_TENANT, ACME["ContactID"]), (US_TENANT, us_acme["ContactID"])))
    assert len(created(forecast)) == 1 and "1 created, 1 linked" in answer["text"]
    uk = await bot.container.links.by_xero_id("T0TEST", "client", UK_TENANT, ACME["ContactID"])
    us = await bot.container.links.by_xero_id("T0TEST", "client", US_TENANT, us_acme["ContactID"])
    [made] = forecast.clients()
    assert uk.forecast_id == us.forecast_id == str(made["id"])


async def test_a_linked_contact_is_shown_as_such_and_not_imported_twice(bot, xero):
    await ready(bot, xero)
    await bot.container.links.link("T0TEST", "client", 7, UK_TENANT, xero_id=ACME["ContactID"],
                                   details={"forecast_client_name": "Acme Ltd"})
    _, view = await open_import(bot, "import customers")
    assert "1 already linked" in json.dumps(view["blocks"])
    found = await bot.suggest(blocks.CUSTOMERS_ACTION, "acme", view=view)
    labels = [o["text"]["text"] for g in found["option_groups"] for o in g["options"]]
    assert labels == ["Acme Ltd (already linked)"]
    forecast = forecast_clients(xero)
    answer = await submit_and_wait(bot, view, pick((UK_TENANT, ACME["ContactID"])))
    assert created(forecast) == [] and "0 created, 0 linked, 1 skipped" in answer["text"]
    assert "already linked to Forecast client Acme Ltd" in json.dumps(answer["blocks"])


async def test_two_submits_at_once_create_one_client(bot, xero):
    await ready(bot, xero)
    _, view = await open_import(bot, "import customers")
    release = asyncio.Event()
    first_arrived = asyncio.Event()

    async def slow_create(call):
        if call.method == "POST":
            first_arrived.set()
            await asyncio.wait_for(release.wait(), 5)

    forecast = forecast_clients(xero)
    forecast.before = slow_create
    values = pick((UK_TENANT, ACME["ContactID"]))
    await bot.submit(view, values=values)
    await asyncio.wait_for(first_arrived.wait(), 5)
    await bot.submit(view, values=values)
    second = await bot.slack.wait_for("chat.postEphemeral")
    assert "1 skipped" in second["text"] and "another import" in json.dumps(second["blocks"])
    release.set()
    first = await bot.slack.wait_for("chat.postEphemeral", lambda c: "1 created" in c["text"])
    assert first and len(created(forecast)) == 1


async def test_a_claim_left_by_a_process_that_died_mid_import_expires(bot, xero):
    await ready(bot, xero)
    _, view = await open_import(bot, "import customers")
    forecast = forecast_clients(xero)
    claim = {"team_id": "T0TEST", "kind": "client", "forecast_id": f"contact:{ACME['ContactID']}",
             "tenant_id": UK_TENANT, "status": "pending", "linked_by": "U0GONE", "details": {}}
    await bot.storage.links.insert_one({**claim, "linked_at": in_seconds(-30), "claim_until": in_seconds(90)})
    blocked = await submit_and_wait(bot, view, pick((UK_TENANT, ACME["ContactID"])))
    assert "another import" in json.dumps(blocked["blocks"]) and created(forecast) == []  # while its claim lasts
    await bot.storage.links.update_one({"forecast_id": claim["forecast_id"]},
                                       {"$set": {"claim_until": in_seconds(-1)}})  # the two minutes are over
    answer = await submit_and_wait(bot, view, pick((UK_TENANT, ACME["ContactID"])))
    assert "1 created" in answer["text"] and len(created(forecast)) == 1


async def test_a_selection_of_zero_customers_gets_an_inline_error(bot, xero):
    await ready(bot, xero)
    _, view = await open_import(bot, "import customers")
    response = await bot.submit(view, values={blocks.CUSTOMERS_BLOCK: {blocks.CUSTOMERS_ACTION: {
        "type": "multi_external_select", "selected_options": []}}})
    answer = await response.json()
    assert answer == {"response_action": "errors",
                      "errors": {blocks.CUSTOMERS_BLOCK: "Pick at least one customer to import."}}


async def test_a_contact_with_no_name_fails_with_a_reason(bot, xero):
    nameless = contact(9, "  ", tenant="uk")
    await ready(bot, xero, uk=(ACME, nameless))
    _, view = await open_import(bot, "import customers")
    forecast = forecast_clients(xero)
    answer = await submit_and_wait(bot, view, pick((UK_TENANT, nameless["ContactID"]), (UK_TENANT, ACME["ContactID"])))
    assert [b["name"] for b in created(forecast)] == ["Acme Ltd"]
    assert "1 created, 0 linked, 0 skipped, 1 failed" in answer["text"]
    assert "a contact with no name" in json.dumps(answer["blocks"])


async def test_forecast_rejecting_a_client_is_reported_with_forecasts_words_and_nothing_linked(bot, xero):
    await ready(bot, xero)
    _, view = await open_import(bot, "import customers")
    forecast_clients(xero).fail_next("POST", "/clients", 400, "Client name is too long")
    answer = await submit_and_wait(bot, view, pick((UK_TENANT, ACME["ContactID"])))
    assert "1 failed" in answer["text"] and "Client name is too long" in json.dumps(answer["blocks"])
    assert await bot.container.links.by_xero_id("T0TEST", "client", UK_TENANT, ACME["ContactID"]) is None
    assert await bot.storage.links.count_documents({}) == 0  # the claim was released too


async def test_only_the_one_organisation_when_one_is_connected(bot, xero):
    await ready(bot, xero, tenants=(UK,))
    _, view = await open_import(bot, "import customers")
    assert "Demo Company (US)" not in json.dumps(view["blocks"])


async def test_a_member_submitting_the_modal_imports_nothing(bot, xero):
    await ready(bot, xero)
    _, view = await open_import(bot, "import customers")
    forecast = forecast_clients(xero)
    response = await bot.submit(view, user="U0MEMBER", values=pick((UK_TENANT, ACME["ContactID"])))
    assert response.status == 200
    answer = await bot.slack.wait_for("chat.postEphemeral")
    assert answer["user"] == "U0MEMBER" and "Only admins" in json.dumps(answer["blocks"])
    assert created(forecast) == [] and await bot.storage.links.count_documents({}) == 0
