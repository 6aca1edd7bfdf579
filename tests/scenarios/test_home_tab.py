"""The App Home tab: what each person sees when they open it, its buttons, and its redraw after changes."""

from __future__ import annotations

import json

import aiohttp

from services.xero.client import TenantAuth, XeroClient
from tests.support.export_flow import click, final_update, job_id_of, prepare, request
from tests.support.harness import XERO_API, start_harness, stop_harness
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import UK, UK_TENANT, US
from tests.support.xero_standin import validation_error


def text(view: dict) -> str:
    return json.dumps(view["blocks"])


def buttons(view: dict, action_id: str) -> list[str]:
    return [b["accessory"]["value"] for b in view["blocks"]
            if b.get("accessory", {}).get("action_id") == action_id]


async def test_an_admin_sees_organisations_with_their_health_and_the_settings(bot, xero):
    await prepare(bot, xero, tenants=(UK, US))
    await bot.container.xero.get_currencies(TenantAuth(UK_TENANT, (await bot.container.connections.get_tenant(
        TEAM_ID, UK_TENANT)).token_set_id))
    view = await bot.open_home("U0ADMIN")
    assert view["type"] == "home"
    said = text(view)
    assert "Demo Company (UK)" in said and "Demo Company (US)" in said and "Connected" in said
    uk_line = next(b["text"]["text"] for b in view["blocks"] if "Demo Company (UK)" in json.dumps(b))
    us_line = next(b["text"]["text"] for b in view["blocks"] if "Demo Company (US)" in json.dumps(b))
    assert "Last successful call to Xero: <!date^" in uk_line and "none yet" in us_line
    assert "Xero access last renewed: <!date^" in uk_line
    assert "Settings" in said and "<#C0APPROVALS>" in said and "Forecast API key: stored" in said


async def test_a_member_sees_their_own_exports_and_no_settings_or_approvals(bot, xero):
    await prepare(bot, xero)
    await request(bot, user="U0MEMBER")
    view = await bot.open_home("U0MEMBER")
    said = text(view)
    assert "Your recent exports" in said and "INV-101" in said and "waiting for approval" in said
    assert "Settings" not in said and "Waiting for your approval" not in said
    assert buttons(view, "home_approve") == []


async def test_an_approver_approves_from_home_and_every_open_home_is_redrawn(bot, xero):
    await prepare(bot, xero)
    _, approval = await request(bot, user="U0MEMBER")
    member_home = await bot.open_home("U0MEMBER")
    home = await bot.open_home("U0APPROVER")
    assert "Waiting for your approval" in text(home) and buttons(home, "home_approve") == [job_id_of(approval)]
    published = bot.homes_published("U0MEMBER")

    await bot.home_click("home_approve", job_id_of(approval), user="U0APPROVER")
    await final_update(bot, job_id_of(approval), "exported")
    member_home = await bot.slack.wait_for("views.publish", lambda c: c["user_id"] == "U0MEMBER" and "in Xero" in
                                           json.dumps(c["view"]) and bot.homes_published("U0MEMBER") > published)
    assert "INV-101" in text(member_home["view"])
    approver_home = await bot.home_published("U0APPROVER", after=1)
    assert buttons(approver_home, "home_approve") == []


async def test_a_refused_click_on_home_is_explained_in_a_dm(bot, xero):
    await prepare(bot, xero)
    _, approval = await request(bot, user="U0MEMBER")
    await bot.home_click("home_approve", job_id_of(approval), user="U0MEMBER")
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0MEMBER")
    assert "Only approvers" in json.dumps(dm.args)


async def test_a_failed_export_shows_on_home_with_retry_which_retries_it(bot, xero):
    books = await prepare(bot, xero)
    books.fail_next("PUT", "Invoices", 400, validation_error("Account code '200' is not a valid code."))
    _, approval = await request(bot, user="U0MEMBER")
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "failed")
    home = await bot.open_home("U0APPROVER")
    assert "failed" in text(home) and "not a valid code" in text(home)
    assert buttons(home, "home_retry") == [job_id_of(approval)]
    member_home = await bot.open_home("U0MEMBER")
    assert buttons(member_home, "home_retry") == []  # members see it failed; approvers retry

    await bot.home_click("home_retry", job_id_of(approval), user="U0APPROVER")
    await final_update(bot, job_id_of(approval), "exported")
    assert len(books.sent("PUT", "Invoices")) == 2


