"""Uninstall and revoke: app_uninstalled and tokens_revoked, in either order, through the real routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.bot_process import eventually
from tests.support.export_flow import text_of
from tests.support.harness import stop_harness
from tests.support.installs import install, start_distributed
from tests.support.xero_identity import UK, UK_TENANT, connect_organisations, identity_for

ADMIN = "U0LISTED"  # in BOT_ADMINS: an admin without asking Slack


@pytest.fixture
async def app(storage):
    harness = await start_distributed(storage)
    yield harness
    await stop_harness(harness)


async def uninstalled(app, team: str = "T0ACME"):
    app.slack.uninstall(team)
    await app.event({"type": "app_uninstalled"}, team=team)
    await handled(app, team)


async def revoked(app, team: str = "T0ACME"):
    app.slack.uninstall(team)
    await app.event({"type": "tokens_revoked", "tokens": {"oauth": ["U0LISTED"], "bot": ["B0BOT"]}}, team=team)
    await handled(app, team)


async def handled(app, team: str):
    """Slack has its 200 at once; the uninstall runs after it: wait until it has been marked."""
    async def marked():
        return await app.storage.slack_uninstalls.count_documents({"team_id": team}) == 1

    await eventually(marked, timeout=10)


async def acme_connected(app, xero):
    await install(app, "T0ACME", team_name="Acme", user=ADMIN)
    await connect_organisations(app, xero, tenants=(UK,), team="T0ACME", user=ADMIN)
    await app.container.jobs.enqueue("xero.sync", {"team_id": "T0ACME", "tenant_id": UK_TENANT}, delay=3600)


async def assert_offboarded(app, storage, xero, team: str = "T0ACME"):
    assert await storage.slack_bots.count_documents({"team_id": team}) == 0
    assert await storage.slack_installations.count_documents({"team_id": team}) == 0
    assert await storage.token_sets.count_documents({"team_id": team}) == 0
    assert len(identity_for(xero).revocations()) == 1  # Xero was told, once
    tenant = await storage.tenants.find_one({"team_id": team, "tenant_id": UK_TENANT})
    assert tenant["status"] == "needs_reconnect"  # kept for a reinstall, no longer synced
    assert await app.container.jobs.count(state="queued") == 0


@pytest.mark.parametrize("events", [(uninstalled, revoked), (revoked, uninstalled)],
                         ids=["uninstalled-then-revoked", "revoked-then-uninstalled"])
async def test_an_uninstall_deletes_slack_tokens_and_revokes_xero_in_either_order(app, storage, xero, events):
    await acme_connected(app, xero)

    for event in events:
        await event(app)

    await assert_offboarded(app, storage, xero)


async def test_one_event_alone_is_enough(app, storage, xero):
    await acme_connected(app, xero)

    await revoked(app)

    await assert_offboarded(app, storage, xero)


async def test_a_revoked_user_token_leaves_the_bot_installed(app, storage, xero):
    await acme_connected(app, xero)

    await app.event({"type": "tokens_revoked", "tokens": {"oauth": ["U0LISTED"], "bot": []}}, team="T0ACME")

    async def user_forgotten():
        return await storage.slack_installations.count_documents({"user_id": "U0LISTED"}) == 0

    await eventually(user_forgotten, timeout=10)
    assert await storage.slack_bots.count_documents({"team_id": "T0ACME"}) == 1
    assert await storage.token_sets.count_documents({"team_id": "T0ACME"}) == 1


async def test_a_reinstall_within_the_retention_period_finds_its_organisations(app, storage, xero):
    await acme_connected(app, xero)
    await uninstalled(app)

    await install(app, "T0ACME", team_name="Acme", user=ADMIN)
    listed = await app.ask("list", team="T0ACME", user=ADMIN)

    assert "Demo Company (UK)" in text_of(listed)
    assert await storage.slack_uninstalls.count_documents({}) == 0
    await app.container.offboarding.sweep()
    assert await storage.tenants.count_documents({"team_id": "T0ACME"}) == 1


async def test_after_the_retention_period_the_workspaces_data_is_deleted(app, storage, xero):
    await acme_connected(app, xero)
    await uninstalled(app)
    long_ago = datetime.now(UTC) - timedelta(days=app.container.settings.data_retention_days + 1)
    await storage.slack_uninstalls.update_one({}, {"$set": {"uninstalled_at": long_ago}})

    assert await app.container.offboarding.sweep() == 1

    assert await storage.tenants.count_documents({"team_id": "T0ACME"}) == 0
    assert await storage.jobs.count_documents({"payload.team_id": "T0ACME"}) == 0
    await install(app, "T0ACME", team_name="Acme", user=ADMIN)
    listed = await app.ask("list", team="T0ACME", user=ADMIN)
    assert "Demo Company (UK)" not in text_of(listed)


async def test_an_uninstall_leaves_another_workspace_connected_to_the_same_organisation(app, storage, xero):
    await acme_connected(app, xero)
    await install(app, "T0GLOBEX", team_name="Globex Finance")
    await connect_organisations(app, xero, tenants=(UK,), team="T0GLOBEX", user=ADMIN)

    await uninstalled(app, "T0ACME")

    globex = await storage.tenants.find_one({"team_id": "T0GLOBEX", "tenant_id": UK_TENANT})
    assert globex["status"] == "connected"
    assert await storage.token_sets.count_documents({"team_id": "T0GLOBEX"}) == 1
    assert await storage.slack_bots.count_documents({"team_id": "T0GLOBEX"}) == 1
    listed = await app.ask("list", team="T0GLOBEX", user=ADMIN)
    assert "Demo Company (UK)" in text_of(listed)


GRID = {"enterprise_id": "E0GRID", "is_enterprise_install": "true"}


async def grid_workspace_connected(app, xero, team: str = "T0INGRID"):
    """An org-wide install of E0GRID; a workspace of the org connects Xero and has a sync queued."""
    await install(app, "T0UNUSED", enterprise_id="E0GRID", org_wide=True, user=ADMIN)
    await connect_organisations(app, xero, tenants=(UK,), team=team, user=ADMIN, **GRID)
    await app.container.jobs.enqueue("xero.sync", {"team_id": team, "tenant_id": UK_TENANT}, delay=3600)


async def org_uninstalled(app):
    app.slack.uninstall("E0GRID")
    await app.event({"type": "app_uninstalled"}, team="T0INGRID", enterprise_id="E0GRID", is_enterprise_install=True)

    async def marked():
        return await app.storage.slack_uninstalls.count_documents({"enterprise_id": "E0GRID", "team_id": ""}) == 1

    await eventually(marked, timeout=10)


async def test_an_org_wide_uninstall_revokes_xero_for_every_workspace_of_the_org(app, storage, xero):
    await grid_workspace_connected(app, xero)
    await install(app, "T0ACME", team_name="Acme", user=ADMIN)  # a workspace outside the org
    await connect_organisations(app, xero, tenants=(UK,), team="T0ACME", user=ADMIN)

    await org_uninstalled(app)

    assert await storage.slack_bots.count_documents({"enterprise_id": "E0GRID"}) == 0
    assert await storage.token_sets.count_documents({"team_id": "T0INGRID"}) == 0
    assert len(identity_for(xero).revocations()) == 1  # the org's workspace's connection, not Acme's
    tenant = await storage.tenants.find_one({"team_id": "T0INGRID", "tenant_id": UK_TENANT})
    assert tenant["status"] == "needs_reconnect"
    assert await storage.jobs.count_documents({"payload.team_id": "T0INGRID", "state": "queued"}) == 0
    acme = await storage.tenants.find_one({"team_id": "T0ACME", "tenant_id": UK_TENANT})
    assert acme["status"] == "connected"
    assert await storage.token_sets.count_documents({"team_id": "T0ACME"}) == 1


async def test_an_org_wide_reinstall_within_the_retention_period_finds_its_workspaces_organisations(
        app, storage, xero):
    await grid_workspace_connected(app, xero)
    await org_uninstalled(app)

    await install(app, "T0UNUSED", enterprise_id="E0GRID", org_wide=True, user=ADMIN)
    listed = await app.ask("list", team="T0INGRID", user=ADMIN, **GRID)

    assert "Demo Company (UK)" in text_of(listed)
    assert await storage.slack_uninstalls.count_documents({}) == 0
    await app.container.offboarding.sweep()
    assert await storage.tenants.count_documents({"team_id": "T0INGRID"}) == 1


async def test_after_the_retention_period_an_org_wide_uninstall_deletes_its_workspaces_data(app, storage, xero):
    await grid_workspace_connected(app, xero)
    await org_uninstalled(app)
    long_ago = datetime.now(UTC) - timedelta(days=app.container.settings.data_retention_days + 1)
    await storage.slack_uninstalls.update_many({}, {"$set": {"uninstalled_at": long_ago}})

    await app.container.offboarding.sweep()

    assert await storage.tenants.count_documents({"team_id": "T0INGRID"}) == 0
