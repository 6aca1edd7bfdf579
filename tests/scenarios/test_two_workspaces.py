"""Two workspaces on one deployment: each its own organisations, neither sees or touches the other's."""

from __future__ import annotations

import pytest

from services.sync.engine import SYNC_JOB
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

    acme = str((await app.ask("list", team=ACME, user=ADMIN)).args)
    globex = str((await app.ask("list", team=GLOBEX, user=ADMIN)).args)

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
    assert "Demo Company (UK)" in str((await app.ask("list", team=GLOBEX, user=ADMIN)).args)
    assert "Demo Company (UK)" not in str((await app.ask("list", team=ACME, user=ADMIN)).args)


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
