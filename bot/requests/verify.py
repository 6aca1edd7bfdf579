"""What every request passes before it is read: a size cap, Slack's signature on the raw bytes, its age, and
bounds on what the body may hold (JSON depth, form fields). Anything else is Rejected, its body never logged."""

from __future__ import annotations

import json
import re
import time
from typing import Any, Mapping

from slack_sdk.signature import SignatureVerifier

MAX_BODY_BYTES = 1_000_000
MAX_JSON_DEPTH = 64  # Slack's deepest payloads (view state inside a view) nest about 10 levels
MAX_FORM_FIELDS = 100
MAX_REQUEST_AGE_SECONDS = 5 * 60


class Rejected(Exception):
    """The request is refused before any handler runs. `reason` is logged; the body never is."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class SignedRequests:
    def __init__(self, signing_secret: str, *, clock=time.time):
        self.verifier = SignatureVerifier(signing_secret)
        self.clock = clock

    def verify(self, raw: bytes, headers: Mapping[str, str]) -> str:
        """The body as text, once it is known to come from Slack; raises Rejected otherwise."""
        if len(raw) > MAX_BODY_BYTES:
            raise Rejected(413, "too_large")
        timestamp = headers.get("X-Slack-Request-Timestamp") or ""
        signature = headers.get("X-Slack-Signature") or ""
        # Shapes first: int() and hmac.compare_digest would raise on odd text (a 500, not a 401).
        if not re.fullmatch(r"[0-9]{1,12}", timestamp) or not re.fullmatch(r"v0=[0-9a-f]{64}", signature):
            raise Rejected(401, "unsigned")
        if abs(self.clock() - int(timestamp)) > MAX_REQUEST_AGE_SECONDS:
            raise Rejected(401, "stale")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(401, "not_utf8") from None  # Slack signs UTF-8 text: this cannot be from Slack
        if not self.verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
            raise Rejected(401, "bad_signature")
        return text

def load_json(text: str) -> Any:
    if json_depth(text) > MAX_JSON_DEPTH:
        raise Rejected(400, "payload_too_deep")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise Rejected(400, "payload_not_json") from None


def json_depth(text: str) -> int:
    """How deep brackets nest, strings skipped; cheap enough to run before json.loads."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper than it has brackets
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
