"""An admin connects Xero organisations: the consent link, the callback, and every way it can go wrong."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

from aiohttp import BasicAuth
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from services.xero.tokens import utcnow
from tests.support.harness import XERO_AUTHORIZE_URL
from tests.support.xero_identity import UK, UK_TENANT, US, US_TENANT, identity_for


async def connect_link(bot, user="U0ADMIN") -> dict:
    reply = await bot.ask("connect", user=user)
    url = reply["blocks"][0]["accessory"]["url"]
    assert url.startswith(XERO_AUTHORIZE_URL)
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


async def callback(bot, **query):
    response = await bot.client.get("/xero/callback", params=query)
    return response.status, await response.text()


async def test_connect_offers_xero_authorize_link_with_pkce_and_a_bound_single_use_state(bot):
    params = await connect_link(bot)
    assert params["response_type"] == "code"
    assert params["client_id"] == "test-client-id"
    assert params["redirect_uri"] == "http://localhost:3000/xero/callback"
    assert set(params["scope"].split()) >= {"offline_access", "accounting.invoices", "accounting.contacts",
                                             "accounting.settings", "openid", "profile", "email"}
    assert params["code_challenge_method"] == "S256"
    stored = await bot.storage.oauth_states.find_one({"_id": params["state"]})
    assert (stored["team_id"], stored["user_id"]) == ("T0TEST", "U0ADMIN")
    verifier = bot.container.box.decrypt(stored["code_verifier"])
    assert params["code_challenge"] == create_s256_code_challenge(verifier)
    assert 9 * 60 < (stored["expires_at"] - utcnow()).total_seconds() <= 10 * 60


async def test_state_expires_through_a_ttl_index_of_ten_minutes(bot):
    indexes = [i async for i in await bot.storage.oauth_states.list_indexes()]
    assert any(i.get("expireAfterSeconds") == 600 for i in indexes)


async def test_members_cannot_connect_and_are_told_who_can(bot):
    reply = await bot.ask("connect", user="U0MEMBER")
    text = str(reply["blocks"])
    assert "Only admins" in text and "named as admins" in text and "BOT_ADMINS" not in text
    assert await bot.storage.oauth_states.count_documents({}) == 0


async def test_people_listed_in_bot_admins_may_connect(bot):
    bot.slack.users["U0LISTED"] = {"id": "U0LISTED", "is_admin": False}
    params = await connect_link(bot, user="U0LISTED")
    assert params["state"]


async def test_allow_access_stores_every_granted_organisation_and_tells_the_admin(bot, xero):
    params = await connect_link(bot)
    code = identity_for(xero).consent(params, tenants=(UK, US))
    status, page = await callback(bot, code=code, state=params["state"])
    assert status == 200
    assert "Demo Company (UK)" in page and "Demo Company (US)" in page
    tenants = [t async for t in bot.storage.tenants.find({"team_id": "T0TEST"})]
    assert {t["tenant_id"] for t in tenants} == {UK_TENANT, US_TENANT}
    assert len({t["token_set_id"] for t in tenants}) == 1  # one consent, one token set, two tenants
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0ADMIN")
    assert "Demo Company (UK)" in dm["text"] and "Demo Company (US)" in dm["text"]
    token_request = identity_for(xero).token_calls()[0]
    form = token_request.form
    assert form["grant_type"] == ["authorization_code"] and form["code"] == [code]
    assert form["code_verifier"][0]
    assert BasicAuth.decode(token_request.headers["Authorization"]).login == "test-client-id"  # HTTP Basic


async def test_tokens_are_encrypted_at_rest(bot, xero):
    params = await connect_link(bot)
    identity = identity_for(xero)
    await callback(bot, code=identity.consent(params, tenants=(UK, US)), state=params["state"])
    [tokens] = identity.issued
    raw = str([d async for d in bot.storage.token_sets.find({})])
    assert tokens["access_token"] not in raw and tokens["refresh_token"] not in raw
    token_set = await bot.storage.token_sets.find_one({})
    assert bot.container.box.decrypt(token_set["refresh_token"]) == tokens["refresh_token"]


async def test_connecting_an_organisation_again_updates_it_instead_of_duplicating(bot, xero):
    for _attempt in range(2):
        params = await connect_link(bot)
        status, _ = await callback(bot, code=identity_for(xero).consent(params, tenants=(UK,)), state=params["state"])
        assert status == 200
    assert await bot.storage.tenants.count_documents({"tenant_id": UK_TENANT}) == 1


async def test_a_used_state_cannot_be_used_again(bot, xero):
    params = await connect_link(bot)
    code = identity_for(xero).consent(params, tenants=(UK, US))
    assert (await callback(bot, code=code, state=params["state"]))[0] == 200
    status, page = await callback(bot, code=code, state=params["state"])
    assert status == 400 and "/xero connect" in page
    assert len(identity_for(xero).token_calls()) == 1


async def test_an_unknown_state_is_refused_without_exchanging_the_code(bot, xero):
    status, page = await callback(bot, code="c", state="made-up")
    assert status == 400 and "/xero connect" in page
    assert identity_for(xero).token_calls() == []


async def test_an_expired_state_is_refused(bot, xero):
    params = await connect_link(bot)
    await bot.storage.oauth_states.update_one(
        {"_id": params["state"]}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    status, _ = await callback(bot, code="c", state=params["state"])
    assert status == 400
    assert identity_for(xero).token_calls() == []


async def test_access_denied_stores_nothing_and_tells_the_admin(bot, xero):
    params = await connect_link(bot)
    status, page = await callback(bot, error="access_denied", state=params["state"])
    assert status == 200 and "not granted" in page
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0ADMIN")
    assert "not granted" in dm["text"]
    assert await bot.storage.tenants.count_documents({}) == 0
    assert identity_for(xero).token_calls() == []


async def assert_nothing_stored_and_admin_told(bot):
    assert await bot.storage.tenants.count_documents({}) == 0
    assert await bot.storage.token_sets.count_documents({}) == 0
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0ADMIN")
    assert "did not work" in dm["text"]


async def test_token_endpoint_refusing_the_code_stores_nothing(bot, xero):
    params = await connect_link(bot)
    identity_for(xero)  # Xero never issued this code: invalid_grant
    status, page = await callback(bot, code="a-code-xero-never-issued", state=params["state"])
    assert status == 400 and "<html" in page.lower()  # a page saying so, not a 502
    await assert_nothing_stored_and_admin_told(bot)


async def test_token_endpoint_failing_stores_nothing(bot, xero):
    params = await connect_link(bot)
    identity = identity_for(xero)
    identity.fail_next("POST", "/connect/token", 503)
    status, _ = await callback(bot, code=identity.consent(params, tenants=(UK,)), state=params["state"])
    assert status == 400
    await assert_nothing_stored_and_admin_told(bot)


async def test_connections_endpoint_failing_stores_nothing(bot, xero):
    params = await connect_link(bot)
    identity = identity_for(xero)
    identity.fail_next("GET", "/connections", 500)
    await callback(bot, code=identity.consent(params, tenants=(UK,)), state=params["state"])
    await assert_nothing_stored_and_admin_told(bot)


async def test_connections_endpoint_timing_out_stores_nothing(bot, xero):
    params = await connect_link(bot)
    identity = identity_for(xero)
    identity.fail_next("GET", "/connections", exception=TimeoutError())
    await callback(bot, code=identity.consent(params, tenants=(UK,)), state=params["state"])
    await assert_nothing_stored_and_admin_told(bot)
