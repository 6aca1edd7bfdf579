"""Tracking categories: each exported line carries the organisation's chosen category and option (by client,
by project, or fixed); a missing option is created in Xero once, or the check says why it cannot be; an
option archived between approval and export stops the export with Xero's state in words."""

from __future__ import annotations

import json

from services.shared.settings import OrganisationDefaults, SettingsChanges, TrackingChoice
from tests.support.export_flow import (
    CLIENT,
    click,
    final_update,
    forecast_holding,
    invoice,
    job,
    job_id_of,
    prepare,
    request,
    text_of,
)
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import UK_TENANT


async def track(bot, books, by: str, option: str | None = None, category: str = "Region") -> None:
    found = books.tracking_category(UK_TENANT, category)
    choice = TrackingChoice(category_id=found["TrackingCategoryID"], category_name=category, by=by,
                            option_name=option)
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(
        organisation_defaults={UK_TENANT: OrganisationDefaults(tracking=choice)}), updated_by="U0ADMIN")


def option_names(books, category: str = "Region") -> list[str]:
    return [o["Name"] for o in books.tracking_category(UK_TENANT, category)["Options"]]


def sent_tracking(books) -> list:
    [sent] = books.bodies("PUT", "Invoices")
    return [line.get("Tracking") for line in sent["Invoices"][0]["LineItems"]]


async def test_lines_carry_the_clients_option_which_is_created_in_xero_once(bot, xero):
    books = await prepare(bot, xero)
    await track(bot, books, "client")
    _, approval = await request(bot)
    assert "tracked as Region: Acme Ltd (a new option, created in Xero when exported)" in text_of(approval)
    assert books.sent("PUT", "TrackingCategories") == []  # nothing is created before anyone approves

    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    assert option_names(books) == ["North", "South", "Acme Ltd"]
    assert sent_tracking(books) == [[{"Name": "Region", "Option": "Acme Ltd"}]] * 2
    stored = books.invoices(UK_TENANT)[-1]["LineItems"][0]["Tracking"]
    assert [(t["Name"], t["Option"]) for t in stored] == [("Region", "Acme Ltd")]
    assert len(books.sent("PUT", "TrackingCategories")) == 1


async def test_an_option_archived_between_approval_and_export_stops_it_and_says_so(bot, xero):
    books = await prepare(bot, xero)
    await track(bot, books, "fixed", "North")
    _, approval = await request(bot)
    job_id = job_id_of(approval)
    assert "tracked as Region: North" in text_of(approval) and "new option" not in text_of(approval)

    books.archive_option(UK_TENANT, "Region", "North")  # in Xero, after the request was checked
    await click(bot, "export_approve", job_id)
    failed = await final_update(bot, job_id, "failed")
    said = text_of(failed)
    assert "the tracking option North is archived in Region in Xero" in said
    assert books.sent("PUT", "Invoices") == []  # nothing was sent to Xero
    assert (await job(bot, job_id))["error_data"]["check"] == "tracking_unusable"


async def test_a_connection_without_the_settings_scope_cannot_create_an_option_and_the_check_says_so(bot, xero):
    books = await prepare(bot, xero)
    await bot.storage.token_sets.update_many({}, {"$set": {
        "scope": "openid offline_access accounting.invoices accounting.contacts accounting.settings.read"}})
    await track(bot, books, "client")
    _, approval = await request(bot)
    said = text_of(approval)
    assert "Region has no option Acme Ltd, and I can't create one" in said and "accounting.settings" in said
    assert (await job(bot, job_id_of(approval)))["check"] == "tracking_unusable"
    assert books.sent("PUT", "TrackingCategories") == []


async def test_by_project_the_option_is_the_forecast_projects_name_and_categories_are_read_once(bot, xero):
    books = await prepare(bot, xero, forecast=False)
    forecast = forecast_holding(xero, invoices=[invoice(project_id=12), invoice(id=102, invoice_reference="INV-102",
                                                                               project_id=12)],
                                clients=[CLIENT])
    forecast.holding(projects=[{"id": 12, "name": "South", "client": 7}])
    await track(bot, books, "project")
    _, first = await request(bot)
    assert "tracked as Region: South" in text_of(first)
    await bot.ask("export INV-102")
    await bot.slack.wait_for("chat.postMessage", lambda c: "INV-102" in json.dumps(c.get("blocks")))
    assert len(books.sent("GET", "TrackingCategories")) == 1  # cached with accounts and tax rates
    await click(bot, "export_approve", job_id_of(first))
    await final_update(bot, job_id_of(first), "exported")
    assert sent_tracking(books) == [[{"Name": "Region", "Option": "South"}]] * 2


