"""Two bot processes on one database: the database, not luck, makes one request and one export per invoice.

They serve two installed workspaces (Add to Slack), the sandbox's own and "Globex Finance", exporting at the
same time: each invoice is requested and exported once, by its own workspace, with its own Slack token."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from urllib.parse import parse_qsl, urlsplit

import pytest

from sandbox.server import SIGNING_SECRET
from sandbox.slack.state import TEAM
from services.platform.crypto import generate_key
from services.platform.storage import free_port
from tests.support.bot_process import (
    BotProcess,
    add_invoices,
    connect_uk,
    eventually,
    install_workspace,
    invoices_in_xero,
    new_bot,
    uk_tenant,
)
from tests.support.signing import command_body, payload_body, signed_headers

GLOBEX = "T0GLOBEX"  # a second workspace that installed the app


@pytest.fixture
async def two_bots(stand_ins, mongo_uri, storage, tmp_path):
    key = generate_key()  # replicas share the token encryption key, as they share the database
    first = new_bot(stand_ins, mongo_uri, storage.db.name, tmp_path, name="first", key=key, distributed=True)
    second = new_bot(stand_ins, mongo_uri, storage.db.name, tmp_path, name="second", key=key, port=free_port(),
                     distributed=True)
    await asyncio.gather(first.start(), second.start())
    await install_workspace(stand_ins, first, TEAM["id"])
    await install_workspace(stand_ins, second, GLOBEX)
    yield first, second
    first.stop()
    second.stop()


async def send(stand_ins, bot: BotProcess, body: str) -> int:
    async with stand_ins.http.post(f"{bot.url}/slack/events", data=body,
                                   headers=signed_headers(body, secret=SIGNING_SECRET)) as answer:
        return answer.status


def response_url(stand_ins, user: str, channel: str, ts: str | None = None) -> str:
    token = stand_ins.slack.new_response_url_token(channel_id=channel, user_id=user, message_ts=ts)
    return f"{stand_ins.plan.sandbox_url}/slack/response/{token}"


async def export_command(stand_ins, bot: BotProcess, reference: str, team: str = TEAM["id"]) -> int:
    body = command_body(f"export {reference}", user_id="U0MEMBER", team_id=team, channel_id="C0GENERAL",
                        response_url=response_url(stand_ins, "U0MEMBER", "C0GENERAL"))
    return await send(stand_ins, bot, body)


async def connect_uk_from(stand_ins, bot: BotProcess, team: str) -> None:
    """/xero connect as Ada in `team`, then Allow access for the UK organisation on Xero's consent page."""
    def prompts() -> list[dict]:
        return [m for m in stand_ins.slack.messages("C0GENERAL", viewer="U0ADMIN") if "Connect" in m["text"]]

    before = len(prompts())
    body = command_body("connect", user_id="U0ADMIN", team_id=team, channel_id="C0GENERAL",
                        response_url=response_url(stand_ins, "U0ADMIN", "C0GENERAL"))
    async with stand_ins.http.post(f"{bot.url}/slack/events", data=body,
                                   headers=signed_headers(body, secret=SIGNING_SECRET)) as answer:
        assert answer.status == 200
        acked = await answer.json(content_type=None) if answer.content_length else None

    async def prompt_shown():
        return acked if acked and acked.get("blocks") else (prompts()[before] if len(prompts()) > before else None)

    prompt = await eventually(prompt_shown)
    url = next(b["accessory"]["url"] for b in prompt["blocks"] if b.get("accessory", {}).get("url"))
    form = dict(parse_qsl(urlsplit(url).query))
    async with stand_ins.http.post(f"{stand_ins.plan.sandbox_url}/xero/identity/connect/authorize",
                                   data={**form, "decision": "allow", "tenant": uk_tenant(stand_ins)}) as answer:
        assert answer.status == 200, await answer.text()


async def approve_click(stand_ins, bot: BotProcess, job: dict, user: str) -> int:
    team = job["team_id"]
    payload = {"type": "block_actions", "team": {"id": team}, "api_app_id": "A0SANDBOX", "token": "x",
               "user": {"id": user, "team_id": team}, "trigger_id": f"t-{user}",
               "channel": {"id": "C0APPROVALS"}, "container": {"type": "message", "channel_id": "C0APPROVALS",
                                                              "message_ts": job["approval_ts"]},
               "message": {"ts": job["approval_ts"], "text": "", "blocks": []},
               "response_url": response_url(stand_ins, user, "C0APPROVALS", job["approval_ts"]),
               "actions": [{"type": "button", "action_id": "export_approve", "block_id": "b",
                            "value": job["_id"], "action_ts": "1.1"}]}
    return await send(stand_ins, bot, payload_body(payload))


def approval_messages(stand_ins) -> Counter:
    """How many approval messages each invoice got, by the workspace whose token posted it."""
    counts: Counter = Counter()
    for call in stand_ins.slack.calls_to("chat.postMessage"):
        if call["args"].get("channel") != "C0APPROVALS" or not call["response"].get("ok"):
            continue
        shown = json.dumps(call["args"].get("blocks"))
        for word in shown.split('"'):
            if word.startswith("Export INV-"):
                counts[(call["team"], word.split()[1].rstrip("?"))] += 1
                break
    return counts


async def test_fifty_concurrent_requests_across_two_processes_make_one_request_each(stand_ins, storage, two_bots):
    first, second = two_bots
    await connect_uk(stand_ins, storage)
    await connect_uk_from(stand_ins, second, GLOBEX)  # the same Xero organisation: a connection of its own
    assert await storage.tenants.count_documents({"status": "connected"}) == 2
    references = add_invoices(stand_ins, 25, first=7001)
    theirs = add_invoices(stand_ins, 10, first=8001)
    owner = {**{reference: TEAM["id"] for reference in references}, **{reference: GLOBEX for reference in theirs}}
    statuses = await asyncio.gather(*(export_command(stand_ins, bot, reference, owner[reference])
                                      for reference in owner for bot in (first, second)))
    assert statuses == [200] * 70

    async def all_posted():
        return await storage.export_jobs.count_documents({"approval_ts": {"$ne": None}}) == 35

    await eventually(all_posted, timeout=60)
    per_invoice = Counter([(job["team_id"], job["reference"]) async for job in storage.export_jobs.find({})])
    assert per_invoice == Counter({(team, reference): 1 for reference, team in owner.items()})
    await asyncio.sleep(1.0)  # a second approval message would have been posted by now
    assert approval_messages(stand_ins) == Counter({(team, reference): 1 for reference, team in owner.items()})

    # Two approvers click Approve at the same moment, each reaching another process, in both workspaces.
    clicked = references[:5] + theirs[:3]
    jobs = [await storage.export_jobs.find_one({"reference": reference}) for reference in clicked]
    statuses = await asyncio.gather(*(click for job in jobs for click in (
        approve_click(stand_ins, first, job, "U0ADMIN"), approve_click(stand_ins, second, job, "U0APPROVER"))))
    assert statuses == [200] * 16

    async def all_exported():
        return await storage.export_jobs.count_documents({"state": "exported"}) == 8

    await eventually(all_exported, timeout=60)
    for job, reference in zip(jobs, clicked, strict=True):
        assert len(invoices_in_xero(stand_ins, reference)) == 1
        approvals = await storage.job_events.count_documents({"job_id": job["_id"], "to_state": "approved"})
        assert approvals == 1
    assert await storage.export_jobs.count_documents({"state": "pending"}) == 27

