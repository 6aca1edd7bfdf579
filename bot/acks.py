"""Work after an ack waits until the ack has left, and answers go out over one shared HTTP session.

slack-bolt (process_before_response=False) runs a listener as a task and returns Slack's HTTP answer once
it sees `ack()` was called. Work done after `ack()` in the same event loop (database reads, posting to the
response_url) then competes with the acks of the other requests in flight; under load that made the
bot's ack p99 several times a bare Bolt app's. `after_ack(context)` holds such work until our web handler
has the ack in hand, so acks go first. (This relies on bolt's default process_before_response=False: with
True, dispatch would wait for the listener, and the listener would wait here up to ACK_WAIT_LIMIT.)

`CommandAnswer` is where a slash command's answer goes: into the ack itself while the ack has not left
(help, refusals, `/xero list`: one HTTP trip, what a person waits for), to the response_url once it has.
A command acks first (`later()`) before it calls Xero, Forecast or Slack; `ANSWER_BUDGET` acks for it if
its own database reads are slow, so Slack's 3 seconds are never missed.

Bolt's `respond` opens a new HTTP session and connection for every answer; `SharedRespond` posts to the
response_url over the bot's one aiohttp session (kept-alive connections).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient, WebhookResponse

from services.platform.crash_points import crash_point_soon

ACK_SENT = "ack_sent"  # key in bolt's request context: an asyncio.Event set when the ack is on its way
ACK_WAIT_LIMIT = 3.0  # Slack's own ack deadline: never hold work longer than that
ANSWER_BUDGET = 2.0  # a command not answered by then is acked empty; its answer goes to the response_url


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


class CommandAnswer:
    """A slash command's ephemeral answer: in the ack while it has not left, at the response_url after."""

    def __init__(self, ack: Any, respond: SharedRespond, context: Any, *, budget: float | None = None,
                 before_late_ack: Callable[[], Awaitable[None]] | None = None):
        self._ack = ack
        self._before_late_ack = before_late_ack  # e.g. save the command: an answer that comes later must not be lost
        self.respond = respond
        self._context = context
        self.acked = False
        self._late_ack: asyncio.Task | None = None
        budget = ANSWER_BUDGET if budget is None else budget
        self._timer = asyncio.get_running_loop().call_later(budget, self._out_of_time)

    async def __call__(self, payload: dict) -> None:
        if self._take_ack():
            await self._ack({"response_type": "ephemeral", **payload})
            return
        await self.respond(response_type="ephemeral", replace_original=False, **payload)

    async def later(self) -> None:
        """Before anything that waits on Xero, Forecast or Slack: ack now; what follows goes to the response_url."""
        if self._take_ack():
            await self._late_ack_now()
        await after_ack(self._context)
        await crash_point_soon("after_command_ack")  # crash tests: killed between the ack and the answer

    async def finish(self) -> None:
        """The command is done: if it said nothing, Slack still gets its (empty) ack."""
        if self._take_ack():
            await self._ack()

    def _take_ack(self) -> bool:
        """True once only: the ack is ours to send (set before any await, so the timer cannot send it too)."""
        if self.acked:
            return False
        self.acked = True
        self._timer.cancel()
        return True

    async def _late_ack_now(self) -> None:
        if self._before_late_ack is not None:
            await self._before_late_ack()
        await self._ack()

    def _out_of_time(self) -> None:
        if self._take_ack():
            self._late_ack = asyncio.ensure_future(self._late_ack_now())
