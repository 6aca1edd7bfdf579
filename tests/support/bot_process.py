"""The real bot as its own process (`python app.py`), to be killed with SIGKILL and started again.

It runs against the sandbox stand-ins served by the test process (Slack, Xero, Forecast) and the test's
MongoDB database, with a short job lease (JOB_LEASE_SECONDS) so a dead process's jobs are taken over fast.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp import web

from app import start_site
from sandbox.server import SIGNING_SECRET, STAND_INS, SandboxPlan, create_sandbox_app
from sandbox.slack.state import TEAM
from services.platform.crypto import generate_key
from services.platform.storage import free_port
from tests.support.signing import command_body, payload_body, signed_headers

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 1.5
ADMIN = "U0ADMIN"


def bot_env(plan: SandboxPlan, mongo_uri: str, database: str, key: str, port: int, **extra: str) -> dict[str, str]:
    settings = {**plan.bot_settings(), "port": port, "mongodb_uri": mongo_uri, "mongodb_db": database,
                "token_encryption_key": key, "job_lease_seconds": LEASE_SECONDS, "import_claim_seconds": 2,
                "log_level": "WARNING", "data_dir": "/tmp"}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp"}
    env.update({name.upper(): str(value) for name, value in settings.items() if value is not None})
    env.update(extra)
    return env


@dataclass
class BotProcess:
    """One bot process; `start()` again after `kill()` is a restart (a new process, the same database)."""

    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen | None = None
    kills: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, **extra_env: str) -> BotProcess:
        env = {**self.env, "PORT": str(self.port), **extra_env}
        log = open(self.log_path, "a")
        self.process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=ROOT,
                                        stdout=log, stderr=subprocess.STDOUT)
        await self._wait_healthy()
        return self

    async def _wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the bot exited with {self.process.returncode}; see {self.log_path}")
                try:
                    async with http.get(f"{self.url}/healthz") as answer:
                        if answer.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError(f"the bot did not start; see {self.log_path}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> bool:
        """SIGKILL, as `kill -9` or a lost container does; True when it was still running (a real kill)."""
        if self.process is None:
            return False
        was_alive = self.process.poll() is None
        if was_alive:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        if was_alive:
            self.kills += 1
        self.process = None
        return was_alive

    async def wait_dead(self, timeout: float = 30.0) -> bool:
        """For a crash hook (BOT_CRASH_AT): waits until the process killed itself."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                killed = self.process.returncode == -signal.SIGKILL
                self.kills += int(killed)
                self.process = None
                return killed
            await asyncio.sleep(0.02)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class StandIns:
    """The sandbox's Slack, Xero and Forecast stand-ins, served by the test process."""

    plan: SandboxPlan
    app: web.Application
    runner: web.AppRunner
    http: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)

    @property
    def slack(self):
        from sandbox.slack import SLACK_STATE

        return self.app[STAND_INS].slack[SLACK_STATE]

    @property
    def socket_hub(self):
        """Socket Mode's side of the Slack stand-in (stand-ins started with socket_mode=True)."""
        from sandbox.slack import SLACK_DISPATCHER

        return self.app[STAND_INS].slack[SLACK_DISPATCHER].hub

    @property
    def xero(self):
        from sandbox.xero import XERO_STATE

        return self.app[STAND_INS].xero[XERO_STATE]

    @property
    def forecast(self):
        from sandbox.forecast import FORECAST_STORE

        return self.app[STAND_INS].forecast[FORECAST_STORE]

    async def ui(self, path: str, **body) -> dict:
        """What a person does on the sandbox Slack page (types, clicks, submits)."""
        async with self.http.post(f"{self.plan.sandbox_url}/slack/ui/{path}", json=body) as answer:
            return await answer.json(content_type=None)

    async def close(self) -> None:
        await self.http.close()
        await self.runner.cleanup()


async def start_stand_ins(*, socket_mode: bool = False) -> StandIns:
    plan = SandboxPlan(data_dir=None, bot_port=free_port(), sandbox_port=free_port(), socket_mode=socket_mode)
    app = create_sandbox_app(plan)
    runner = await start_site(app, plan.host, plan.sandbox_port)
    return StandIns(plan, app, runner)


