"""Slack request signing: `X-Slack-Signature: v0=` + HMAC-SHA256 of `v0:{timestamp}:{raw body}`."""

from __future__ import annotations

import time

from slack_sdk.signature import SignatureVerifier


def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    return SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=body)


def signed_headers(signing_secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """Headers Slack sends with every request to an app's request URL."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(signing_secret, timestamp, body),
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