async def test_saving_settings_redraws_the_home_of_everyone_who_opened_it(bot, xero):
    await prepare(bot, xero)
    await bot.open_home("U0MEMBER")
    await bot.open_home("U0ADMIN")
    before = bot.homes_published("U0ADMIN"), bot.homes_published("U0MEMBER")
    await bot.command("settings")
    view = (await bot.slack.wait_for("views.open"))["view"]
    values = {"approval_channel": {"approval_channel": {"type": "conversations_select",
                                                        "selected_conversation": "C0GENERAL"}},
              "export_status": {"export_status": {"type": "radio_buttons", "selected_option": {"value": "DRAFT"}}}}
    response = await bot.submit(view, values=values)
    assert "errors" not in await response.text()
    admin_home = await bot.home_published("U0ADMIN", after=before[0])
    await bot.home_published("U0MEMBER", after=before[1])
    assert "<#C0GENERAL>" in text(admin_home)


async def test_connecting_and_removing_an_organisation_redraws_home(bot, xero):
    from tests.support.xero_identity import connect_organisations

    await bot.open_home("U0ADMIN")
    await connect_organisations(bot, xero, tenants=(UK,))
    home = await bot.home_published("U0ADMIN", after=1)
    assert "Demo Company (UK)" in text(home)

    tenant = await bot.container.connections.get_tenant(TEAM_ID, UK_TENANT)
    await bot.submit({"type": "modal", "callback_id": "remove_tenant_confirm",
                      "private_metadata": json.dumps({"tenant_id": tenant.tenant_id})})
    home = await bot.home_published("U0ADMIN", after=2)
    assert "Demo Company (UK)" not in text(home) and "None yet" in text(home)


async def test_the_xero_client_records_a_successful_call_at_most_once_a_minute(xero):
    recorded, now = [], [1000.0]

    async def record(tenant):
        recorded.append(tenant.tenant_id)

    class Tokens:
        async def access_token(self, token_set_id):
            return "token"

    xero.get(f"{XERO_API}/api.xro/2.0/Currencies", payload={"Currencies": []}, repeat=True)
    async with aiohttp.ClientSession() as session:
        client = XeroClient(session, XERO_API, Tokens(), on_success=record, monotonic=lambda: now[0])
        auth = TenantAuth("tenant-a", "set-a")
        await client.get_currencies(auth)
        await client.get_currencies(auth)
        now[0] += 61
        await client.get_currencies(auth)
        await client.get_currencies(TenantAuth("tenant-b", "set-b"))
    assert recorded == ["tenant-a", "tenant-a", "tenant-b"]


async def test_an_approver_picks_the_organisation_on_home_when_the_client_is_not_linked(bot, xero):
    await prepare(bot, xero, tenants=(UK, US))
    _, approval = await request(bot, user="U0MEMBER")
    home = await bot.open_home("U0APPROVER")
    job_id = job_id_of(approval)
    picker_block = next(b for b in home["blocks"] if b.get("block_id") == f"home_job_{job_id}")
    picker, approve = picker_block["elements"]
    assert [o["text"]["text"] for o in picker["options"]] == ["Demo Company (UK)", "Demo Company (US)"]

    await bot.home_click("home_approve", job_id, user="U0APPROVER")  # no choice yet
    dm = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "U0APPROVER")
    assert "Choose the organisation first" in json.dumps(dm.args)

    state = {f"home_job_{job_id}": {"home_pick_tenant": {"type": "static_select",
                                                         "selected_option": {"value": UK_TENANT}}}}
    await bot.view_action({"id": "VHOME", "type": "home", "blocks": home["blocks"]},
                          {"type": "button", "action_id": "home_approve", "value": job_id,
                           "block_id": f"home_job_{job_id}"}, user="U0APPROVER", values=state)
    await final_update(bot, job_id, "exported")
    assert (await bot.container.exports.requests.get(TEAM_ID, job_id)).tenant_id == UK_TENANT


async def test_a_request_and_its_approval_in_the_channel_redraw_the_requesters_home(bot, xero):
    await prepare(bot, xero)
    await bot.open_home("U0MEMBER")
    _, approval = await request(bot, user="U0MEMBER")
    home = await bot.home_published("U0MEMBER", after=1)
    assert "waiting for approval" in text(home)
    published = bot.homes_published("U0MEMBER")
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")
    await bot.slack.wait_for("views.publish", lambda c: c["user_id"] == "U0MEMBER" and "in Xero" in json.dumps(
        c["view"]) and bot.homes_published("U0MEMBER") > published)


async def test_another_process_redraws_the_home_of_someone_who_opened_it_elsewhere(bot, xero, storage):
    await prepare(bot, xero)
    _, approval = await request(bot, user="U0MEMBER")
    await bot.open_home("U0MEMBER")  # opened on this process only
    other = await start_harness(storage)  # a restarted process, or another replica, on the same database
    try:
        await other.home_click("home_approve", job_id_of(approval), user="U0APPROVER")
        redrawn = await other.home_published("U0MEMBER", after=0)
        assert "INV-101" in text(redrawn)
    finally:
        await stop_harness(other)
