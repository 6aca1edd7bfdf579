"""The real aiohttp app with the real bolt app, the sandbox's Slack Web API stand-in and a real MongoDB server."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.container import Container, build_container
from bot.slack_app import build_web_app
from services.platform.crypto import generate_key
from services.platform.storage import Storage
from tests.support.signing import SIGNING_SECRET, command_body, payload_body, signed_headers
from tests.support.slack_standin import BOT_TOKEN, TEAM_ID, SlackStandIn

XERO_API = "https://api.xero.test"
XERO_TOKEN_URL = "https://identity.xero.test/connect/token"
XERO_AUTHORIZE_URL = "https://login.xero.test/identity/connect/authorize"
FORECAST_API = "https://api.forecast.test/api/v1"


def test_settings(slack_api_url: str, **overrides) -> Settings:
    values = dict(
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=slack_api_url,
        xero_client_id="test-client-id",
        xero_client_secret="test-client-secret-0000",
        xero_redirect_uri="http://localhost:3000/xero/callback",
        xero_authorize_url=XERO_AUTHORIZE_URL,
        xero_token_url=XERO_TOKEN_URL,
        xero_api_url=XERO_API,
        forecast_api_url=FORECAST_API,
        bot_admins="U0LISTED",
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class BotHarness:
    client: TestClient
    slack: SlackStandIn
    container: Container
    storage: Storage
    xero_sleeps: list[float] = field(default_factory=list)  # what the Xero client waited, without waiting
    _ids = itertools.count(1)

    async def command(self, text: str, *, user: str = "U0ADMIN", channel: str = "C0GENERAL"):
        """Types `/xero <text>` in Slack; returns the HTTP response the bot gave Slack."""
        name = f"cmd{next(self._ids)}"
        body = command_body(text, user_id=user, team_id=TEAM_ID, channel_id=channel,
                            response_url=self.slack.response_url(name, channel=channel, user=user),
                            trigger_id=self.slack.trigger(f"trigger-{name}", user))
        response = await self.client.post("/slack/events", data=body, headers=signed_headers(body))
        assert response.status == 200, await response.text()
        return name

    async def reply_to(self, name: str, timeout: float = 10.0):
        """The answer the bot sent to a command's response_url."""
        return await self.slack.wait_for("response_url", lambda c: c["name"] == name, timeout)

    async def ask(self, text: str, **kwargs):
        return await self.reply_to(await self.command(text, **kwargs))

    async def event(self, event: dict):
        """An Events API delivery (event_callback), signed, as JSON: e.g. app_home_opened."""
        body = json.dumps({"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0TEST", "type": "event_callback",
                           "event_id": f"Ev{next(self._ids)}", "event_time": 1700000000, "event": event})
        headers = {**signed_headers(body), "Content-Type": "application/json"}
        response = await self.client.post("/slack/events", data=body, headers=headers)
        assert response.status == 200, await response.text()
        return response

    async def open_home(self, user: str = "U0ADMIN") -> dict:
        """Opens the bot's Home tab as `user`; returns the view the bot published for them."""
        before = len([c for c in self.slack.called("views.publish") if c["user_id"] == user])
        await self.event({"type": "app_home_opened", "user": user, "channel": "D0BOT", "tab": "home",
                          "event_ts": "1700000000.3"})
        return await self.home_published(user, after=before)

    async def home_published(self, user: str, *, after: int) -> dict:
        """The newest Home view published for `user` once more than `after` were published."""
        def mine() -> list:
            return [c for c in self.slack.called("views.publish") if c["user_id"] == user]

        await self.slack.wait_for("views.publish", lambda c: len(mine()) > after)
        return mine()[-1]["view"]

    def homes_published(self, user: str) -> int:
        return len([c for c in self.slack.called("views.publish") if c["user_id"] == user])

    async def send_payload(self, payload: dict):
        body = payload_body({"team": {"id": TEAM_ID}, "api_app_id": "A0TEST", "token": "legacy", **payload})
        return await self.client.post("/slack/events", data=body, headers=signed_headers(body))

    async def click(self, action_id: str, value: str, *, user: str = "U0ADMIN", channel: str = "C0GENERAL",
                    message: dict | None = None, extra_action: dict | None = None, state: dict | None = None):
        name = f"act{next(self._ids)}"
        action = {"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                  "action_ts": "1700000000.1", **(extra_action or {})}
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
            "channel": {"id": channel, "name": "general"},
            "container": {"type": "message", "channel_id": channel, "message_ts": (message or {}).get("ts", "1.0")},
            "message": message or {"ts": "1.0", "text": "", "blocks": []},
            "trigger_id": self.slack.trigger(f"trigger-{name}", user),
            "response_url": self.slack.response_url(name, channel=channel, user=user,
                                                    message_ts=(message or {}).get("ts")),
            "actions": [action],
        }
        if state is not None:
            payload["state"] = {"values": state}
        response = await self.send_payload(payload)
        assert response.status == 200, await response.text()
        return name

    async def suggest(self, action_id: str, value: str = "", *, user: str = "U0ADMIN",
                      view: dict | None = None) -> dict:
        """Types into an external select: returns the options the bot answered with."""
        payload = {"type": "block_suggestion", "action_id": action_id, "block_id": "b", "value": value,
                   "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
                   "container": {"type": "view", "view_id": (view or {}).get("id", "V0")}, "view": view or {}}
        response = await self.send_payload(payload)
        assert response.status == 200, await response.text()
        return await response.json()

    async def view_action(self, view: dict, action: dict, *, user: str = "U0ADMIN", values: dict | None = None):
        """An interactive element inside an open modal (e.g. an input with dispatch_action) changed."""
        payload = {"type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
                   "container": {"type": "view", "view_id": view.get("id", "V0")},
                   "trigger_id": self.slack.trigger("trigger-view-action", user),
                   "view": {"hash": self.slack.view_hash(view.get("id", "V0")) or "h", **view,
                            "state": {"values": values or {}}},
                   "actions": [{"block_id": "b", "action_ts": "1700000000.2", **action}]}
        response = await self.send_payload(payload)
        assert response.status == 200, await response.text()

    async def home_click(self, action_id: str, value: str, *, user: str = "U0ADMIN"):
        """A button on the bot's Home tab: a view action with no channel, message or response_url."""
        await self.view_action({"id": "VHOME", "type": "home"},
                               {"type": "button", "action_id": action_id, "value": value}, user=user)

    async def submit(self, view: dict, *, user: str = "U0ADMIN", values: dict | None = None):
        payload = {
            "type": "view_submission",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
            "trigger_id": self.slack.trigger("trigger-view", user),
            "view": {**view, "id": "V0SUBMIT", "state": {"values": values or {}}},
        }
        return await self.send_payload(payload)


async def start_harness(mongo_storage: Storage, *, token_for=None, **setting_overrides):
    slack = await SlackStandIn().start()
    settings = test_settings(slack.api_url, **setting_overrides)
    xero_sleeps: list[float] = []

    async def no_wait(seconds: float) -> None:
        xero_sleeps.append(seconds)

    container = build_container(settings, mongo_storage, generate_key(), xero_sleep=no_wait, token_for=token_for)
    await container.start()
    server = TestServer(build_web_app(container), host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    return BotHarness(client=client, slack=slack, container=container, storage=mongo_storage,
                      xero_sleeps=xero_sleeps)


async def stop_harness(harness: BotHarness) -> None:
    await harness.client.close()
    await harness.container.close()
    await harness.slack.close()