async def test_an_admin_picks_the_category_in_settings_and_waiting_approvals_are_redrawn_with_it(bot, xero):
    from tests.scenarios.settings.test_per_org import ACCOUNT, TAX, filled_modal, form, picked, saved_confirmation

    books = await prepare(bot, xero)
    _, approval = await request(bot)
    assert "tracked as" not in text_of(approval)
    region = books.tracking_category(UK_TENANT, "Region")["TrackingCategoryID"]
    view = await filled_modal(bot)
    picker = f"tracking|{UK_TENANT}"
    offered = next(b for b in view["blocks"] if b.get("block_id") == picker)["element"]["options"]
    labels = [o["text"]["text"] for o in offered]
    assert labels[:4] == ["No tracking category", "Region: the Forecast project's name", "Region: the client's name",
                          "Region: always North"] and "Department: always Design" in labels

    response = await bot.submit(view, values=form(**{ACCOUNT: picked("default"), TAX: picked("default"),
                                                     picker: picked(f"{region}|client")}))
    assert "errors" not in await response.text()
    confirmation = await saved_confirmation(bot)
    assert "tracking Region: the client's name" in json.dumps(confirmation["blocks"])
    saved = (await bot.container.workspace_settings.get(TEAM_ID)).tracking_for(UK_TENANT)
    assert (saved.category_name, saved.by) == ("Region", "client")
    redrawn = await bot.slack.wait_for("chat.update", lambda c: c.get("ts") == approval_ts(approval)
                                       and "tracked as Region: Acme Ltd" in text_of(c))
    assert "created in Xero when exported" in text_of(redrawn)


async def test_a_tracking_option_the_organisation_does_not_offer_is_refused_in_the_form(bot, xero):
    from tests.scenarios.settings.test_per_org import ACCOUNT, TAX, filled_modal, form, picked

    books = await prepare(bot, xero)
    region = books.tracking_category(UK_TENANT, "Region")["TrackingCategoryID"]
    view = await filled_modal(bot)
    response = await bot.submit(view, values=form(**{ACCOUNT: picked("default"), TAX: picked("default"),
                                                     f"tracking|{UK_TENANT}": picked(f"{region}|fixed|nope")}))
    answer = await response.json()
    assert "no longer active" in answer["errors"][f"tracking|{UK_TENANT}"]
    assert (await bot.container.workspace_settings.get(TEAM_ID)).tracking_for(UK_TENANT) is None


def approval_ts(approval) -> str:
    return approval.response["ts"]


async def test_a_batch_creates_a_missing_option_once_and_every_invoice_carries_it(bot, xero):
    from tests.scenarios.exports.test_batch_flow import batch_id_of, batch_message, batch_shows

    books = await prepare(bot, xero, invoices=[invoice(), invoice(id=102, invoice_reference="INV-102")])
    await track(bot, books, "client")
    await bot.command("export INV-101 INV-102", user="U0MEMBER")
    message = await batch_message(bot)
    assert text_of(message).count("tracked as Region: Acme Ltd (a new option") == 2
    await bot.click("batch_approve_all", batch_id_of(message), user="U0APPROVER", channel="C0APPROVALS")
    await batch_shows(bot, message, "INV-102")
    await bot.slack.wait_for("chat.update", lambda c: len(books.invoices(UK_TENANT)) == 2, 15)
    [sent] = books.bodies("PUT", "Invoices")
    assert {json.dumps(line["Tracking"]) for i in sent["Invoices"] for line in i["LineItems"]} == {
        json.dumps([{"Name": "Region", "Option": "Acme Ltd"}])}
    assert len(books.sent("PUT", "TrackingCategories")) == 1 and option_names(books).count("Acme Ltd") == 1
