"""Sealed workspaces: whatever ids a request of workspace A carries, it never lists, exports, approves,
retries, imports or removes anything of workspace B. Hypothesis picks an action and one of B's ids; each is
sent signed through the real routes as an admin and approver of A.

B is the harness's workspace with an organisation connected and an export waiting for approval; A has its own
organisation. The examples are derandomized, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.platform.storage import Storage
from tests.support.export_flow import job_id_of, prepare, request
from tests.support.harness import start_harness, stop_harness
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import UK_CONNECTION, UK_TENANT, US, connect_organisations

B = TEAM_ID  # the victim
A = "T0ACME"  # the one sending B's ids
ADMIN = "U0LISTED"  # an admin (BOT_ADMINS) in A
B_ORGANISATION = "Demo Company (UK)"

SEALED = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class TwoWorkspaces:
    def __init__(self, mongo_uri: str):
        self.loop = asyncio.new_event_loop()
        self.storage = Storage(mongo_uri, f"sealed_{uuid.uuid4().hex[:12]}")
        self.run(self.storage.connect())
        self.xero = aioresponses(passthrough=["http://127.0.0.1"])
        self.xero.start()
        self.bot = self.run(start_harness(self.storage))
        self.run(self._set_up())

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    async def _set_up(self) -> None:
        await prepare(self.bot, self.xero)  # B: the UK organisation, settings, Forecast
        _, approval = await request(self.bot)
        self.job_id = job_id_of(approval)
        await connect_organisations(self.bot, self.xero, tenants=(US,), user=ADMIN, team=A)
        self.foreign_ids = [self.job_id, UK_TENANT, UK_CONNECTION, f"{UK_TENANT}|{self.job_id}", "INV-101"]

    async def snapshot(self) -> dict:
        """Everything of B's that A must not change."""
        strip = ("updated_at", "last_success_at", "needs_redraw", "posting", "fetched_at")
        state = {}
        for name in ("tenants", "export_jobs", "export_batches", "links", "workspace_settings", "token_sets"):
            docs = await self.storage.db[name].find({"team_id": B}).to_list(None)
            state[name] = sorted(json.dumps({k: v for k, v in d.items() if k not in strip}, default=str,
                                            sort_keys=True) for d in docs)
        return state

    async def taken_into_a(self) -> int:
        """What A holds of B's organisation: links, cached contacts, export requests routed to it."""
        found = 0
        for name in ("links", "xero_cache", "export_jobs", "tenants"):
            found += await self.storage.db[name].count_documents({"team_id": A, "tenant_id": UK_TENANT})
        return found

    def said_to_a(self, since: int) -> str:
        """Everything the bot said in A since call number `since`."""
        return json.dumps([c.args for c in self.bot.slack.calls[since:]], default=str)

    def close(self) -> None:
        self.run(stop_harness(self.bot))
        self.run(self.storage.client.drop_database(self.storage.db.name))
        self.run(self.storage.close())
        self.xero.stop()
        self.loop.close()


@pytest.fixture(scope="module")
def two(mongo_uri):
    workspaces = TwoWorkspaces(mongo_uri)
    yield workspaces
    workspaces.close()


# What A may try, each with one of B's ids --------------------------------------------------------------------

async def click(bot, action_id: str, foreign: str):
    await bot.click(action_id, foreign, user=ADMIN, channel="C0APPROVALS", team=A,
                    message={"ts": "1.0", "text": "", "blocks": []})


async def command(bot, text: str):
    await bot.ask(text, user=ADMIN, team=A)


async def remove_submission(bot, foreign: str):
    view = {"type": "modal", "callback_id": "remove_tenant_confirm",
            "private_metadata": json.dumps({"tenant_id": foreign, "channel_id": "C0GENERAL"})}
    await bot.submit(view, user=ADMIN, team=A)


async def import_submission(bot, foreign: str):
    tenant, _, record = foreign.partition("|")
    value = f"{tenant}|{record or 'contact-1'}"
    view = {"type": "modal", "callback_id": "import_customers",
            "private_metadata": json.dumps({"channel_id": "C0GENERAL"})}
    values = {"import_customers_pick": {"import_customers_search": {
        "type": "multi_external_select", "selected_options": [{"value": value, "text": {"type": "plain_text",
                                                                                         "text": "x"}}]}}}
    await bot.submit(view, user=ADMIN, team=A, values=values)


async def options(bot, foreign: str) -> dict:
    return await bot.suggest("import_customers_search", foreign, user=ADMIN, team=A)


ACTIONS = {
    "list": lambda bot, foreign: command(bot, "list"),
    "export": lambda bot, foreign: command(bot, f"export {foreign}"),
    "remove command": lambda bot, foreign: command(bot, f"remove {B_ORGANISATION}"),  # B's name, typed
    "approve": lambda bot, foreign: click(bot, "export_approve", foreign),
    "reject": lambda bot, foreign: click(bot, "export_reject", foreign),
    "retry": lambda bot, foreign: click(bot, "export_retry", foreign),
    "approve on Home": lambda bot, foreign: click(bot, "home_approve", foreign),
    "approve batch": lambda bot, foreign: click(bot, "batch_approve_all", foreign),
    "open removal": lambda bot, foreign: click(bot, "remove_tenant_open", foreign),
    "submit removal": remove_submission,
    "submit import": import_submission,
    "options query": options,
}


@SEALED
@given(action=st.sampled_from(sorted(ACTIONS)), pick=st.integers(min_value=0, max_value=4))
def test_a_request_of_one_workspace_never_reaches_anothers(two, action, pick):
    foreign = two.foreign_ids[pick]
    before = two.run(two.snapshot())
    since = len(two.bot.slack.calls)

    answer = two.run(ACTIONS[action](two.bot, foreign))
    two.run(asyncio.sleep(0.2))  # what listeners do after their ack
    two.run(two.bot.container.runner.drain())

    assert two.run(two.snapshot()) == before, action
    said = two.said_to_a(since) + json.dumps(answer or {})
    if action == "remove command":  # "No connected organisation is called …": A's own words, said back
        said = said.replace(f"called \\u201c{B_ORGANISATION}\\u201d", "")
    assert B_ORGANISATION not in said, (action, foreign)
    assert two.run(two.taken_into_a()) == 0, action
