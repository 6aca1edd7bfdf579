"""One local server for the three stand-ins, and the settings that point the real bot at them.

    /slack/             the Slack workspace page, its Web API at /slack/api/
    /xero/              Xero's consent page, token endpoint, identity and accounting APIs, a browse page
    /forecast/api/v1/   Forecast's REST API with demo data, and an overview page
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from sandbox.forecast import create_forecast_app
from sandbox.slack import create_slack_app
from sandbox.xero import create_xero_app

SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox-bot-token"
APP_TOKEN = "xapp-1-sandbox-app-token"  # Socket Mode's app-level token
XERO_CLIENT_ID = "sandbox-client"
XERO_CLIENT_SECRET = "sandbox-secret"
FORECAST_API_KEY = "sandbox-forecast-key"
XERO_WEBHOOK_KEY = "sandbox-xero-webhook-key"
APPROVAL_CHANNEL = "C0APPROVALS"
NOTIFY_CHANNEL = "C0ALERTS"


@dataclass(frozen=True)
class SandboxPlan:
    data_dir: Path | None  # None keeps everything in memory (tests)
    host: str = "127.0.0.1"
    bot_port: int = 3000
    sandbox_port: int = 3001
    socket_mode: bool = False  # Slack's requests over the bot's socket, not POSTed to it

    @property
    def bot_url(self) -> str:
        return f"http://{self.host}:{self.bot_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.host}:{self.sandbox_port}"

    @property
    def workspace_url(self) -> str:
        return f"{self.sandbox_url}/slack/"

    def bot_settings(self) -> dict:
        """What the bot's Settings become: the same code as production, other URLs."""
        base = self.sandbox_url
        return {
            "host": self.host,
            "port": self.bot_port,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_bot_token": BOT_TOKEN,
            "slack_api_url": f"{base}/slack/api/",
            "xero_client_id": XERO_CLIENT_ID,
            "xero_client_secret": XERO_CLIENT_SECRET,
            "xero_redirect_uri": f"{self.bot_url}/xero/callback",
            "xero_authorize_url": f"{base}/xero/identity/connect/authorize",
            "xero_token_url": f"{base}/xero/connect/token",
            "xero_api_url": f"{base}/xero/api",
            "xero_web_url": f"{base}/xero/app",
            "xero_webhook_key": XERO_WEBHOOK_KEY,
            "forecast_api_url": f"{base}/forecast/api/v1",
            "forecast_api_key": FORECAST_API_KEY,
            "approval_channel": APPROVAL_CHANNEL,
            "notify_channel": NOTIFY_CHANNEL,
            "forecast_watch_minutes": 0.1,  # Forecast read every 6 s: an approval there is asked for at once
            "mongodb_uri": None,  # never the production database
            "slack_app_token": APP_TOKEN if self.socket_mode else None,
        }


def _sub_dir(plan: SandboxPlan, name: str) -> Path | None:
    if plan.data_dir is None:
        return None
    path = plan.data_dir / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class StandIns:
    slack: web.Application
    xero: web.Application
    forecast: web.Application


STAND_INS = web.AppKey("stand_ins", StandIns)


def create_sandbox_app(plan: SandboxPlan) -> web.Application:
    stand_ins = StandIns(
        slack=create_slack_app(
            _sub_dir(plan, "slack"), bot_events_url=f"{plan.bot_url}/slack/events", signing_secret=SIGNING_SECRET,
            bot_token=BOT_TOKEN, public_base_url=f"{plan.sandbox_url}/slack",
            app_token=APP_TOKEN if plan.socket_mode else None),
        xero=create_xero_app(
            _sub_dir(plan, "xero"), client_id=XERO_CLIENT_ID, client_secret=XERO_CLIENT_SECRET,
            public_base_url=f"{plan.sandbox_url}/xero", redirect_uris=[f"{plan.bot_url}/xero/callback"],
            webhook_url=f"{plan.bot_url}/xero/webhooks", webhook_key=XERO_WEBHOOK_KEY),
        forecast=create_forecast_app(_sub_dir(plan, "forecast"), api_key=FORECAST_API_KEY),
    )
    root = web.Application()
    root[STAND_INS] = stand_ins  # tests reach each stand-in's state through it
    root.add_subapp("/slack", stand_ins.slack)
    root.add_subapp("/xero", stand_ins.xero)
    root.add_subapp("/forecast/api/v1", stand_ins.forecast)

    async def to_workspace(request: web.Request) -> web.Response:
        raise web.HTTPFound("/slack/")

    root.router.add_get("/", to_workspace)
    return root
