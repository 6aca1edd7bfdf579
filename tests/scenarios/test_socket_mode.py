"""Socket Mode: the real bot process (SLACK_APP_TOKEN set) takes Slack's requests over the sandbox's socket.

A whole export goes through it, and the socket drops while the command is on its way, before its ack:
the stand-in delivers the envelope again on the bot's new socket, and the export is requested once.
"""

from __future__ import annotations

import json

import pytest

from tests.support.bot_process import connect_uk, eventually, invoices_in_xero, new_bot, start_stand_ins

APPROVER = "U0APPROVER"


@pytest.fixture
async def socket_stand_ins():
    running = await start_stand_ins(socket_mode=True)
    yield running
    await running.close()


@pytest.fixture
async def socket_bot(socket_stand_ins, mongo_uri, storage, tmp_path):
    bot = new_bot(socket_stand_ins, mongo_uri, storage.db.name, tmp_path)
    await bot.start()
    assert await socket_stand_ins.socket_hub.wait_connected(20), "the bot opened no socket"
    yield bot
    bot.stop()


def said_to(stand_ins, user: str, channel: str, words: str) -> list[dict]:
    return [m for m in stand_ins.slack.messages(channel, viewer=user) if words in m["text"] + json.dumps(m["blocks"])]


async def test_the_bot_serves_no_slack_endpoint_in_socket_mode(socket_stand_ins, socket_bot):
    async with socket_stand_ins.http.post(f"{socket_bot.url}/slack/events", data="x") as answer:
        assert answer.status == 404
    async with socket_stand_ins.http.get(f"{socket_bot.url}/healthz") as answer:
        assert answer.status == 200


async def test_help_is_answered_in_the_ack_over_the_socket(socket_stand_ins, socket_bot):
    answer = await socket_stand_ins.ui("message", user="U0MEMBER", channel="C0GENERAL", text="/xero help")
    assert answer == {"ok": True}
    assert said_to(socket_stand_ins, "U0MEMBER", "C0GENERAL", "/xero connect")  # shown from the ack's payload
    request = socket_stand_ins.slack.bot_requests[-1]
    assert request["socket_mode"] and "/xero connect" in request["body"]


async def test_an_export_over_socket_mode_survives_a_dropped_socket_and_runs_once(socket_stand_ins, socket_bot,
                                                                                  storage):
    stand_ins, hub = socket_stand_ins, socket_stand_ins.socket_hub
    await connect_uk(stand_ins, storage)
    sockets_before = hub.connections_opened

    hub.drop_before_ack(1)
    answer = await stand_ins.ui("message", user="U0MEMBER", channel="C0GENERAL", text="/xero export INV-101")
    assert answer == {"ok": True}  # acknowledged: by the redelivery, on the bot's new socket
    assert hub.connections_opened == sockets_before + 1
    assert max(hub.deliveries.values()) == 2  # the same envelope, twice

    async def asked_for_approval():
        return said_to(stand_ins, "U0MEMBER", "C0GENERAL", "C0APPROVALS")

    await eventually(asked_for_approval, timeout=30)
    assert await storage.export_jobs.count_documents({}) == 1
    job = await storage.export_jobs.find_one({})

    async def approval_posted():
        stored = await storage.export_jobs.find_one({"_id": job["_id"]})
        return stored if stored.get("approval_ts") else None

    job = await eventually(approval_posted)
    message = stand_ins.slack.find_message("C0APPROVALS", job["approval_ts"])
    block = next(b for b in message["blocks"] if b.get("type") == "actions"
                 and any(e.get("action_id") == "export_approve" for e in b["elements"]))
    clicked = await stand_ins.ui("action", user=APPROVER, block_id=block["block_id"], action_id="export_approve",
                                 channel="C0APPROVALS", message_ts=job["approval_ts"])
    assert clicked.get("ok"), clicked

    async def exported():
        return (await storage.export_jobs.find_one({"_id": job["_id"]}))["state"] == "exported"

    await eventually(exported, timeout=30)
    assert len(invoices_in_xero(stand_ins, "INV-101")) == 1
    assert len(said_to(stand_ins, "U0MEMBER", "C0GENERAL", "C0APPROVALS")) == 1  # one answer to the requester
    approvals = [m for m in stand_ins.slack.messages("C0APPROVALS") if "INV-101" in json.dumps(m["blocks"])]
    assert len(approvals) == 1
