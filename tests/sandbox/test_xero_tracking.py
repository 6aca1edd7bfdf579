"""The Xero stand-in's tracking categories: listed (archived ones only when asked), an option created with the
accounting.settings scope only, archived options refused on invoice lines; every request checked against
Xero's OpenAPI spec."""

from __future__ import annotations

from tests.sandbox.test_xero import API, SCOPE, connected, invoice, make_xero, messages, xero  # noqa: F401

WRITE_SCOPE = SCOPE.replace("accounting.settings.read", "accounting.settings")


def region(body: dict) -> dict:
    return next(c for c in body["TrackingCategories"] if c["Name"] == "Region")


async def test_categories_are_listed_and_an_option_is_created_then_archived(xero):
    await xero.connect(scope=WRITE_SCOPE)
    uk = xero.tenant()
    listed = await (await xero.get("/TrackingCategories", uk)).json()
    assert sorted(c["Name"] for c in listed["TrackingCategories"]) == ["Department", "Region"]
    category_id = region(listed)["TrackingCategoryID"]

    made = await xero.put(f"/TrackingCategories/{category_id}/Options", {"Name": "Acme Ltd"}, uk)
    assert made.status == 200, await made.text()
    option = (await made.json())["Options"][0]
    assert (option["Name"], option["Status"]) == ("Acme Ltd", "ACTIVE")
    twice = await xero.put(f"/TrackingCategories/{category_id}/Options", {"Name": "acme ltd"}, uk)
    assert twice.status == 400 and "must be unique" in (await twice.json())["Message"]

    archived = await xero.client.post(f"{API}/TrackingCategories/{category_id}/Options/{option['TrackingOptionID']}",
                                      json={"Name": "Acme Ltd", "Status": "ARCHIVED"}, headers=xero.headers(uk))
    assert archived.status == 200, await archived.text()
    active = region(await (await xero.get("/TrackingCategories", uk)).json())
    assert "Acme Ltd" not in [o["Name"] for o in active["Options"]]
    everything = region(await (await xero.get("/TrackingCategories", uk, params={"includeArchived": "true"})).json())
    assert {o["Name"]: o["Status"] for o in everything["Options"]}["Acme Ltd"] == "ARCHIVED"

    line = {**invoice()["LineItems"][0], "Tracking": [{"Name": "Region", "Option": "Acme Ltd"}]}
    refused = await xero.put("/Invoices", {"Invoices": [invoice(LineItems=[line])]}, uk)
    assert refused.status == 400 and any("archived" in m for m in messages(await refused.json()))
    line["Tracking"] = [{"Name": "Region", "Option": "North"}]
    taken = await xero.put("/Invoices", {"Invoices": [invoice(LineItems=[line])]}, uk)
    assert taken.status == 200, await taken.text()
    stored = (await taken.json())["Invoices"][0]["LineItems"][0]["Tracking"]
    assert [(t["Name"], t["Option"]) for t in stored] == [("Region", "North")]


async def test_creating_an_option_needs_the_settings_scope_not_read_only(connected):
    uk = connected.tenant()
    category_id = region(await (await connected.get("/TrackingCategories", uk)).json())["TrackingCategoryID"]
    refused = await connected.put(f"/TrackingCategories/{category_id}/Options", {"Name": "East"}, uk)
    assert refused.status == 403
