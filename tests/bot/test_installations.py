"""The MongoDB installation and state stores behave like slack_sdk's own (sqlite3/sqlalchemy) stores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.oauth.installation_store.models.installation import Installation

from bot.installations import MongoInstallationStore, MongoOAuthStateStore, WorkspaceTokens
from services.installations.store import InstallationRecords, InstallStates, RefreshedToken, RefreshRefused
from services.platform.crypto import SecretBox, generate_key

CLIENT_ID = "111.222"


def installation(team: str = "T0ACME", *, user: str = "U0ADA", token: str = "xoxb-acme-1",
                 enterprise: str | None = None, org_wide: bool = False, at: float | None = None,
                 refresh: str | None = None, expires_in: int | None = None) -> Installation:
    return Installation(app_id="A0LEDGER", enterprise_id=enterprise, team_id=None if org_wide else team,
                        team_name="Acme", bot_token=token, bot_id="B0BOT", bot_user_id="U0BOT",
                        bot_scopes="commands,chat:write", bot_refresh_token=refresh, bot_token_expires_in=expires_in,
                        user_id=user, user_token=f"xoxp-{user}", is_enterprise_install=org_wide, installed_at=at)


@pytest.fixture
def box():
    return SecretBox(generate_key())


@pytest.fixture
def store(storage, box):
    return MongoInstallationStore(InstallationRecords(storage, box), CLIENT_ID)


async def test_an_installation_is_found_again_with_its_tokens(store):
    await store.async_save(installation())

    found = await store.async_find_installation(enterprise_id=None, team_id="T0ACME")
    bot = await store.async_find_bot(enterprise_id=None, team_id="T0ACME")

    assert found is not None and found.bot_token == "xoxb-acme-1" and found.user_token == "xoxp-U0ADA"
    assert found.user_id == "U0ADA" and found.team_id == "T0ACME" and found.bot_scopes == ["commands", "chat:write"]
    assert bot is not None and bot.bot_token == "xoxb-acme-1" and bot.bot_user_id == "U0BOT"
    assert bot.is_enterprise_install is False
    assert await store.async_find_bot(enterprise_id=None, team_id="T0GLOBEX") is None


async def test_tokens_are_encrypted_at_rest(storage, store):
    await store.async_save(installation(token="xoxb-secret-value"))

    for collection in (storage.slack_installations, storage.slack_bots):
        raw = str(await collection.find_one({}))
        assert "xoxb-secret-value" not in raw and "xoxp-U0ADA" not in raw


async def test_history_is_kept_and_the_latest_install_wins(storage, store):
    await store.async_save(installation(user="U0ADA", token="xoxb-old", at=1_700_000_000.0))
    await store.async_save(installation(user="U0MAX", token="xoxb-new", at=1_700_000_100.0))

    latest = await store.async_find_installation(enterprise_id=None, team_id="T0ACME")
    ada = await store.async_find_installation(enterprise_id=None, team_id="T0ACME", user_id="U0ADA")
    bot = await store.async_find_bot(enterprise_id=None, team_id="T0ACME")

    assert latest is not None and latest.user_id == "U0MAX"
    assert ada is not None and ada.user_token == "xoxp-U0ADA" and ada.bot_token == "xoxb-new"  # the bot's latest
    assert bot is not None and bot.bot_token == "xoxb-new"
    assert await storage.slack_installations.count_documents({}) == 2


async def test_deleting_a_workspace_leaves_the_others(store):
    await store.async_save(installation("T0ACME", token="xoxb-acme"))
    await store.async_save(installation("T0GLOBEX", token="xoxb-globex"))

    await store.async_delete_all(enterprise_id=None, team_id="T0ACME")

    assert await store.async_find_bot(enterprise_id=None, team_id="T0ACME") is None
    assert await store.async_find_installation(enterprise_id=None, team_id="T0ACME") is None
    globex = await store.async_find_bot(enterprise_id=None, team_id="T0GLOBEX")
    assert globex is not None and globex.bot_token == "xoxb-globex"


async def test_deleting_one_users_installation_keeps_the_bot(store):
    await store.async_save(installation(user="U0ADA"))

    await store.async_delete_installation(enterprise_id=None, team_id="T0ACME", user_id="U0ADA")

    assert await store.async_find_installation(enterprise_id=None, team_id="T0ACME", user_id="U0ADA") is None
    assert await store.async_find_bot(enterprise_id=None, team_id="T0ACME") is not None


async def test_an_org_wide_install_is_keyed_by_the_enterprise(store):
    await store.async_save(installation(enterprise="E0GRID", org_wide=True, token="xoxb-grid"))

    bot = await store.async_find_bot(enterprise_id="E0GRID", team_id="T0ANY", is_enterprise_install=True)
    found = await store.async_find_installation(enterprise_id="E0GRID", team_id=None, is_enterprise_install=True)

    assert bot is not None and bot.bot_token == "xoxb-grid" and bot.is_enterprise_install is True
    assert found is not None and found.is_enterprise_install is True and found.enterprise_id == "E0GRID"
    assert await store.async_find_bot(enterprise_id="E0OTHER", team_id=None, is_enterprise_install=True) is None


async def test_a_state_is_used_once(storage):
    states = MongoOAuthStateStore(InstallStates(storage))
    state = await states.async_issue()

    assert await states.async_consume(state) is True
    assert await states.async_consume(state) is False
    assert await states.async_consume("made-up") is False


async def test_a_state_expires(storage):
    now = [datetime(2026, 12, 7, 12, 0, tzinfo=UTC)]
    states = MongoOAuthStateStore(InstallStates(storage, clock=lambda: now[0]))
    state = await states.async_issue()

    now[0] += timedelta(minutes=11)

    assert await states.async_consume(state) is False


class CountingRefresher:
    def __init__(self, *, refuse: bool = False):
        self.calls: list[str] = []
        self.refuse = refuse

    async def __call__(self, refresh_token: str) -> RefreshedToken:
        self.calls.append(refresh_token)
        await asyncio.sleep(0.05)
        if self.refuse:
            raise RefreshRefused()
        n = len(self.calls)
        return RefreshedToken(access_token=f"xoxe.xoxb-rotated-{n}", refresh_token=f"xoxe-1-refresh-{n}",
                              expires_in=43200)


async def test_a_rotating_token_is_refreshed_once_by_two_processes(storage, box):
    """Two bot processes (two stores with their own locks) ask for an expiring token at once: one refresh."""
    first, second = InstallationRecords(storage, box), InstallationRecords(storage, box)
    await MongoInstallationStore(first, CLIENT_ID).async_save(
        installation(token="xoxe.xoxb-old", refresh="xoxe-1-refresh-0", expires_in=600))
    refresher = CountingRefresher()

    tokens = await asyncio.gather(*(records.bot_token(CLIENT_ID, workspace, refresher)
                                    for records in (first, second, first, second)
                                    for workspace in [_acme()]))

    assert refresher.calls == ["xoxe-1-refresh-0"]
    assert set(tokens) == {"xoxe.xoxb-rotated-1"}
    bot = await MongoInstallationStore(second, CLIENT_ID).async_find_bot(enterprise_id=None, team_id="T0ACME")
    assert bot is not None and bot.bot_refresh_token == "xoxe-1-refresh-1"


async def test_a_refused_refresh_gives_no_token(storage, box):
    records = InstallationRecords(storage, box)
    await MongoInstallationStore(records, CLIENT_ID).async_save(
        installation(token="xoxe.xoxb-old", refresh="xoxe-1-refresh-0", expires_in=600))

    assert await records.bot_token(CLIENT_ID, _acme(), CountingRefresher(refuse=True)) is None


async def test_the_resolver_falls_back_to_the_org_wide_install(storage, box):
    records = InstallationRecords(storage, box)
    await MongoInstallationStore(records, CLIENT_ID).async_save(
        installation(enterprise="E0GRID", org_wide=True, token="xoxb-grid"))
    tokens = WorkspaceTokens(records, client=None, client_id=CLIENT_ID, client_secret="s")  # type: ignore[arg-type]

    assert await tokens.token_for("T0INGRID", "E0GRID") == "xoxb-grid"
    assert await tokens.token_for("T0INGRID", None) == "xoxb-grid"  # remembered: work naming only the workspace
    assert await tokens.token_for("T0ELSEWHERE", None) is None


def _acme():
    from services.installations.store import Workspace

    return Workspace.of(None, "T0ACME")
