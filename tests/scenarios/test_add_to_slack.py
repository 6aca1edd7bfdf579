"""Add to Slack: the install page, Slack's consent and the way back, through the real routes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from bot.config import DEFAULT_SLACK_SCOPES
from tests.support.export_flow import text_of
from tests.support.harness import stop_harness
from tests.support.installs import (
    REDIRECT_URI,
    come_back,
    install,
    open_install_page,
    start_distributed,
)
from tests.support.paths import ROOT
from tests.support.slack_standin import CLIENT_ID


@pytest.fixture
async def app(storage):
    harness = await start_distributed(storage)
    yield harness
    await stop_harness(harness)


async def test_the_install_page_offers_add_to_slack_with_the_manifests_scopes(app):
    page = await open_install_page(app)

    query = parse_qs(urlparse(page.authorize_url).query)
    assert page.status == 200 and "Add Ledgerline to Slack" in page.html
    assert page.authorize_url.startswith("https://slack.com/oauth/v2/authorize?")
    assert query["client_id"] == [CLIENT_ID] and query["redirect_uri"] == [REDIRECT_URI]
    assert query["scope"] == [DEFAULT_SLACK_SCOPES]
    assert page.cookie == page.state  # the browser that clicked is the one that must come back


def test_the_default_scopes_are_the_manifests():
    import yaml

    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert DEFAULT_SLACK_SCOPES.split(",") == manifest["oauth_config"]["scopes"]["bot"]


async def test_an_install_is_stored_and_the_installer_is_told_how_to_start(app, storage):
    app.slack.grant("code-acme", "T0ACME", team_name="Acme Finance", user="U0ADA")
    page = await open_install_page(app)

    status, html = await come_back(app, {"code": "code-acme", "state": page.state}, cookie=page.cookie)

    assert status == 200 and "Ledgerline is installed in Acme Finance" in html
    bot = await app.container.installations.store.async_find_bot(enterprise_id=None, team_id="T0ACME")
    assert bot is not None and bot.bot_token.startswith("xoxb-T0ACME")
    welcome = await app.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0ADA")
    assert welcome.team == "T0ACME" and "/xero connect" in welcome["text"]


async def test_a_replayed_state_is_refused(app):
    app.slack.grant("code-acme", "T0ACME")
    app.slack.grant("code-again", "T0ACME")
    page = await open_install_page(app)
    await come_back(app, {"code": "code-acme", "state": page.state}, cookie=page.cookie)

    status, html = await come_back(app, {"code": "code-again", "state": page.state}, cookie=page.cookie)

    assert status == 400 and "This install link has expired" in html
    assert "code-again" in app.slack.codes  # never exchanged


async def test_a_state_coming_back_in_another_browser_is_refused(app, storage):
    app.slack.grant("code-acme", "T0ACME")
    page = await open_install_page(app)

    status, html = await come_back(app, {"code": "code-acme", "state": page.state}, cookie=None)

    assert status == 400 and "This install link has expired" in html
    assert await storage.slack_bots.count_documents({}) == 0


async def test_a_made_up_state_is_refused(app, storage):
    app.slack.grant("code-acme", "T0ACME")

    status, _ = await come_back(app, {"code": "code-acme", "state": "forged"}, cookie="forged")

    assert status == 400
    assert await storage.slack_bots.count_documents({}) == 0


async def test_denied_consent_stores_nothing(app, storage):
    page = await open_install_page(app)

    status, html = await come_back(app, {"error": "access_denied", "state": page.state}, cookie=page.cookie)

    assert status == 200 and "Ledgerline was not installed" in html
    assert await storage.slack_bots.count_documents({}) == 0
    assert await storage.slack_installations.count_documents({}) == 0


async def test_a_code_slack_does_not_know_stores_nothing(app, storage):
    page = await open_install_page(app)

    status, html = await come_back(app, {"code": "never-issued", "state": page.state}, cookie=page.cookie)

    assert status == 502 and "did not work" in html
    assert await storage.slack_bots.count_documents({}) == 0


async def test_an_installed_workspace_is_answered_and_one_that_is_not_is_told_so(app):
    await install(app, "T0ACME")

    answered = await app.ask("help", team="T0ACME")
    stranger = await app.ask("help", team="T0NEVER")

    assert "/xero connect" in text_of(answered)
    assert "not installed in this workspace" in text_of(stranger)


async def test_an_enterprise_grid_org_wide_install_serves_its_workspaces(app, storage):
    await install(app, "T0UNUSED", enterprise_id="E0GRID", org_wide=True, user="U0ORGADMIN")

    row = await storage.slack_bots.find_one({})
    answered = await app.ask("help", team="T0INGRID", enterprise_id="E0GRID", is_enterprise_install="true")

    assert (row["enterprise_id"], row["team_id"], row["is_enterprise_install"]) == ("E0GRID", "", True)
    assert "/xero connect" in text_of(answered)


async def test_single_workspace_mode_has_no_install_page_and_uses_its_token(bot):
    """SLACK_BOT_TOKEN and no SLACK_CLIENT_ID: the bot works as it always did, for its one workspace."""
    response = await bot.client.get("/slack/install")

    answered = await bot.ask("help")

    assert response.status == 404
    assert bot.container.installations is None
    assert "/xero connect" in text_of(answered)


async def test_a_rotating_token_is_refreshed_once_when_requests_arrive_together(app, storage):
    import asyncio
    from datetime import UTC, datetime, timedelta

    await install(app, "T0ACME", rotating=True)
    soon = datetime.now(UTC) + timedelta(minutes=1)
    await storage.slack_bots.update_one({}, {"$set": {"bot_token_expires_at": soon}})

    answers = await asyncio.gather(*(app.ask("help", team="T0ACME") for _ in range(4)))

    refreshes = [c for c in app.slack.called("oauth.v2.access") if c.get("grant_type") == "refresh_token"]
    assert len(refreshes) == 1
    assert all("/xero connect" in text_of(answer) for answer in answers)
    bot = await app.container.installations.store.async_find_bot(enterprise_id=None, team_id="T0ACME")
    assert bot.bot_token == refreshes[0].response["access_token"]


async def test_work_for_a_grid_workspace_uses_the_org_wide_token_and_names_the_workspace(app):
    """Jobs and outboxes name only the workspace; the org-wide install still serves it, and methods that
    need to know which workspace (usergroups.list) are told."""
    token = await install(app, "T0UNUSED", enterprise_id="E0GRID", org_wide=True, user="U0ORGADMIN")
    await app.ask("help", team="T0INGRID", enterprise_id="E0GRID", is_enterprise_install="true")

    gateway = app.container.gateway.for_team("T0INGRID")
    await gateway.post("C0GENERAL", {"text": "from a job"})
    await gateway.usergroups()

    posted = await app.slack.wait_for("chat.postMessage", lambda c: c.get("text") == "from a job")
    groups = await app.slack.wait_for("usergroups.list")
    assert posted.token == token and groups.token == token
    assert groups["team_id"] == "T0INGRID"
    assert await app.container.installations.tokens.token_for("T0NOTINGRID", None) is None


async def test_a_refused_code_is_not_logged(app, caplog):
    import logging

    caplog.set_level(logging.INFO)  # what production logs (LOG_LEVEL=INFO)
    page = await open_install_page(app)

    await come_back(app, {"code": "code-that-slack-refuses", "state": page.state}, cookie=page.cookie)

    logged = [(r.name, r.getMessage()) for r in caplog.records if r.name != "aiohttp.access"]  # off in app.py
    assert not [line for line in logged if "code-that-slack-refuses" in line[1]], logged
    assert ("bot.installations", "slack.install_failed") in logged


def test_distributed_mode_needs_the_client_secret_not_a_bot_token():
    from bot.config import Settings

    missing = Settings(_env_file=None, slack_signing_secret="s", slack_client_id="1.2", xero_client_id="x").missing()

    assert "SLACK_CLIENT_SECRET" in missing and "SLACK_BOT_TOKEN" not in missing
