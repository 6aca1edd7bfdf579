"""Reconnecting or removing an organisation revokes (at Xero) and deletes the token sets nothing uses any more."""

from __future__ import annotations

import logging

import pytest
from aiohttp import BasicAuth
from aiohttp.test_utils import TestClient, TestServer

from sandbox.xero import create_xero_app
from tests.support.xero_identity import UK, UK_TENANT, US, connect_organisations, identity_for


async def connect(bot, xero, tenants) -> str:
    """An admin consents (again) at the sandbox's Xero. Returns the token set now in use."""
    await connect_organisations(bot, xero, tenants=tenants)
    return (await bot.storage.tenants.find_one({"tenant_id": tenants[0]["tenantId"]}))["token_set_id"]


def revocations(xero) -> list:
    return identity_for(xero).revocations()


async def remove(bot, xero, organisation: dict) -> None:
    await bot.click("remove_tenant_open", organisation["tenantId"])
    opened = await bot.slack.wait_for("views.open", lambda c: organisation["tenantId"] in c["view"]["private_metadata"])
    await bot.submit(opened["view"])
    await bot.slack.wait_for("chat.postEphemeral", lambda c: c["text"] == f"Removed {organisation['tenantName']}")


async def test_reconnecting_revokes_the_replaced_token_set_and_deletes_it(bot, xero):
    first = await connect(bot, xero, (UK, US))
    second = await connect(bot, xero, (UK, US))
    assert second != first
    [call] = revocations(xero)
    replaced = identity_for(xero).issued[0]["refresh_token"]
    assert call.body.decode() == f"token={replaced}&token_type_hint=refresh_token"
    assert BasicAuth.decode(call.headers["Authorization"]) == BasicAuth("test-client-id", "test-client-secret-0000")
    assert call.answer[0] == 200  # as for the token URL; Xero ended the grant
    assert await bot.storage.token_sets.find_one({"_id": first}) is None
    assert await bot.storage.token_sets.find_one({"_id": second}) is not None


async def test_a_token_set_another_organisation_still_uses_is_kept(bot, xero):
    first = await connect(bot, xero, (UK, US))
    await connect(bot, xero, (UK,))  # US still runs on the first grant
    assert revocations(xero) == []
    assert await bot.storage.token_sets.find_one({"_id": first}) is not None


async def test_removing_the_last_organisation_of_a_token_set_revokes_it(bot, xero):
    token_set = await connect(bot, xero, (UK, US))
    await remove(bot, xero, UK)
    assert revocations(xero) == []  # US still needs it
    assert await bot.storage.token_sets.find_one({"_id": token_set}) is not None
    await remove(bot, xero, US)
    assert len(revocations(xero)) == 1
    assert await bot.storage.token_sets.count_documents({}) == 0


async def test_when_xero_cannot_be_told_the_token_set_is_still_deleted_and_it_is_logged(bot, xero, caplog):
    caplog.set_level(logging.INFO)
    token_set = await connect(bot, xero, (UK,))
    identity_for(xero).fail_next("POST", "/connect/revocation", 503)
    await remove(bot, xero, UK)
    assert len(revocations(xero)) == 1
    assert await bot.storage.token_sets.find_one({"_id": token_set}) is None
    assert (await bot.storage.tenants.find_one({"tenant_id": UK_TENANT}))["status"] == "removed"
    assert any(r.getMessage() == "xero.revocation_failed" for r in caplog.records)
    assert identity_for(xero).issued[0]["refresh_token"] not in caplog.text


async def test_a_token_xero_no_longer_knows_counts_as_revoked(bot, xero, caplog):
    caplog.set_level(logging.INFO)
    await connect(bot, xero, (UK,))
    identity_for(xero).fail_next("POST", "/connect/revocation", 400, {"error": "invalid_grant"})
    await remove(bot, xero, UK)
    assert await bot.storage.token_sets.count_documents({}) == 0
    assert not any(r.getMessage() == "xero.revocation_failed" for r in caplog.records)


# The sandbox's Xero stand-in models the same endpoint --------------------------------------------------------------

@pytest.fixture
async def sandbox():
    from tests.sandbox.test_xero import FakeClock, Xero, free_port

    clock, port = FakeClock(), free_port()
    app = create_xero_app(None, public_base_url=f"http://127.0.0.1:{port}", clock=clock)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    yield Xero(client, clock)
    await client.close()


async def test_the_sandbox_xero_stops_honouring_a_revoked_grant(sandbox):
    from tests.sandbox.test_xero import CLIENT

    tokens = await sandbox.connect()
    answer = await sandbox.client.post("/connect/revocation", auth=CLIENT, data={"token": tokens["refresh_token"]})
    assert answer.status == 200
    refresh = await sandbox.client.post("/connect/token", auth=CLIENT, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert (await refresh.json())["error"] == "invalid_grant"
    connections = await sandbox.client.get("/api/connections", headers=sandbox.headers())
    assert connections.status == 401  # the access tokens of the grant die with it
    again = await sandbox.client.post("/connect/revocation", auth=CLIENT, data={"token": tokens["refresh_token"]})
    assert again.status == 200  # revoking twice is fine (RFC 7009)
