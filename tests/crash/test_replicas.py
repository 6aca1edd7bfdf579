"""Two bot processes on one database: the database, not luck, makes one request and one export per invoice.

They serve two installed workspaces (Add to Slack), the sandbox's own and "Globex Finance", exporting at the
same time: each invoice is requested and exported once, by its own workspace, with its own Slack token."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from sandbox.slack.state import TEAM
from services.platform.crypto import generate_key
from services.platform.storage import free_port
from tests.support.bot_process import (
    GLOBEX,
    add_invoices,
    approval_messages,
    approve_click,
    connect_uk,
    connect_uk_from,
    eventually,
    export_command,
    install_workspace,
    invoices_in_xero,
    new_bot,
)


@pytest.fixture
async def two_bots(stand_ins, mongo_uri, storage, tmp_path):
    key = generate_key()  # replicas share the token encryption key, as they share the database
    first = new_bot(stand_ins, mongo_uri, storage.db.name, tmp_path, name="first", key=key, distributed=True)
    second = new_bot(stand_ins, mongo_uri, storage.db.name, tmp_path, name="second", key=key, port=free_port(),
                     distributed=True)
    try:  # stopped even when the start or an install fails
        await asyncio.gather(first.start(), second.start())
        await install_workspace(stand_ins, first, TEAM["id"])
        await install_workspace(stand_ins, second, GLOBEX)
        yield first, second
    finally:
        first.stop()
        second.stop()


async def test_fifty_concurrent_requests_across_two_processes_make_one_request_each(stand_ins, storage, two_bots):
    first, second = two_bots
    await connect_uk(stand_ins, storage)
    await connect_uk_from(stand_ins, second, GLOBEX)  # the same Xero organisation: a connection of its own
    assert await storage.tenants.count_documents({"status": "connected"}) == 2
    references = add_invoices(stand_ins, 18, first=7001)  # 25 invoices, each asked for by both processes: 50
    theirs = add_invoices(stand_ins, 7, first=8001)
    owner = {**{reference: TEAM["id"] for reference in references}, **{reference: GLOBEX for reference in theirs}}
    statuses = await asyncio.gather(*(export_command(stand_ins, bot, reference, owner[reference])
                                      for reference in owner for bot in (first, second)))
    assert statuses == [200] * 50

    async def all_posted():
        return await storage.export_jobs.count_documents({"approval_ts": {"$ne": None}}) == 25

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
    assert await storage.export_jobs.count_documents({"state": "pending"}) == 17

