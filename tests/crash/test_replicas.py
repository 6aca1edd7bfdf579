"""Two bot processes on one database: the database, not luck, makes one request and one export per invoice."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

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
    invoices_in_xero,
    new_bot,
)
from tests.support.signing import command_body, payload_body, signed_headers


@pytest.fixture
async def two_bots(stand_ins, mongo_uri, storage, tmp_path):
    key = generate_key()  # replicas share the token encryption key, as they share the database
    first = new_bot(stand_ins, mongo_uri, storage.db.name, tmp_path, name="first", key=key)
    second = new_bot(stand_ins, mongo_uri, storage.db.name, tmp_path, name="second", key=key, port=free_port())
    await asyncio.gather(first.start(), second.start())
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


async def export_command(stand_ins, bot: BotProcess, reference: str) -> int:
    body = command_body(f"export {reference}", user_id="U0MEMBER", team_id=TEAM["id"], channel_id="C0GENERAL",
                        response_url=response_url(stand_ins, "U0MEMBER", "C0GENERAL"))
    return await send(stand_ins, bot, body)


async def approve_click(stand_ins, bot: BotProcess, job: dict, user: str) -> int:
    payload = {"type": "block_actions", "team": {"id": TEAM["id"]}, "api_app_id": "A0SANDBOX", "token": "x",
               "user": {"id": user, "team_id": TEAM["id"]}, "trigger_id": f"t-{user}",
               "channel": {"id": "C0APPROVALS"}, "container": {"type": "message", "channel_id": "C0APPROVALS",
                                                              "message_ts": job["approval_ts"]},
               "message": {"ts": job["approval_ts"], "text": "", "blocks": []},
               "response_url": response_url(stand_ins, user, "C0APPROVALS", job["approval_ts"]),
               "actions": [{"type": "button", "action_id": "export_approve", "block_id": "b",
                            "value": job["_id"], "action_ts": "1.1"}]}
    return await send(stand_ins, bot, payload_body(payload))


def approval_messages(stand_ins) -> Counter:
    """How many approval messages each invoice got."""
    counts: Counter = Counter()
    for message in stand_ins.slack.messages("C0APPROVALS"):
        shown = json.dumps(message.get("blocks"))
        for word in shown.split('"'):
            if word.startswith("Export INV-"):
                counts[word.split()[1].rstrip("?")] += 1
                break
    return counts


async def test_fifty_concurrent_requests_across_two_processes_make_one_request_each(stand_ins, storage, two_bots):
    first, second = two_bots
    await connect_uk(stand_ins, storage)
    references = add_invoices(stand_ins, 25, first=7001)
    statuses = await asyncio.gather(*(export_command(stand_ins, bot, reference)
                                      for reference in references for bot in (first, second)))
    assert statuses == [200] * 50

    async def all_posted():
        return await storage.export_jobs.count_documents({"approval_ts": {"$ne": None}}) == 25

    await eventually(all_posted, timeout=60)
    per_invoice = Counter([job["reference"] async for job in storage.export_jobs.find({})])
    assert per_invoice == Counter({reference: 1 for reference in references})
    await asyncio.sleep(1.0)  # a second approval message would have been posted by now
    assert approval_messages(stand_ins) == Counter({reference: 1 for reference in references})

    # Two approvers click Approve at the same moment, each reaching another process.
    clicked = references[:5]
    jobs = [await storage.export_jobs.find_one({"reference": reference}) for reference in clicked]
    statuses = await asyncio.gather(*(click for job in jobs for click in (
        approve_click(stand_ins, first, job, "U0ADMIN"), approve_click(stand_ins, second, job, "U0APPROVER"))))
    assert statuses == [200] * 10

    async def all_exported():
        return await storage.export_jobs.count_documents({"state": "exported"}) == 5

    await eventually(all_exported, timeout=60)
    for job, reference in zip(jobs, clicked, strict=True):
        assert len(invoices_in_xero(stand_ins, reference)) == 1
        approvals = await storage.job_events.count_documents({"job_id": job["_id"], "to_state": "approved"})
        assert approvals == 1
    assert await storage.export_jobs.count_documents({"state": "pending"}) == 20
