"""What the workspace sends the bot: signed slash commands and interaction payloads, as Slack does."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from sandbox.slack.signing import signed_headers
from sandbox.slack.socket_mode import SocketHub
from sandbox.slack.state import SlackState

ACK_TIMEOUT_SECONDS = 3.0
VERIFICATION_TOKEN = "sandbox-verification-token"


@dataclass
class BotAnswer:
    """The bot's HTTP answer; `error` is Slack's name for a failed delivery (operation_timeout, dispatch_failed)."""

    status: int = 0
    body: str = ""
    error: str | None = None

    @property
    def json(self) -> dict[str, Any] | None:
        text = self.body.strip()
        if not text.startswith("{"):
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None


class BotDispatcher:
    """Signed HTTP posts to the bot's request URL; with a SocketHub (Socket Mode), envelopes over its socket."""

    def __init__(self, state: SlackState, *, bot_events_url: str, signing_secret: str,
                 ack_timeout: float = ACK_TIMEOUT_SECONDS, hub: SocketHub | None = None) -> None:
        self.state = state
        self.bot_events_url = bot_events_url
        self._signing_secret = signing_secret
        self.ack_timeout = ack_timeout
        self.hub = hub
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def send_command(self, form: dict[str, str]) -> BotAnswer:
        if self.hub is not None:
            return await self._envelope("slash_command", "slash_commands", form)
        return await self._post("slash_command", form, urlencode(form).encode())

    async def send_payload(self, payload: dict[str, Any]) -> BotAnswer:
        if self.hub is not None:
            return await self._envelope(payload["type"], "interactive", payload)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self._post(payload["type"], payload, body)

    async def send_event(self, event: dict[str, Any], *, team_id: str, api_app_id: str) -> BotAnswer:
        """An Events API delivery: a JSON `event_callback`, signed like everything else."""
        envelope = {"token": VERIFICATION_TOKEN, "team_id": team_id, "api_app_id": api_app_id,
                    "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
                    "event_time": int(self.state.clock()), "event": event}
        if self.hub is not None:
            return await self._envelope(event["type"], "events_api", envelope)
        return await self._post(event["type"], envelope, json.dumps(envelope).encode(),
                                content_type="application/json")

    async def _post(self, kind: str, content: dict[str, Any], body: bytes, *,
                    content_type: str | None = None) -> BotAnswer:
        answer = BotAnswer()
        try:
            async with asyncio.timeout(self.ack_timeout):
                headers = signed_headers(self._signing_secret, body)
                if content_type:
                    headers["Content-Type"] = content_type
                async with self._client().post(self.bot_events_url, data=body, headers=headers) as response:
                    answer.status = response.status
                    answer.body = await response.text()
            if answer.status != 200:
                answer.error = "dispatch_failed"
        except TimeoutError:
            answer.error = "operation_timeout"
        except aiohttp.ClientError:
            answer.error = "dispatch_failed"
        self.state.record_bot_request({"kind": kind, "content": content, "status": answer.status,
                                       "body": answer.body, "error": answer.error})
        return answer

    async def _envelope(self, kind: str, envelope_type: str, content: dict[str, Any]) -> BotAnswer:
        """Socket Mode: the ack's payload plays the HTTP answer's body."""
        assert self.hub is not None
        answer = BotAnswer()
        try:
            payload = await self.hub.deliver(envelope_type, content, self.ack_timeout)
            answer.status, answer.body = 200, json.dumps(payload) if payload else ""
        except TimeoutError:
            answer.error = "operation_timeout"
        self.state.record_bot_request({"kind": kind, "content": content, "status": answer.status,
                                       "body": answer.body, "error": answer.error, "socket_mode": True})
        return answer
