"""The sandbox Slack workspace talks to a bot exactly the way Slack does.

A tiny fake bot (an aiohttp app) verifies every request with slack_sdk's SignatureVerifier and calls the
sandbox's Web API through slack_sdk's AsyncWebClient, as the real bot does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.slack import SLACK_STATE, create_slack_app
from tests.support.paths import ROOT

SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox-token"

Handler = Callable[[dict[str, Any]], Awaitable[web.StreamResponse]]


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class FakeBot:
    """Answers `POST /slack/events`; tests plug in one handler per request kind."""

    def __init__(self) -> None:
        self.verifier = SignatureVerifier(SIGNING_SECRET)
        self.received: list[dict[str, Any]] = []
        self.handlers: dict[str, Handler] = {}
        self.web: AsyncWebClient | None = None
        self.app = web.Application()
        self.app.router.add_post("/slack/events", self.handle)

    def on(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if not self.verifier.is_valid_request(raw, dict(request.headers)):
            return web.Response(status=401, text="invalid signature")
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        body = json.loads(form["payload"]) if "payload" in form else form
        kind = body.get("type", "slash_command")
        self.received.append(body)
        handler = self.handlers.get(kind)
        return await handler(body) if handler else web.Response(status=200)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sandbox:
    def __init__(self, bot: FakeBot, client: TestClient, app: web.Application, clock: FakeClock) -> None:
        self.bot, self.client, self.app, self.clock = bot, client, app, clock
        self.state = app[SLACK_STATE]

    async def page(self, path: str, **body: Any) -> dict[str, Any]:
        response = await self.client.post(f"/slack/ui/{path}", json=body)
        return await response.json()

    async def snapshot(self, user: str) -> dict[str, Any]:
        response = await self.client.get("/slack/ui/state", params={"user": user})
        return await response.json()


async def start_sandbox(data_dir, bot: FakeBot, *, ack_timeout: float = 3.0,
                        bot_app: web.Application | None = None) -> Sandbox:
    bot_server = TestServer(bot_app or bot.app)
    await bot_server.start_server()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/slack"
    clock = FakeClock()
    slack_app = create_slack_app(data_dir, bot_events_url=str(bot_server.make_url("/slack/events")),
                                 signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, public_base_url=base_url,
                                 clock=clock, ack_timeout=ack_timeout)
    root = web.Application()
    root.add_subapp("/slack", slack_app)
    client = TestClient(TestServer(root, port=port))
    await client.start_server()
    bot.web = AsyncWebClient(token=BOT_TOKEN, base_url=f"{base_url}/api/")
    sandbox = Sandbox(bot, client, slack_app, clock)
    sandbox.bot_server = bot_server
    return sandbox


async def stop_sandbox(sandbox: Sandbox) -> None:
    await sandbox.client.close()
    await sandbox.bot_server.close()


@pytest.fixture
async def sandbox(tmp_path):
    running = await start_sandbox(tmp_path, FakeBot())
    yield running
    await stop_sandbox(running)


def json_answer(body: dict[str, Any]) -> web.Response:
    return web.json_response(body)


MODAL_WITH_INPUT = {
    "type": "modal", "callback_id": "export_invoice", "title": {"type": "plain_text", "text": "Export invoice"},
    "submit": {"type": "plain_text", "text": "Export"}, "private_metadata": "C0GENERAL",
    "blocks": [{"type": "input", "block_id": "invoice", "label": {"type": "plain_text", "text": "Invoice"},
                "element": {"type": "plain_text_input", "action_id": "number"}}],
}


async def open_modal_from_command(sandbox: Sandbox, view: dict[str, Any]) -> str:
    async def open_view(body: dict[str, Any]) -> web.Response:
        await sandbox.bot.web.views_open(trigger_id=body["trigger_id"], view=view)
        return web.Response(status=200)

    sandbox.bot.on("slash_command", open_view)
    await sandbox.page("message", user="U0ADMIN", channel="C0GENERAL", text="/xero export")
    stack = sandbox.state.modal_stack("U0ADMIN")
    assert len(stack) == 1
    return stack[0]["view"]["id"]


# ---- slash commands ---------------------------------------------------------------------------------
async def test_typed_command_reaches_the_bot_signed_and_its_answer_is_ephemeral(sandbox):
    sandbox.bot.on("slash_command", lambda body: asyncio.sleep(0, web.Response(text="Here is how to use /xero")))

    result = await sandbox.page("message", user="U0ADMIN", channel="C0GENERAL", text="/xero help")

    assert result["ok"] is True
    [command] = sandbox.bot.received
    assert command["command"] == "/xero" and command["text"] == "help"
    assert command["user_id"] == "U0ADMIN" and command["channel_id"] == "C0GENERAL"
    assert command["team_id"] == "T0SANDBOX" and command["channel_name"] == "general"
    assert command["response_url"].startswith(str(sandbox.client.make_url("/slack/response/")))
    assert command["trigger_id"]
    ada_sees = (await sandbox.snapshot("U0ADMIN"))["messages"]["C0GENERAL"]
    grace_sees = (await sandbox.snapshot("U0APPROVER"))["messages"]["C0GENERAL"]
    assert [(m["text"], m["is_ephemeral"]) for m in ada_sees] == [("Here is how to use /xero", True)]
    assert grace_sees == []


async def test_in_channel_answer_with_blocks_is_shown_to_everyone(sandbox):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*2 organisations connected*"}}]
    sandbox.bot.on("slash_command", lambda body: asyncio.sleep(
        0, json_answer({"response_type": "in_channel", "text": "Connected", "blocks": blocks})))

    await sandbox.page("message", user="U0APPROVER", channel="C0APPROVALS", text="/xero list")

    seen_by_max = (await sandbox.snapshot("U0MEMBER"))["messages"]["C0APPROVALS"]
    assert [m["text"] for m in seen_by_max] == ["/xero list", "Connected"]
    assert seen_by_max[1]["blocks"][0]["text"]["text"] == "*2 organisations connected*"


async def test_a_bot_that_does_not_answer_in_time_shows_slacks_timeout(tmp_path):
    never = asyncio.Event()
    bot = FakeBot()
    bot.on("slash_command", lambda body: never.wait())
    sandbox = await start_sandbox(tmp_path, bot, ack_timeout=0.05)
    try:
        result = await sandbox.page("message", user="U0MEMBER", channel="C0GENERAL", text="/xero list")
        messages = (await sandbox.snapshot("U0MEMBER"))["messages"]["C0GENERAL"]
    finally:
        never.set()
        await stop_sandbox(sandbox)
    assert result == {"ok": False, "error": "operation_timeout"}
    assert [m["text"] for m in messages] == ['/xero failed with the error "operation_timeout"']
    assert messages[0]["user"] == "USLACKBOT" and messages[0]["is_ephemeral"]


async def test_a_bot_answering_500_shows_dispatch_failed(sandbox):
    sandbox.bot.on("slash_command", lambda body: asyncio.sleep(0, web.Response(status=500)))
    await sandbox.page("message", user="U0MEMBER", channel="C0GENERAL", text="/xero list")
    [message] = (await sandbox.snapshot("U0MEMBER"))["messages"]["C0GENERAL"]
    assert message["text"] == '/xero failed with the error "dispatch_failed"'


async def test_plain_text_is_posted_without_calling_the_bot(sandbox):
    await sandbox.page("message", user="U0MEMBER", channel="C0GENERAL", text="hello team")
    assert sandbox.bot.received == []
    assert [m["text"] for m in sandbox.state.messages("C0GENERAL")] == ["hello team"]


# ---- Web API ----------------------------------------------------------------------------------------
async def test_post_and_update_change_the_channel_messages(sandbox):
    posted = await sandbox.bot.web.chat_postMessage(channel="C0ALERTS", text="Sync started",
                                                    blocks=[{"type": "section", "text": {"type": "mrkdwn",
                                                                                         "text": "Sync *started*"}}])
    await sandbox.bot.web.chat_update(channel="C0ALERTS", ts=posted["ts"], text="Sync finished",
                                      blocks=[{"type": "divider"}])

    [message] = sandbox.state.messages("C0ALERTS")
    assert message["ts"] == posted["ts"] and message["text"] == "Sync finished"
    assert [b["type"] for b in message["blocks"]] == ["divider"] and message["edited"] is True
    await sandbox.bot.web.chat_delete(channel="C0ALERTS", ts=posted["ts"])
    assert sandbox.state.messages("C0ALERTS") == []


async def test_files_upload_v2_puts_the_file_in_the_dm_and_the_page_offers_it(sandbox):
    opened = await sandbox.bot.web.conversations_open(users="U0ADMIN")
    uploaded = await sandbox.bot.web.files_upload_v2(channel=opened["channel"]["id"], filename="audit.csv",
                                                     content=b"time,action\n2026-12-07,approved\n",
                                                     title="Audit trail", initial_comment="Here it is")

    assert uploaded["file"]["title"] == "Audit trail"
    [message] = [m for m in (await sandbox.snapshot("U0ADMIN"))["messages"]["D0ADMIN"] if m.get("files")]
    assert message["text"] == "Here it is" and message["files"][0]["name"] == "audit.csv"
    download = await sandbox.client.get(message["files"][0]["url_private"].split(str(sandbox.client.port))[1])
    assert download.status == 200 and "approved" in await download.text()
    with pytest.raises(SlackApiError) as never_uploaded:
        await sandbox.bot.web.files_completeUploadExternal(files=[{"id": "F404", "title": "x"}], channel_id="D0ADMIN")
    assert never_uploaded.value.response["error"] == "file_not_found"


async def test_web_api_errors_match_slack(sandbox):
    with pytest.raises(SlackApiError) as unknown_channel:
        await sandbox.bot.web.chat_postMessage(channel="C0NOPE", text="hi")
    assert unknown_channel.value.response["error"] == "channel_not_found"
    wrong_token = AsyncWebClient(token="xoxb-wrong", base_url=sandbox.bot.web.base_url)
    with pytest.raises(SlackApiError) as bad_auth:
        await wrong_token.auth_test()
    assert bad_auth.value.response["error"] == "invalid_auth"
    assert [c["response"].get("error") for c in sandbox.state.api_calls] == ["channel_not_found", "invalid_auth"]
    assert all("token" not in c["args"] for c in sandbox.state.api_calls)


async def test_directory_methods(sandbox):
    web_client = sandbox.bot.web
    assert (await web_client.auth_test())["user_id"] == "U0BOT"
    ada = (await web_client.users_info(user="U0ADMIN"))["user"]
    assert ada["is_admin"] and ada["is_owner"] and ada["real_name"] == "Ada Admin"
    assert not (await web_client.users_info(user="U0MEMBER"))["user"]["is_admin"]
    dm = (await web_client.conversations_open(users="U0MEMBER"))["channel"]["id"]
    assert dm.startswith("D")
    await web_client.chat_postMessage(channel=dm, text="Your export is ready")
    assert [m["text"] for m in (await sandbox.snapshot("U0MEMBER"))["messages"][dm]] == ["Your export is ready"]
    assert dm not in (await sandbox.snapshot("U0ADMIN"))["messages"]
    assert (await web_client.conversations_info(channel="C0APPROVALS"))["channel"]["name"] == "finance-approvals"
    groups = (await web_client.usergroups_list(include_users=True))["usergroups"]
    assert [(g["handle"], g["users"]) for g in groups] == [("finance-approvers", ["U0APPROVER"])]
    assert (await web_client.usergroups_users_list(usergroup="S0APPROVERS"))["users"] == ["U0APPROVER"]
    names = {m["id"] for m in (await web_client.users_list())["members"]}
    assert {"U0ADMIN", "U0APPROVER", "U0MEMBER"} <= names


# ---- modals -----------------------------------------------------------------------------------------
async def test_views_open_with_a_stale_trigger_fails_and_a_fresh_one_opens(sandbox):
    triggers: list[str] = []

    async def keep_trigger(body: dict[str, Any]) -> web.Response:
        triggers.append(body["trigger_id"])
        return web.Response(status=200)

    sandbox.bot.on("slash_command", keep_trigger)
    await sandbox.page("message", user="U0ADMIN", channel="C0GENERAL", text="/xero connect")
    sandbox.clock.now += 3.5
    with pytest.raises(SlackApiError) as stale:
        await sandbox.bot.web.views_open(trigger_id=triggers[0], view=MODAL_WITH_INPUT)
    with pytest.raises(SlackApiError) as unknown:
        await sandbox.bot.web.views_open(trigger_id="123.456.nope", view=MODAL_WITH_INPUT)
    assert stale.value.response["error"] == unknown.value.response["error"] == "expired_trigger_id"

    view_id = await open_modal_from_command(sandbox, MODAL_WITH_INPUT)
    [modal] = (await sandbox.snapshot("U0ADMIN"))["modals"]
    assert modal["view"]["id"] == view_id and modal["view"]["title"]["text"] == "Export invoice"
    assert (await sandbox.snapshot("U0APPROVER"))["modals"] == []


async def test_views_open_rejects_a_too_long_title(sandbox):
    view = {**MODAL_WITH_INPUT, "title": {"type": "plain_text", "text": "An export title that is far too long"}}

    async def open_view(body: dict[str, Any]) -> web.Response:
        with pytest.raises(SlackApiError) as error:
            await sandbox.bot.web.views_open(trigger_id=body["trigger_id"], view=view)
        assert error.value.response["error"] == "invalid_arguments"
        return web.Response(status=200)

    sandbox.bot.on("slash_command", open_view)
    await sandbox.page("message", user="U0ADMIN", channel="C0GENERAL", text="/xero export")
    assert sandbox.state.calls_to("views.open")[0]["response"]["ok"] is False


async def test_view_submission_errors_are_shown_and_keep_the_modal(sandbox):
    view_id = await open_modal_from_command(sandbox, MODAL_WITH_INPUT)

    empty = await sandbox.page("submit", user="U0ADMIN", view_id=view_id,
                               state_values={"invoice": {"number": {"type": "plain_text_input", "value": None}}})
    assert empty["errors"] == {"invoice": "Please complete this required field."}
    # Slack never bothers the app
    assert [b.get("type", "slash_command") for b in sandbox.bot.received] == ["slash_command"]

    sandbox.bot.on("view_submission", lambda body: asyncio.sleep(0, json_answer(
        {"response_action": "errors", "errors": {"invoice": "INV-999 does not exist in Xero"}})))
    values = {"invoice": {"number": {"type": "plain_text_input", "value": "INV-999"}}}
    await sandbox.page("submit", user="U0ADMIN", view_id=view_id, state_values=values)

    submission = sandbox.bot.received[-1]
    assert submission["type"] == "view_submission"
    assert submission["view"]["state"]["values"] == values
    assert submission["view"]["callback_id"] == "export_invoice"
    assert submission["view"]["private_metadata"] == "C0GENERAL"
    [modal] = (await sandbox.snapshot("U0ADMIN"))["modals"]
    assert modal["view"]["id"] == view_id and modal["errors"] == {"invoice": "INV-999 does not exist in Xero"}

    sandbox.bot.on("view_submission", lambda body: asyncio.sleep(0, web.Response(status=200)))
    await sandbox.page("submit", user="U0ADMIN", view_id=view_id, state_values=values)
    assert (await sandbox.snapshot("U0ADMIN"))["modals"] == []


async def test_submission_can_push_and_update_and_close_notifies(sandbox):
    view_id = await open_modal_from_command(sandbox, {**MODAL_WITH_INPUT, "notify_on_close": True})
    pushed = {"type": "modal", "title": {"type": "plain_text", "text": "Confirm"},
              "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Sure?"}}], "notify_on_close": True}
    sandbox.bot.on("view_submission", lambda body: asyncio.sleep(0, json_answer(
        {"response_action": "push", "view": pushed})))
    await sandbox.page("submit", user="U0ADMIN", view_id=view_id,
                       state_values={"invoice": {"number": {"type": "plain_text_input", "value": "INV-1"}}})
    stack = sandbox.state.modal_stack("U0ADMIN")
    assert [v["view"]["title"]["text"] for v in stack] == ["Export invoice", "Confirm"]
    assert stack[1]["view"]["previous_view_id"] == view_id

    await sandbox.page("close", user="U0ADMIN", view_id=stack[1]["view"]["id"])
    assert [v["view"]["id"] for v in sandbox.state.modal_stack("U0ADMIN")] == [view_id]
    closed = sandbox.bot.received[-1]
    assert closed["type"] == "view_closed" and closed["view"]["title"]["text"] == "Confirm"

    old_hash = stack[0]["view"]["hash"]
    updated = await sandbox.bot.web.views_update(view_id=view_id, hash=old_hash,
                                                 view={**MODAL_WITH_INPUT, "title": {"type": "plain_text",
                                                                                     "text": "Exporting…"}})
    assert updated["view"]["id"] == view_id
    with pytest.raises(SlackApiError) as conflict:
        await sandbox.bot.web.views_update(view_id=view_id, hash=old_hash, view=MODAL_WITH_INPUT)
    assert conflict.value.response["error"] == "hash_conflict"


# ---- interactivity ----------------------------------------------------------------------------------
APPROVAL_BLOCKS = [
    {"type": "section", "block_id": "choose", "text": {"type": "mrkdwn", "text": "Pick an organisation"},
     "accessory": {"type": "static_select", "action_id": "org", "placeholder": {"type": "plain_text", "text": "Org"},
                   "options": [{"text": {"type": "plain_text", "text": "Acme Ltd"}, "value": "org-1"},
                               {"text": {"type": "plain_text", "text": "Globex"}, "value": "org-2"}]}},
    {"type": "actions", "block_id": "decide", "elements": [
        {"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"},
         "style": "primary", "value": "INV-7"},
        {"type": "multi_static_select", "action_id": "tags", "placeholder": {"type": "plain_text", "text": "Tags"},
         "options": [{"text": {"type": "plain_text", "text": "Urgent"}, "value": "urgent"},
                     {"text": {"type": "plain_text", "text": "Travel"}, "value": "travel"}]}]},
]


async def test_block_actions_carry_the_selected_options_and_respond_replaces_the_message(sandbox):
    posted = await sandbox.bot.web.chat_postMessage(channel="C0APPROVALS", text="Approve?", blocks=APPROVAL_BLOCKS)
    responses: list[int] = []

    async def replace_message(body: dict[str, Any]) -> web.Response:
        async with aiohttp.ClientSession() as session:
            async with session.post(body["response_url"], json={"replace_original": True, "text": "Approved"}) as r:
                responses.append(r.status)
        return web.Response(status=200)

    sandbox.bot.on("block_actions", lambda body: asyncio.sleep(0, web.Response(status=200)))
    selected = [{"text": {"type": "plain_text", "text": "Urgent"}, "value": "urgent"}]
    result = await sandbox.page("action", user="U0APPROVER", channel="C0APPROVALS", message_ts=posted["ts"],
                                block_id="decide", action_id="tags",
                                selection={"type": "multi_static_select", "selected_options": selected})
    assert result["ok"] is True
    payload = sandbox.bot.received[-1]
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0APPROVER" and payload["team"]["id"] == "T0SANDBOX"
    assert payload["container"] == {"type": "message", "message_ts": posted["ts"], "channel_id": "C0APPROVALS",
                                    "is_ephemeral": False}
    assert payload["channel"]["id"] == "C0APPROVALS" and payload["message"]["ts"] == posted["ts"]
    [action] = payload["actions"]
    assert (action["type"], action["block_id"], action["action_id"]) == ("multi_static_select", "decide", "tags")
    assert action["selected_options"] == selected and action["action_ts"]

    sandbox.bot.on("block_actions", replace_message)
    await sandbox.page("action", user="U0APPROVER", channel="C0APPROVALS", message_ts=posted["ts"],
                       block_id="decide", action_id="approve")
    [action] = sandbox.bot.received[-1]["actions"]
    assert action["value"] == "INV-7" and action["text"]["text"] == "Approve"
    assert responses == [200]
    [message] = sandbox.state.messages("C0APPROVALS")
    assert message["ts"] == posted["ts"] and message["text"] == "Approved" and message["blocks"] == []


async def test_actions_in_a_modal_carry_the_view_state(sandbox):
    view = {**MODAL_WITH_INPUT, "blocks": MODAL_WITH_INPUT["blocks"] + APPROVAL_BLOCKS[:1]}
    view_id = await open_modal_from_command(sandbox, view)
    option = {"text": {"type": "plain_text", "text": "Globex"}, "value": "org-2"}
    values = {"invoice": {"number": {"type": "plain_text_input", "value": "INV-3"}},
              "choose": {"org": {"type": "static_select", "selected_option": option}}}

    await sandbox.page("action", user="U0ADMIN", view_id=view_id, block_id="choose", action_id="org",
                       selection={"type": "static_select", "selected_option": option}, state_values=values)

    payload = sandbox.bot.received[-1]
    assert payload["container"] == {"type": "view", "view_id": view_id}
    assert payload["view"]["state"]["values"] == values and "response_url" not in payload
    assert payload["actions"][0]["selected_option"] == option
    assert sandbox.state.use_trigger(payload["trigger_id"]) == "U0ADMIN"


async def test_external_select_options_are_requested_from_the_bot(sandbox):
    view = {**MODAL_WITH_INPUT, "blocks": [{
        "type": "input", "block_id": "contact", "label": {"type": "plain_text", "text": "Customer"},
        "element": {"type": "external_select", "action_id": "search", "min_query_length": 2}}]}
    view_id = await open_modal_from_command(sandbox, view)
    sandbox.bot.on("block_suggestion", lambda body: asyncio.sleep(0, json_answer({"options": [
        {"text": {"type": "plain_text", "text": f"{body['value']} Corp"}, "value": "c-1"}]})))

    result = await sandbox.page("options", user="U0ADMIN", view_id=view_id, block_id="contact",
                                action_id="search", value="Acme")

    request = sandbox.bot.received[-1]
    assert request["type"] == "block_suggestion" and request["value"] == "Acme"
    assert (request["action_id"], request["block_id"]) == ("search", "contact")
    assert request["view"]["id"] == view_id
    assert result["options"] == [{"text": {"type": "plain_text", "text": "Acme Corp"}, "value": "c-1"}]


async def test_response_url_posts_ephemerals_and_expires_after_five_uses(sandbox):
    urls: list[str] = []

    async def keep_url(body: dict[str, Any]) -> web.Response:
        urls.append(body["response_url"])
        return web.Response(status=200)

    sandbox.bot.on("slash_command", keep_url)
    await sandbox.page("message", user="U0MEMBER", channel="C0GENERAL", text="/xero import customers")
    async with aiohttp.ClientSession() as session:
        statuses = []
        for number in range(6):
            async with session.post(urls[0], json={"text": f"step {number}"}) as response:
                statuses.append(response.status)
    assert statuses == [200] * 5 + [404]
    assert [m["text"] for m in (await sandbox.snapshot("U0MEMBER"))["messages"]["C0GENERAL"]] == [
        f"step {n}" for n in range(5)]
    assert (await sandbox.snapshot("U0ADMIN"))["messages"]["C0GENERAL"] == []


# ---- persistence and live updates ---------------------------------------------------------------
async def test_state_survives_a_restart(tmp_path):
    first = await start_sandbox(tmp_path, FakeBot())
    try:
        posted = await first.bot.web.chat_postMessage(channel="C0GENERAL", text="Before restart")
        view_id = await open_modal_from_command(first, MODAL_WITH_INPUT)
    finally:
        await stop_sandbox(first)

    second = await start_sandbox(tmp_path, FakeBot())
    try:
        snapshot = await second.snapshot("U0ADMIN")
        assert [(m["ts"], m["text"]) for m in snapshot["messages"]["C0GENERAL"]] == [(posted["ts"], "Before restart")]
        assert [m["view"]["id"] for m in snapshot["modals"]] == [view_id]
    finally:
        await stop_sandbox(second)


async def test_the_page_hears_about_changes_through_server_sent_events(sandbox):
    async with sandbox.client.get("/slack/ui/stream", params={"user": "U0MEMBER"}) as stream:
        first = await stream.content.readuntil(b"\n\n")
        await sandbox.bot.web.chat_postMessage(channel="C0GENERAL", text="ping")
        second = await stream.content.readuntil(b"\n\n")
    assert first.startswith(b"event: changed")
    assert second.startswith(b"event: changed") and second != first


async def test_wait_for_returns_when_the_predicate_holds(sandbox):
    waiting = asyncio.ensure_future(sandbox.state.wait_for(
        lambda state: state.messages("C0ALERTS"), timeout=2))
    await sandbox.bot.web.chat_postMessage(channel="C0ALERTS", text="Xero sync failed")
    assert [m["text"] for m in await waiting] == ["Xero sync failed"]


async def test_the_page_and_its_assets_are_served(sandbox):
    page = await sandbox.client.get("/slack/")
    html = await page.text()
    assert page.status == 200 and "workspace.js" in html
    for asset in ("workspace.js", "workspace.css"):
        assert (await sandbox.client.get(f"/slack/static/{asset}")).status == 200


# ---- the real thing: a slack-bolt AsyncApp ---------------------------------------------------------
async def test_a_real_bolt_app_acks_responds_and_opens_modals(tmp_path):
    bolt = AsyncApp(signing_secret=SIGNING_SECRET,
                    client=AsyncWebClient(token=BOT_TOKEN, base_url="http://placeholder/api/"))

    @bolt.command("/xero")
    async def xero(ack, command, respond, client):
        await ack(f"Working on `{command['text']}`…")
        await respond(text="Done", replace_original=False)
        await client.views_open(trigger_id=command["trigger_id"], view=MODAL_WITH_INPUT)

    @bolt.view("export_invoice")
    async def export(ack, view):
        number = view["state"]["values"]["invoice"]["number"]["value"]
        await ack(response_action="errors", errors={"invoice": f"{number} not found"})

    sandbox = await start_sandbox(tmp_path, FakeBot(), bot_app=bolt.web_app())
    bolt.client.base_url = sandbox.bot.web.base_url
    try:
        await sandbox.page("message", user="U0MEMBER", channel="C0GENERAL", text="/xero export INV-1")
        [view] = await sandbox.state.wait_for(lambda state: state.modal_stack("U0MEMBER"))
        await sandbox.state.wait_for(lambda state: len(state.messages("C0GENERAL")) == 2)
        await sandbox.page("submit", user="U0MEMBER", view_id=view["view"]["id"],
                           state_values={"invoice": {"number": {"type": "plain_text_input", "value": "INV-1"}}})
        snapshot = await sandbox.snapshot("U0MEMBER")
    finally:
        await stop_sandbox(sandbox)
    # the ack and respond() race, as they do with Slack itself
    assert sorted(m["text"] for m in snapshot["messages"]["C0GENERAL"]) == ["Done", "Working on `export INV-1`…"]
    assert all(m["is_ephemeral"] for m in snapshot["messages"]["C0GENERAL"])
    assert snapshot["modals"][0]["errors"] == {"invoice": "INV-1 not found"}
    assert [c["method"] for c in sandbox.state.api_calls] == ["auth.test", "views.open"]


def test_the_page_shows_every_emoji_the_bot_uses():
    """An unknown :name: shows as literal text on the page (as ":rotating_light:" did on failure notices)."""
    import re

    root = ROOT
    script = (root / "sandbox/slack/static/workspace.js").read_text()
    table = script[script.index("const EMOJI = {"):]
    table = table[:table.index("};")]
    known = set(re.findall(r'"?([a-z0-9_+]+)"?:\s*"', table))
    used = {name for path in (root / "bot").rglob("*.py")
            for name in re.findall(r":([a-z][a-z0-9_]+):", path.read_text())}
    assert used - known == set()
