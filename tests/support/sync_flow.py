"""Signed Xero webhook deliveries into the bot's real route, for the sync tests.
Xero is the sandbox's stand-in (tests/support/xero_standin.py: pay, void, edit_line, edit_contact), and so is
Forecast (tests/support/forecast_standin.py: its invoice payments and client updates)."""

from __future__ import annotations

import json

from bot.xero_webhooks import xero_signature

WEBHOOK_KEY = "xero-webhook-key-for-tests-0000000000000000000000000000000000"


def event(resource_id: str, tenant_id: str, *, category: str = "INVOICE", when: str = "2026-12-03T10:00:00.000",
          event_type: str = "UPDATE") -> dict:
    resource = {"INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}.get(category, "Contacts")
    return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/{resource}/{resource_id}", "resourceId": resource_id,
            "tenantId": tenant_id, "tenantType": "ORGANISATION", "eventCategory": category, "eventType": event_type,
            "eventDateUtc": when}


def delivery(events: list[dict]) -> bytes:
    return json.dumps({"events": events, "firstEventSequence": 1, "lastEventSequence": max(1, len(events)),
                       "entropy": "SOMERANDOMLETTERS"}).encode()


async def post_webhook(bot, body: bytes, *, key: str | None = WEBHOOK_KEY, signature: str | None = None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["x-xero-signature"] = signature
    elif key is not None:
        headers["x-xero-signature"] = xero_signature(key, body)
    return await bot.client.post("/xero/webhooks", data=body, headers=headers)
