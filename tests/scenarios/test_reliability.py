"""What an outside reliability probe found, through the real routes: a 401 on a fresh token is refreshed once
before anything is marked; a webhook nested too deep is a 400; a refused consent code is a 4xx page; an answer
Slack cannot take is one warning line; a sync whose connection was replaced while it ran says nothing loud."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import pytest

from services.platform.jobs import Job, RetryLater
from services.sync.engine import SYNC_JOB
from services.xero.client import TenantAuth
from tests.support.export_flow import click, final_update, job_id_of, prepare, request
from tests.support.harness import XERO_API, start_harness, stop_harness
from tests.support.signing import command_body, signed_headers
from tests.support.slack_standin import TEAM_ID
from tests.support.sync_flow import WEBHOOK_KEY, post_webhook
from tests.support.xero_identity import UK, UK_TENANT, authorize_params, connect_organisations, identity_for


@pytest.fixture
async def bot(storage):
    harness = await start_harness(storage, xero_webhook_key=WEBHOOK_KEY)
    yield harness
    await stop_harness(harness)


def loud(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_one_401_on_a_fresh_token_refreshes_once_and_the_organisation_stays_connected(bot, xero):
    await connect_organisations(bot, xero, tenants=(UK,))
    tenant = await bot.container.connections.get_tenant(TEAM_ID, UK_TENANT)
    identity = identity_for(xero)
    refreshes = len(identity.sent("POST", "/connect/token"))
    xero.get(f"{XERO_API}/api.xro/2.0/Currencies", status=401,
             payload={"Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful"})
    xero.get(f"{XERO_API}/api.xro/2.0/Currencies", payload={"Currencies": [{"Code": "GBP"}]})

    currencies = await bot.container.xero.get_currencies(TenantAuth(UK_TENANT, tenant.token_set_id))

    assert [c.code for c in currencies] == ["GBP"]
    assert len(identity.sent("POST", "/connect/token")) == refreshes + 1  # one refresh, with the refresh token
    assert "Needs reconnect" not in json.dumps((await bot.ask("list"))["blocks"])


async def test_a_401_after_the_refresh_marks_the_organisation_needs_reconnect(bot, xero):
    from services.xero.errors import XeroAuthError

    await connect_organisations(bot, xero, tenants=(UK,))
    tenant = await bot.container.connections.get_tenant(TEAM_ID, UK_TENANT)
    for _ in range(2):
        xero.get(f"{XERO_API}/api.xro/2.0/Currencies", status=401,
                 payload={"Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful"})
    with pytest.raises(XeroAuthError):
        await bot.container.xero.get_currencies(TenantAuth(UK_TENANT, tenant.token_set_id))
    assert "Needs reconnect" in json.dumps((await bot.ask("list"))["blocks"])


async def test_a_signed_webhook_nested_a_thousand_levels_deep_is_a_400_not_a_500(bot, caplog):
    body = ('{"events": ' + "[" * 1000 + "]" * 1000 + "}").encode()
    response = await post_webhook(bot, body)
    assert response.status == 400 and await response.read() == b""
    assert loud(caplog) == []


async def test_a_consent_code_xero_refuses_gets_a_4xx_page(bot, xero):
    reply = await bot.ask("connect")
    params = authorize_params(reply["blocks"][0]["accessory"]["url"])
    identity_for(xero)
    response = await bot.client.get("/xero/callback", params={"code": "never-issued", "state": params["state"]})
    assert response.status == 400 and "did not work" in await response.text()


async def send_command(bot, text: str, *, response_url: str, trigger_id: str):
    body = command_body(text, user_id="U0ADMIN", team_id=TEAM_ID, channel_id="C0GENERAL",
                        response_url=response_url, trigger_id=trigger_id)
    response = await bot.client.post("/slack/events", data=body, headers=signed_headers(body))
    assert response.status == 200


async def test_an_unreachable_response_url_is_one_warning_without_a_traceback(bot, caplog):
    caplog.set_level(logging.INFO)
    await send_command(bot, "list", response_url="http://127.0.0.1:9/unreachable", trigger_id="t-unused")
    await bot.container.jobs.count()  # a round trip: the listener has run by the time the database answers
    for _ in range(100):
        if any(r.getMessage().startswith("slack.answer_undeliverable") for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    warnings = [r for r in caplog.records if "undeliverable" in r.getMessage() or "error_answer" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert loud(caplog) == []


async def test_a_stale_trigger_is_one_warning_without_a_traceback(bot, xero, caplog):
    caplog.set_level(logging.INFO)
    await connect_organisations(bot, xero, tenants=(UK,))
    await send_command(bot, "remove Demo Company (UK)", response_url=bot.slack.response_url("stale"),
                       trigger_id="trigger-expired-long-ago")
    said = await bot.reply_to("stale")
    assert said  # the person is told something went wrong (the response_url still works)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("bot.")]
    assert len(warnings) == 1 and warnings[0].fields["error"] == "expired_trigger_id"
    assert loud(caplog) == []


async def test_a_sync_whose_connection_was_replaced_while_it_ran_retries_quietly(bot, xero, caplog):
    await prepare(bot, xero, tenants=(UK,))
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    stale = await bot.container.connections.get_tenant(TEAM_ID, UK_TENANT)
    await connect_organisations(bot, xero, tenants=(UK,))  # reconnected: the old token set is retired
    connections = bot.container.xero_sync.connections
    real = connections.get_tenant
    calls = []

    async def read_before_the_reconnect(team_id, tenant_id):
        calls.append(tenant_id)
        return stale if len(calls) == 1 else await real(team_id, tenant_id)

    connections.get_tenant = read_before_the_reconnect
    now = datetime.now(UTC)
    job = Job(id="j1", kind=SYNC_JOB, payload={"team_id": TEAM_ID, "tenant_id": UK_TENANT}, due_at=now,
              created_at=now)
    try:
        with pytest.raises(RetryLater):
            await bot.container.xero_sync.handle(job)
        await bot.container.xero_sync.handle(job)  # the next run reads with the new connection
    finally:
        connections.get_tenant = real
    assert not [r for r in caplog.records if "TokenSetNotFound" in r.getMessage() or r.exc_info]
