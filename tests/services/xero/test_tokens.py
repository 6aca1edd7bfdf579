"""Access tokens stay valid: refresh ahead of expiry, once, even with two bot processes at the same time."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from services.platform.crypto import SecretBox, generate_key
from services.xero.errors import XeroAuthError, XeroError
from services.xero.oauth import TokenGrant, XeroOAuth
from services.xero.tokens import TokenService, utcnow
from tests.support.harness import XERO_TOKEN_URL
from tests.support.xero_identity import XeroIdentity, identity_for

KEY = generate_key()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def token_service(storage, http, **options) -> TokenService:
    """One per simulated bot process: its own in-process locks, the same database."""
    oauth = XeroOAuth(http, client_id="test-client-id", client_secret="test-client-secret-0000",
                      redirect_uri="http://l/cb", authorize_url="https://login.xero.test/a", token_url=XERO_TOKEN_URL,
                      scopes="openid")
    return TokenService(storage, SecretBox(KEY), oauth, poll_interval=0.01, **options)


async def saved_token_set(identity: XeroIdentity, service, expires_in: int) -> str:
    """A token pair the sandbox's Xero issued, saved as a consent would; the bot believes it lasts `expires_in`."""
    token_set_id = await service.save(TokenGrant(**identity.grant(expires_in=expires_in)), team_id="T", user_id="U")
    return token_set_id


def refreshed(identity: XeroIdentity) -> dict:
    """The newest token pair Xero gave for a refresh."""
    return identity.issued[-1]


async def test_a_fresh_token_is_used_without_refreshing(storage, http, xero):
    service = token_service(storage, http)
    token_set_id = await saved_token_set(identity_for(xero), service, expires_in=1800)
    assert await service.access_token(token_set_id) == identity_for(xero).issued[0]["access_token"]
    assert identity_for(xero).token_calls() == []


async def test_a_token_expiring_within_five_minutes_is_refreshed_and_rotated(storage, http, xero):
    service = token_service(storage, http)
    token_set_id = await saved_token_set(identity_for(xero), service, expires_in=240)
    first = identity_for(xero).issued[0]
    token = await service.access_token(token_set_id)
    assert token == refreshed(identity_for(xero))["access_token"] and token != first["access_token"]
    doc = await storage.token_sets.find_one({"_id": token_set_id})
    assert SecretBox(KEY).decrypt(doc["refresh_token"]) == refreshed(identity_for(xero))["refresh_token"]
    assert doc["version"] == 2
    assert (doc["expires_at"] - utcnow()).total_seconds() > 25 * 60
    form = identity_for(xero).token_calls()[0].form
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == [first["refresh_token"]]


async def test_many_callers_in_one_process_share_one_refresh(storage, http, xero):
    service = token_service(storage, http)
    token_set_id = await saved_token_set(identity_for(xero), service, expires_in=60)
    tokens = await asyncio.gather(*(service.access_token(token_set_id) for _ in range(10)))
    assert set(tokens) == {refreshed(identity_for(xero))["access_token"]}
    assert len(identity_for(xero).token_calls()) == 1


async def test_two_processes_refreshing_together_make_one_refresh_call(storage, http, xero):
    first, second = token_service(storage, http), token_service(storage, http)
    token_set_id = await saved_token_set(identity_for(xero), first, expires_in=60)
    tokens = await asyncio.gather(first.access_token(token_set_id), second.access_token(token_set_id),
                                  first.access_token(token_set_id), second.access_token(token_set_id))
    assert set(tokens) == {refreshed(identity_for(xero))["access_token"]}
    assert len(identity_for(xero).token_calls()) == 1


async def test_invalid_grant_marks_the_connection_as_needing_reconnect(storage, http, xero):
    told: list[str] = []

    async def tell(token_set_id: str) -> None:
        told.append(token_set_id)

    service = token_service(storage, http, on_needs_reconnect=tell)
    token_set_id = await saved_token_set(identity_for(xero), service, expires_in=60)
    identity_for(xero).revoke_all()  # the user revoked the app at Xero: the refresh token is dead
    with pytest.raises(XeroAuthError):
        await service.access_token(token_set_id)
    assert (await storage.token_sets.find_one({"_id": token_set_id}))["status"] == "needs_reconnect"
    assert told == [token_set_id]  # the owner of `tenants` marks its organisations
    with pytest.raises(XeroAuthError):  # and nobody tries the dead refresh token again
        await service.access_token(token_set_id)
    assert len(identity_for(xero).token_calls()) == 1


async def test_a_failed_refresh_releases_the_lease_so_the_next_call_can_retry(storage, http, xero):
    service = token_service(storage, http)
    token_set_id = await saved_token_set(identity_for(xero), service, expires_in=60)
    identity_for(xero).fail_next("POST", "/connect/token", 503)
    with pytest.raises(XeroError):
        await service.access_token(token_set_id)
    assert await service.access_token(token_set_id) == refreshed(identity_for(xero))["access_token"]
