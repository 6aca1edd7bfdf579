"""`POST /xero/webhooks`: Xero's signed event notifications (and its "intent to receive" check).

The raw body's base64 HMAC-SHA256 with XERO_WEBHOOK_KEY must equal `x-xero-signature` (compared in
constant time): a mismatch gets 401 with no body, a match 200 with no body. Events are only stored and
queued here (services/sync/engine.py handles them in a job), so Xero hears back well within its 5 seconds.
Without XERO_WEBHOOK_KEY every request gets 401: webhooks are off.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging

from aiohttp import web

from services.platform.logfmt import fields
from services.sync.engine import XeroSync

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-xero-signature"
ANSWER_WITHIN_SECONDS = 4.0  # Xero wants an answer within 5 s


def xero_signature(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def signature_matches(key: str | None, body: bytes, signature: str | None) -> bool:
    if not key or not signature:
        return False
    return hmac.compare_digest(xero_signature(key, body).encode(), signature.strip().encode())


class XeroWebhookRoute:
    def __init__(self, sync: XeroSync, webhook_key: str | None):
        self.sync = sync
        self.webhook_key = webhook_key

    def add_to(self, app: web.Application) -> None:
        app.router.add_post("/xero/webhooks", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not signature_matches(self.webhook_key, body, request.headers.get(SIGNATURE_HEADER)):
            log.info("xero_webhook.refused", **fields(reason="webhooks off" if not self.webhook_key else "signature"))
            return web.Response(status=401)
        try:
            payload = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            log.warning("xero_webhook.not_json")
            return web.Response(status=400)
        try:
            received = await asyncio.wait_for(self.sync.receive(payload), ANSWER_WITHIN_SECONDS)
        except RecursionError:  # signed, but nested too deep to be one of Xero's deliveries
            log.warning("xero_webhook.unreadable")
            return web.Response(status=400)
        except Exception:  # the database is slow or down: the periodic sync catches up with what was missed
            log.exception("xero_webhook.store_failed")
            return web.Response(status=200)
        log.info("xero_webhook.received", **fields(stored=received.stored, duplicates=received.duplicates,
                                                   ignored=received.ignored))
        return web.Response(status=200)