def new_bot(stand_ins: StandIns, mongo_uri: str, database: str, log_dir: Path, *, port: int | None = None,
            name: str = "bot", key: str | None = None, distributed: bool = False) -> BotProcess:
    """`distributed`: Add to Slack (each workspace installs the app, no SLACK_BOT_TOKEN)."""
    port = port or stand_ins.plan.bot_port
    env = bot_env(stand_ins.plan, mongo_uri, database, key or generate_key(), port)
    if distributed:
        from sandbox.slack.installs import CLIENT_ID, CLIENT_SECRET

        del env["SLACK_BOT_TOKEN"]
        env.update(SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET,
                   SLACK_REDIRECT_URI=f"http://127.0.0.1:{port}/slack/oauth_redirect",
                   SLACK_AUTHORIZE_URL=f"{stand_ins.plan.sandbox_url}/slack/oauth/v2/authorize")
    return BotProcess(env=env, port=port, log_path=log_dir / f"{name}.log")


async def install_workspace(stand_ins: StandIns, bot: BotProcess, team_id: str) -> None:
    """Add to Slack from the bot's install page, Allow on the sandbox's consent page for `team_id`, back."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser:
        async with browser.get(f"{bot.url}/slack/install") as page:
            html = await page.text()
            cookie = page.cookies["slack-app-oauth-state"].value  # Secure: a browser on http sends it to localhost
        url = html.split("id='add-to-slack' href='", 1)[1].split("'", 1)[0].replace("&amp;", "&")
        form = dict(parse_qsl(urlsplit(url).query))
        async with browser.post(f"{stand_ins.plan.sandbox_url}/slack/oauth/v2/authorize", allow_redirects=False,
                                data={**form, "team": team_id, "decision": "allow"}) as consent:
            back = consent.headers["Location"]
        async with browser.get(back, headers={"Cookie": f"slack-app-oauth-state={cookie}"}) as answer:
            assert answer.status == 200 and 'id="installed"' in await answer.text(), await answer.text()


# What a person does, and what the tests wait for -------------------------------------


async def eventually(check, timeout: float = 40.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {check.__name__}")
        await asyncio.sleep(every)


def uk_tenant(stand_ins: StandIns) -> str:
    return next(tid for tid, org in stand_ins.xero.organisations.items() if "(UK)" in org["Name"])


async def connect_uk(stand_ins: StandIns, storage) -> None:
    """/xero connect as Ada, then Allow access for the UK organisation on Xero's consent page."""
    answer = await stand_ins.ui("message", user=ADMIN, channel="C0GENERAL", text="/xero connect")
    assert answer.get("ok"), answer

    async def prompt_shown():  # the answer comes through the response_url, a moment after the command
        return next((m for m in stand_ins.slack.messages("C0GENERAL", viewer=ADMIN) if "Connect" in m["text"]), None)

    prompt = await eventually(prompt_shown)
    url = next(e["url"] for b in prompt["blocks"] if b.get("accessory") for e in [b["accessory"]] if e.get("url"))
    form = dict(parse_qsl(urlsplit(url).query))
    async with stand_ins.http.post(f"{stand_ins.plan.sandbox_url}/xero/identity/connect/authorize",
                                   data={**form, "decision": "allow", "tenant": uk_tenant(stand_ins)}) as answer:
        assert answer.status == 200, await answer.text()  # followed the redirect to the bot's callback
    assert await storage.tenants.count_documents({"status": "connected"}) == 1


def add_invoices(stand_ins: StandIns, count: int, first: int = 9001) -> list[str]:
    """More Forecast invoices like INV-101 (Acme Corporation, GBP), one per run."""
    template = next(i for i in stand_ins.forecast.rows("invoices") if i["invoice_reference"] == "INV-101")
    references = []
    for number in range(first, first + count):
        invoice = copy.deepcopy(template)
        invoice.update(id=number * 10, company_invoice_id=number, invoice_reference=f"INV-{number}")
        stand_ins.forecast.rows("invoices").append(invoice)
        references.append(f"INV-{number}")
    return references


def invoices_in_xero(stand_ins: StandIns, reference: str) -> list[dict]:
    return [i for org in stand_ins.xero.organisations.values() for i in org["Invoices"].values()
            if i.get("InvoiceNumber") == reference]


# A second installed workspace, driven by signed requests as Slack sends them -------------

GLOBEX = "T0GLOBEX"  # "Globex Finance", beside the sandbox's own workspace


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
