"""Admins list and remove connected organisations; removing unlinks, never deletes."""

from __future__ import annotations

import json

import pytest

from tests.support.xero_identity import UK, UK_CONNECTION, UK_TENANT, US_TENANT, connect_organisations, identity_for


async def test_list_shows_each_organisation_with_type_connector_date_and_status(bot, xero):
    await connect_organisations(bot, xero)
    reply = await bot.ask("list", user="U0MEMBER")
    text = json.dumps(reply["blocks"])
    assert "Demo Company (UK)" in text and "Demo Company (US)" in text
    assert "<@U0ADMIN>" in text and "<!date^" in text
    assert "Type" not in text  # "Type: Organisation" meant nothing to a finance admin
    assert "Connected" in text


async def test_list_with_nothing_connected_says_how_to_connect(bot):
    reply = await bot.ask("list")
    assert "/xero connect" in json.dumps(reply["blocks"])


async def test_list_shows_when_a_connection_needs_reconnecting(bot, xero):
    await connect_organisations(bot, xero, tenants=(UK,))
    tenant = await bot.storage.tenants.find_one({"tenant_id": UK_TENANT})
    await bot.container.tokens.mark_needs_reconnect(tenant["token_set_id"])  # as when Xero refuses the refresh
    reply = await bot.ask("list")
    assert "Needs reconnect" in json.dumps(reply["blocks"])


async def test_remove_offers_a_danger_button_per_organisation(bot, xero):
    await connect_organisations(bot, xero)
    reply = await bot.ask("remove")
    buttons = [b["accessory"] for b in reply["blocks"] if b.get("accessory")]
    assert {b["value"] for b in buttons} == {UK_TENANT, US_TENANT}
    assert all(b["style"] == "danger" for b in buttons)


async def test_members_cannot_remove(bot, xero):
    await connect_organisations(bot, xero)
    reply = await bot.ask("remove Demo Company (UK)", user="U0MEMBER")
    assert "Only admins" in json.dumps(reply["blocks"])
    assert bot.slack.called("views.open") == []


async def seed_links(bot, tenant_id: str) -> None:
    for kind, n in (("invoice", 3), ("purchase_order", 1), ("client", 2)):
        for i in range(n):
            await bot.storage.links.insert_one({"team_id": "T0TEST", "kind": kind, "forecast_id": f"{kind}-{i}",
                                                "tenant_id": tenant_id, "xero_id": f"x-{i}", "status": "linked"})


async def open_modal_by_button(bot) -> dict:
    await bot.click("remove_tenant_open", UK_TENANT)
    call = await bot.slack.wait_for("views.open")
    assert call["trigger_id"].startswith("trigger-")
    return call["view"]


async def test_remove_button_opens_a_modal_warning_what_gets_unlinked(bot, xero):
    await connect_organisations(bot, xero)
    await seed_links(bot, UK_TENANT)
    view = await open_modal_by_button(bot)
    text = json.dumps(view["blocks"])
    assert "Demo Company (UK)" in text
    assert "3 invoices" in text and "1 purchase order," in text and "2 clients" in text
    assert view["submit"]["text"] == "Remove"


async def test_remove_by_name_goes_straight_to_the_modal(bot, xero):
    await connect_organisations(bot, xero)
    await bot.command("remove demo company (us)")
    call = await bot.slack.wait_for("views.open")
    assert json.loads(call["view"]["private_metadata"])["tenant_id"] == US_TENANT


async def test_remove_by_an_unknown_name_says_how_to_find_names(bot, xero):
    await connect_organisations(bot, xero)
    reply = await bot.ask("remove Wayne Enterprises")
    assert "/xero list" in json.dumps(reply["blocks"])


async def test_remove_by_an_ambiguous_name_lists_the_candidates(bot, xero):
    await connect_organisations(bot, xero)
    reply = await bot.ask("remove demo")
    text = json.dumps(reply["blocks"])
    assert "More than one" in text and "Demo Company (UK)" in text and "Demo Company (US)" in text


async def test_confirming_disconnects_at_xero_unlinks_and_confirms(bot, xero):
    await connect_organisations(bot, xero)
    await seed_links(bot, UK_TENANT)
    await seed_links(bot, US_TENANT)
    view = await open_modal_by_button(bot)
    response = await bot.submit(view)
    assert response.status == 200
    confirmation = await bot.slack.wait_for("chat.postEphemeral")
    assert "Demo Company (UK)" in confirmation["text"]
    assert identity_for(xero).sent("DELETE", f"/connections/{UK_CONNECTION}")
    assert UK_CONNECTION not in [c["id"] for c in identity_for(xero).connections()]
    assert await bot.storage.links.count_documents({"tenant_id": UK_TENANT, "status": "unlinked"}) == 6
    assert await bot.storage.links.count_documents({"tenant_id": US_TENANT, "status": "linked"}) == 6
    reply = await bot.ask("list")
    assert "Demo Company (UK)" not in json.dumps(reply["blocks"])


async def test_a_404_from_xero_still_removes_the_organisation_here(bot, xero):
    await connect_organisations(bot, xero, tenants=(UK,))
    view = await open_modal_by_button(bot)
    identity_for(xero).disconnect(UK)  # already removed at Xero: the DELETE answers 404
    await bot.submit(view)
    await bot.slack.wait_for("chat.postEphemeral")
    tenant = await bot.storage.tenants.find_one({"tenant_id": UK_TENANT})
    assert tenant["status"] == "removed"


async def test_xero_failing_during_remove_changes_nothing_and_says_so(bot, xero):
    await connect_organisations(bot, xero, tenants=(UK,))
    await seed_links(bot, UK_TENANT)
    view = await open_modal_by_button(bot)
    identity_for(xero).fail_next("DELETE", f"/connections/{UK_CONNECTION}", 503)
    await bot.submit(view)
    message = await bot.slack.wait_for("chat.postEphemeral")
    assert "Nothing was changed" in json.dumps(message["blocks"])
    assert (await bot.storage.tenants.find_one({"tenant_id": UK_TENANT}))["status"] == "connected"
    assert await bot.storage.links.count_documents({"status": "linked"}) == 6


async def test_removed_organisation_can_be_connected_again(bot, xero):
    await connect_organisations(bot, xero, tenants=(UK,))
    view = await open_modal_by_button(bot)
    await bot.submit(view)
    await bot.slack.wait_for("chat.postEphemeral")
    await connect_organisations(bot, xero, tenants=(UK,))
    tenants = [t async for t in bot.storage.tenants.find({"tenant_id": UK_TENANT})]
    assert len(tenants) == 1 and tenants[0]["status"] == "connected"


async def test_an_organisation_xero_refuses_shows_as_needing_reconnect(bot, xero):
    from services.xero.client import TenantAuth
    from services.xero.errors import XeroAuthError
    from tests.support.harness import XERO_API

    await connect_organisations(bot, xero)
    tenant = await bot.container.connections.get_tenant("T0TEST", UK_TENANT)
    xero.get(f"{XERO_API}/api.xro/2.0/Currencies", status=403,
             payload={"Title": "Forbidden", "Detail": "AuthorizationUnsuccessful"})
    with pytest.raises(XeroAuthError):
        await bot.container.xero.get_currencies(TenantAuth(UK_TENANT, tenant.token_set_id))
    reply = await bot.ask("list")
    blocks = json.dumps(reply["blocks"])
    uk_part, us_part = blocks.split("Demo Company (US)")  # sorted by name: UK first
    assert "Needs reconnect" in uk_part.split("Demo Company (UK)")[1] and "Needs reconnect" not in us_part
