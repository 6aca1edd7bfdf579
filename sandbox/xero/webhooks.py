"""The stand-in's webhook deliveries to the bot: signed like Xero's, and the "intent to receive" check.

Xero signs each delivery with the app's webhook key (`x-xero-signature`: base64 HMAC-SHA256 of the body).
Before it enables a webhook it checks the receiver: a delivery with a wrong signature must get 401 and
one with the right signature 200, both with no body. The stand-in runs that check when it starts (the
bot may start a moment later, so it tries for a while) and shows the outcome on its browse page.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import string
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger("sandbox.xero")


def sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def payload(events: list[dict[str, Any]], sequence: int) -> bytes:
    entropy = "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))
    return json.dumps({"events": events, "firstEventSequence": sequence,
                       "lastEventSequence": sequence + max(0, len(events) - 1), "entropy": entropy}).encode()


@dataclass
class Delivery:
    at: float
    events: int
    status: int | str


@dataclass
class WebhookSender:
    url: str | None
    key: str | None
    intent: str = "not checked"  # "passed", "failed: …", "off"
    deliveries: deque[Delivery] = field(default_factory=lambda: deque(maxlen=50))
    _sequence: int = 1

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.key)

    async def send(self, events: list[dict[str, Any]]) -> int | str:
        if not self.enabled:
            return "off"
        body = payload(events, self._sequence)
        self._sequence += len(events)
        status = await self._post(body, sign(self.key, body))
        self.deliveries.append(Delivery(time.time(), len(events), status))
        return status

    async def check_intent_to_receive(self, attempts: int = 30, pause: float = 1.0) -> str:
        if not self.enabled:
            self.intent = "off"
            return self.intent
        for _ in range(attempts):
            body = payload([], 1)
            wrong = await self._post(body, sign(self.key + "-wrong", body))
            if wrong in ("ClientConnectorError", "ClientOSError", "ServerDisconnectedError"):
                await asyncio.sleep(pause)  # the bot is not listening yet
                continue
            right = await self._post(body, sign(self.key, body))
            self.intent = "passed" if (wrong, right) == (401, 200) else (
                f"failed: a wrong signature got {wrong}, the right one {right} (expected 401 and 200, no body)")
            log.info("Xero sandbox: webhook intent to receive %s", self.intent)
            return self.intent
        self.intent = "failed: the bot did not answer"
        return self.intent

    async def _post(self, body: bytes, signature: str) -> int | str:
        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(self.url, data=body, timeout=aiohttp.ClientTimeout(total=5),
                                        headers={"Content-Type": "application/json",
                                                 "x-xero-signature": signature}) as response:
                    if await response.read():
                        return f"{response.status} with a body"
                    return response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            return type(exc).__name__
