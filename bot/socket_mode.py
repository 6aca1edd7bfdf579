"""Socket Mode: Slack's requests over a WebSocket the bot opens (no public URL), instead of POST /slack/events.

slack_sdk's aiohttp SocketModeClient keeps the socket (and reconnects when it drops); bolt's
AsyncSocketModeHandler hands each envelope to `handle`, which reads it as SlackEndpoint reads a request
(the same typed models, no signature: the app-level token authenticated the socket) and answers through
the same SlackDispatch.

Slack redelivers an envelope whose ack it did not get (the socket dropped in between), maybe to another
process of the bot. Each envelope id is claimed once in MongoDB (`socket_envelopes`, owned here): the
process that claims it runs it; a redelivery runs nothing and acks with the answer the first delivery
gave, so a command typed once runs once and its answer is not lost with the socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.requests.reader import Rejected, RequestReader
from services.platform.logfmt import fields
from services.platform.storage import Storage

log = logging.getLogger(__name__)

REDELIVERY_WAIT = 2.5  # seconds a redelivery waits for the first delivery's answer (Slack waits 3 s)
POLL = 0.05


class EnvelopeLog:
    """Which envelopes were taken, by one process of the bot, and what their ack said."""

    def __init__(self, storage: Storage, *, clock=lambda: datetime.now(UTC)):
        self.storage = storage
        self.clock = clock

    async def claim(self, envelope_id: str) -> bool:
        """True for the first delivery of this envelope, anywhere; False for a redelivery."""
        try:
            await self.storage.socket_envelopes.insert_one({"_id": envelope_id, "received_at": self.clock()})
        except DuplicateKeyError:
            return False
        return True

    async def answered(self, envelope_id: str, payload: dict | None) -> None:
        await self.storage.socket_envelopes.update_one(
            {"_id": envelope_id}, {"$set": {"answer": json.dumps(payload or {})}})

    async def answer_of(self, envelope_id: str, wait: float = REDELIVERY_WAIT) -> dict | None:
        """The first delivery's answer, once it has one (None if it has none yet after `wait`)."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            doc = await self.storage.socket_envelopes.find_one({"_id": envelope_id})
            if doc and "answer" in doc:
                return json.loads(doc["answer"]) or None
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(POLL)


class SocketModeEntry(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, with our reader, our dispatch and one run per envelope id."""

    def __init__(self, dispatch: Any, reader: RequestReader, envelopes: EnvelopeLog, *, app_token: str,
                 web_client: AsyncWebClient, ping_interval: float = 10):
        super().__init__(dispatch.bolt, app_token, web_client=web_client, ping_interval=ping_interval)
        self.dispatch = dispatch
        self.reader = reader
        self.envelopes = envelopes

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        envelope_id = req.envelope_id
        if not await self.envelopes.claim(envelope_id):
            log.info("slack.envelope_redelivered", **fields(kind=req.type))
            await self._send(client, envelope_id, await self.envelopes.answer_of(envelope_id))
            return
        ack_sent = asyncio.Event()
        payload: dict | None = None
        try:
            try:
                inbound = self.reader.read_envelope(req.type, req.payload)
            except Rejected as rejected:
                log.warning("slack.request_rejected", **fields(reason=rejected.reason, status=rejected.status))
            else:
                payload = answer_payload(await self.dispatch.answer(inbound, ack_sent))
            await self._send(client, envelope_id, payload)
        finally:
            ack_sent.set()  # listeners waiting in bot.acks.after_ack go on
            await self.envelopes.answered(envelope_id, payload)

    async def _send(self, client: SocketModeClient, envelope_id: str, payload: dict | None) -> None:
        try:
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=envelope_id, payload=payload))
        except Exception as exc:  # the socket dropped: Slack redelivers, and the redelivery gets this answer
            log.info("slack.ack_not_sent", **fields(error=type(exc).__name__))


def answer_payload(response: BoltResponse) -> dict | None:
    """The ack's payload over the socket: what the HTTP answer's body would have been."""
    if response.status != 200 or not response.body:
        return None
    try:
        body = json.loads(response.body)
    except ValueError:
        return {"text": response.body}
    return body if isinstance(body, dict) else {"text": response.body}


def build_socket_mode(container: Any, dispatch: Any) -> SocketModeEntry:
    settings = container.settings
    assert settings.slack_app_token is not None
    return SocketModeEntry(dispatch, RequestReader(""), EnvelopeLog(container.storage),
                           app_token=settings.slack_app_token.get_secret_value(),
                           web_client=container.gateway.bolt_client)
