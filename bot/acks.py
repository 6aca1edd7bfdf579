"""Work after an ack waits until the ack has left, and answers go out over one shared HTTP session.

slack-bolt (process_before_response=False) runs a listener as a task and returns Slack's HTTP answer once
it sees `ack()` was called. Work done after `ack()` in the same event loop (database reads, posting to the
response_url) then competes with the acks of the other requests in flight; under load that made the
bot's ack p99 several times a bare Bolt app's. `after_ack(context)` holds such work until our web handler
has the ack in hand, so acks go first. (This relies on bolt's default process_before_response=False: with
True, dispatch would wait for the listener, and the listener would wait here up to ACK_WAIT_LIMIT.)

Bolt's `respond` opens a new HTTP session and connection for every answer; `SharedRespond` posts to the
response_url over the bot's one aiohttp session (kept-alive connections).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient, WebhookResponse

ACK_SENT = "ack_sent"  # key in bolt's request context: an asyncio.Event set when the ack is on its way
ACK_WAIT_LIMIT = 3.0  # Slack's own ack deadline: never hold work longer than that


async def after_ack(context: Any) -> None:
    """Return once this request's ack has been handed back to Slack (at once outside our web handler)."""
    sent = context.get(ACK_SENT) if context is not None else None
    if sent is None:
        return
    try:
        await asyncio.wait_for(sent.wait(), ACK_WAIT_LIMIT)
    except TimeoutError:
        pass


class SharedRespond:
    """Drop-in for bolt's `respond` (keyword arguments only), posting over a shared session."""

    def __init__(self, response_url: str | None, session: aiohttp.ClientSession):
        self.response_url = response_url
        self.session = session

    async def __call__(self, text: str = "", **message: Any) -> WebhookResponse | None:
        if not self.response_url:
            raise ValueError("respond is unavailable: this request has no response_url")
        body = {"text": text, **{k: v for k, v in message.items() if v is not None}}
        return await AsyncWebhookClient(self.response_url, session=self.session).send_dict(body)
