"""Socket Mode as Slack speaks it: `apps.connections.open` (app-level token) gives a one-time ws:// URL; the
bot's socket gets a `hello`, then envelopes (`envelope_id`, `type`, `payload`, `accepts_response_payload`)
that it acknowledges with `{"envelope_id": ..., "payload": ...}`. An envelope not acknowledged when its
socket drops is delivered again, with `retry_attempt` counted up, on the next socket the bot opens.

`drop_before_ack(n)` makes the next n deliveries drop their socket right after sending (before any ack):
how a test sees a reconnect lose nothing.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections import Counter
from typing import Any

from aiohttp import WSMsgType, web


class SocketHub:
    def __init__(self, app_token: str, *, app_id: str, public_ws_base: str) -> None:
        self.app_token = app_token
        self.app_id = app_id
        self.public_ws_base = public_ws_base.rstrip("/")
        self.tickets: set[str] = set()
        self.sockets: list[web.WebSocketResponse] = []
        self.unacked: dict[str, dict[str, Any]] = {}  # envelope id -> the envelope, until acknowledged
        self.answers: dict[str, asyncio.Future] = {}
        self.deliveries: Counter[str] = Counter()  # envelope id -> times sent
        self.acks: Counter[str] = Counter()  # envelope id -> acks received
        self.connections_opened = 0
        self._drops = 0
        self._connected = asyncio.Event()

    # ---- what the bot calls -----------------------------------------------------------------------------
    def open_connection(self) -> dict[str, Any]:
        """apps.connections.open"""
        ticket = secrets.token_urlsafe(16)
        self.tickets.add(ticket)
        return {"ok": True, "url": f"{self.public_ws_base}/socket?ticket={ticket}"}

    async def handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            return web.Response(status=401, text="invalid ticket")
        self.tickets.discard(ticket)  # each URL opens one socket
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections_opened += 1
        await ws.send_json({"type": "hello", "num_connections": len(self.sockets) + 1,
                            "connection_info": {"app_id": self.app_id},
                            "debug_info": {"host": "sandbox", "approximate_connection_time": 3600}})
        self.sockets.append(ws)
        self._connected.set()
        for envelope_id, envelope in list(self.unacked.items()):  # redelivered on the new socket
            envelope["retry_attempt"] += 1
            envelope["retry_reason"] = "timeout"
            await self._send(ws, envelope_id, envelope)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._acknowledged(message.data)
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
            if not self.sockets:
                self._connected.clear()
        return ws

    def _acknowledged(self, text: str) -> None:
        try:
            ack = json.loads(text)
        except ValueError:
            return
        envelope_id = ack.get("envelope_id") if isinstance(ack, dict) else None
        if not isinstance(envelope_id, str):
            return
        self.acks[envelope_id] += 1
        self.unacked.pop(envelope_id, None)
        answer = self.answers.get(envelope_id)
        if answer is not None and not answer.done():
            answer.set_result(ack.get("payload"))

    # ---- what the workspace sends -------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return bool(self.sockets)

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def drop_before_ack(self, times: int = 1) -> None:
        self._drops += times

    async def deliver(self, envelope_type: str, payload: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Sends one envelope (`slash_commands`, `interactive`, `events_api`) and waits for its ack; the ack's
        payload (None if it carried none). Raises TimeoutError when no ack came in time."""
        envelope_id = uuid.uuid4().hex
        envelope = {"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
                    "accepts_response_payload": envelope_type != "events_api", "retry_attempt": 0,
                    "retry_reason": ""}
        answer: asyncio.Future = asyncio.get_running_loop().create_future()
        self.answers[envelope_id] = answer
        self.unacked[envelope_id] = envelope
        try:
            async with asyncio.timeout(timeout):
                if not self.sockets and not await self.wait_connected(timeout):
                    raise TimeoutError
                ws = self.sockets[-1]
                await self._send(ws, envelope_id, envelope)
                if self._drops:
                    self._drops -= 1
                    await ws.close()  # before the ack: the bot reconnects and gets it again
                return await answer
        finally:
            self.answers.pop(envelope_id, None)
            self.unacked.pop(envelope_id, None)

    async def _send(self, ws: web.WebSocketResponse, envelope_id: str, envelope: dict[str, Any]) -> None:
        self.deliveries[envelope_id] += 1
        try:
            await ws.send_json(envelope)
        except (ConnectionError, RuntimeError):
            pass  # the socket is going; the envelope stays unacked and goes out on the next one

    async def close(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
