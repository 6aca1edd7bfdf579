"""Requests signed exactly as Slack signs them."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret-0000"


def signed_headers(body: str | bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_body(text: str, *, user_id: str, team_id: str, channel_id: str, response_url: str,
                 trigger_id: str = "trigger-1", **extra: str) -> str:
    return urlencode({**extra,
        "token": "legacy", "team_id": team_id, "team_domain": "test", "channel_id": channel_id,
        "channel_name": "general", "user_id": user_id, "user_name": user_id.lower(), "command": "/xero",
        "text": text, "api_app_id": "A0TEST", "response_url": response_url, "trigger_id": trigger_id,
    })


def payload_body(payload: dict) -> str:
    return urlencode({"payload": json.dumps(payload)})
