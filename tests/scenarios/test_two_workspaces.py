"""Two workspaces on one deployment: each its own organisations, neither sees or touches the other's."""

from __future__ import annotations

import pytest

from services.sync.engine import SYNC_JOB
from tests.support.export_flow import text_of
from tests.support.harness import stop_harness
from tests.support.installs import install, start_distributed
from tests.support.sync_flow import WEBHOOK_KEY, delivery, event, post_webhook
from tests.support.xero_identity import UK, UK_TENANT, US, connect_organisations

ADMIN = "U0LISTED"  # in BOT_ADMINS: an admin without asking Slack
ACME, GLOBEX = "T0ACME", "T0GLOBEX"


@pytest.fixture
async def app(storage):
    harness = await start_distributed(storage, xero_webhook_key=WEBHOOK_KEY)
    await install(harness, ACME, team_name="Acme", user=ADMIN)
    await install(harness, GLOBEX, team_name="Globex Finance", user=ADMIN)
    yield harness
    await stop_harness(harness)


async def test_each_workspace_lists_only_its_own_organisations(app, xero):
    await connect_organisations(app, xero, tenants=(UK,), team=ACME, user=ADMIN)
    await connect_organisations(app, xero, tenants=(US,), team=GLOBEX, user=ADMIN)

    acme = text_of(await app.ask("list", team=ACME, user=ADMIN))
    globex = text_of(await app.ask("list", team=GLOBEX, user=ADMIN))

    assert "Demo Company (UK)" in acme and "Demo Company (US)" not in acme
    assert "Demo Company (US)" in globex and "Demo Company (UK)" not in globex


async def test_the_same_organisation_from_two_workspaces_is_two_connections(app, storage, xero):
    await connect_organisations(app, xero, tenants=(UK,), team=ACME, user=ADMIN)
    await connect_organisations(app, xero, tenants=(UK,), team=GLOBEX, user=ADMIN)

    acme = await storage.tenants.find_one({"team_id": ACME, "tenant_id": UK_TENANT})
    globex = await storage.tenants.find_one({"team_id": GLOBEX, "tenant_id": UK_TENANT})

    assert acme["token_set_id"] != globex["token_set_id"]
    assert await storage.token_sets.count_documents({}) == 2


async def test_removing_an_organisation_in_one_workspace_leaves_the_other_connected(app, storage, xero):
    await connect_organisations(app, xero, tenants=(UK,), team=ACME, user=ADMIN)
    await connect_organisations(app, xero, tenants=(UK,), team=GLOBEX, user=ADMIN)

    await app.container.connections.remove(ACME, UK_TENANT, removed_by=ADMIN)

    globex = await storage.tenants.find_one({"team_id": GLOBEX, "tenant_id": UK_TENANT})
    assert globex["status"] == "connected"
    assert await storage.token_sets.count_documents({"team_id": GLOBEX}) == 1
    assert "Demo Company (UK)" in text_of(await app.ask("list", team=GLOBEX, user=ADMIN))
    assert "Demo Company (UK)" not in text_of(await app.ask("list", team=ACME, user=ADMIN))


async def test_a_xero_webhook_reaches_every_workspace_connected_to_the_organisation(app, storage, xero):
    await connect_organisations(app, xero, tenants=(UK,), team=ACME, user=ADMIN)
    await connect_organisations(app, xero, tenants=(UK,), team=GLOBEX, user=ADMIN)
    contact = "c0000000-0000-4000-8000-000000000001"
    for team in (ACME, GLOBEX):
        await app.container.links.link(team, "client", 7, UK_TENANT, xero_id=contact)

    response = await post_webhook(app, delivery([event(contact, UK_TENANT, category="CONTACT")]))

    assert response.status == 200
    teams = {doc["team_id"] async for doc in storage.xero_events.find({})}
    assert teams == {ACME, GLOBEX}
    queued = {doc["payload"]["team_id"] async for doc in storage.jobs.find({"kind": SYNC_JOB})}
    assert queued == {ACME, GLOBEX}


async def test_a_webhook_for_one_workspaces_link_does_not_reach_the_other(app, storage, xero):
    await connect_organisations(app, xero, tenants=(UK,), team=ACME, user=ADMIN)
    await connect_organisations(app, xero, tenants=(UK,), team=GLOBEX, user=ADMIN)
    contact = "c0000000-0000-4000-8000-000000000002"
    await app.container.links.link(ACME, "client", 7, UK_TENANT, xero_id=contact)

    await post_webhook(app, delivery([event(contact, UK_TENANT, category="CONTACT")]))

    assert {doc["team_id"] async for doc in storage.xero_events.find({})} == {ACME}


async def test_two_workspaces_each_export_to_their_own_organisation_with_their_own_token(app, storage, xero):
    from services.shared.settings import SettingsChanges
    from tests.support.export_flow import FORECAST_KEY, US_TAX, final_update, forecast_holding, invoice, job_id_of
    from tests.support.xero_identity import TENANTS, US_TENANT
    from tests.support.xero_standin import connected_books

    for team, organisation in ((ACME, UK), (GLOBEX, US)):
        await connect_organisations(app, xero, tenants=(organisation,), team=team)  # U0ADMIN, asked of Slack
        await app.container.workspace_settings.update(team, SettingsChanges(
            forecast_api_key=FORECAST_KEY, approval_channel="C0APPROVALS", notify_channel="C0ALERTS"),
            updated_by="U0ADMIN")
    # One Forecast company here (one key); each workspace exports its own invoice (US: in dollars).
    forecast_holding(xero, invoices=[invoice(), invoice(id=102, company_invoice_id=102, invoice_reference="INV-102",
                                                        currency="USD", entries=US_TAX)])
    connected_books(xero, TENANTS)

    exported = {}
    for team, reference in ((ACME, "INV-101"), (GLOBEX, "INV-102")):
        await app.ask(f"export {reference}", user="U0MEMBER", team=team)
        approval = await app.slack.wait_for("chat.postMessage", lambda c, team=team: c["channel"] == "C0APPROVALS"
                                            and c.team == team)
        job_id = job_id_of(approval)
        await app.click("export_approve", job_id, user="U0APPROVER", channel="C0APPROVALS", team=team,
                        message=approval.response["message"])
        await final_update(app, job_id, "exported")
        exported[team] = await storage.export_jobs.find_one({"_id": job_id})

    assert exported[ACME]["team_id"] == ACME and exported[ACME]["tenant_id"] == UK_TENANT
    assert exported[GLOBEX]["team_id"] == GLOBEX and exported[GLOBEX]["tenant_id"] == US_TENANT
    for team, job in exported.items():
        updates = [c for c in app.slack.called("chat.update") if c.get("ts") == job["approval_ts"]]
        assert updates and {c.team for c in updates} == {team}  # its messages, with its own token
    assert app.slack.refused == []  # no call went out without a valid token
