"""What can go wrong talking to Xero: a `code` and its `data` (bot/blocks/errors.py words them), and Xero's own
validation messages as `details`. `str()` of one is for logs, not for people; `message` holds words only for a
failure stored as text by an older version (services/imports/xero_lists.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from services.platform.retry import parse_retry_after

# Every code a XeroError can carry; bot/blocks/errors.py has words for each ("failed": a failure stored as text,
# whose words are its message).
XeroCode = Literal[
    "failed", "unauthorised", "forbidden", "invalid_grant", "expired", "connection_gone", "not_found",
    "rate_limited", "day_used_up", "unavailable", "timeout", "unreachable", "rejected", "http_error",
    "no_organisation", "no_created_contact", "no_created_invoice", "not_json", "identity_silent", "sign_in_failed",
    "sign_in_silent", "sign_in_refused", "unexpected_body",
]


class XeroError(Exception):
    """Any failure from Xero: `code` and `data` say what happened; `details` are Xero's own validation messages."""

    def __init__(self, message: str = "", *, code: XeroCode = "failed", data: dict[str, Any] | None = None,
                 status: int | None = None, details: list[str] | None = None):
        super().__init__(message or code)
        self.message = message  # words only where no code says what happened (a failure stored as text)
        self.code = code
        self.data = data or {}
        self.status = status
        self.details = details or []

    def __str__(self) -> str:
        text = " ".join(part for part in (self.code, str(self.data) if self.data else "", self.message) if part)
        return f"{text}: " + "; ".join(self.details) if self.details else text


class XeroAuthError(XeroError):
    """The connection is no longer authorised (invalid_grant, revoked consent): reconnect needed."""


class XeroValidationError(XeroError):
    """Xero refused the data (400 with ValidationErrors). Retrying the same data will not help."""


class XeroNotFound(XeroError):
    """The object (or connection) does not exist in Xero."""


class XeroRateLimited(XeroError):
    """429 after retries ran out. `retry_after` seconds and Xero's X-Rate-Limit-Problem."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, problem: str | None = None,
                 **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.problem = problem


class XeroUnavailable(XeroError):
    """5xx or timeouts after retries ran out."""


_GENERIC_XERO_MESSAGES = {"A validation exception occurred"}


def parse_xero_error(
    status: int,
    body: bytes | str | dict[str, Any] | None,
    headers: Mapping[str, str] | None = None,
    *,
    subject: str = "request",
) -> XeroError:
    """Turn a failed Xero answer into the matching XeroError subclass.

    `subject` names what was being sent or fetched ("invoice", "contact") so the message reads naturally.
    """
    payload = _as_dict(body)
    headers = headers or {}
    if status == 401:
        return XeroAuthError(code="unauthorised", status=status)
    if status == 403:
        return XeroAuthError(code="forbidden", status=status)
    if status == 404:
        return XeroNotFound(code="not_found", data={"subject": subject}, status=status)
    if status == 429:
        problem = _header(headers, "X-Rate-Limit-Problem")
        return XeroRateLimited(code="rate_limited", data={"problem": problem}, status=status,
                               retry_after=parse_retry_after(_header(headers, "Retry-After")), problem=problem)
    if status >= 500:
        return XeroUnavailable(code="unavailable", data={"status": status}, status=status)
    details = validation_messages(payload)
    if status == 400 and (details or payload.get("Type") == "ValidationException"):
        return XeroValidationError(code="rejected", data={"subject": subject}, status=status,
                                   details=details or _own_words(payload))
    return XeroError(code="http_error", data={"subject": subject, "status": status}, status=status,
                     details=_own_words(payload))


def validation_messages(payload: Any) -> list[str]:
    """Every `ValidationErrors[].Message` anywhere in Xero's answer, deduplicated, in order of appearance."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "ValidationErrors" and isinstance(value, list):
                    found.extend(
                        item["Message"] for item in value if isinstance(item, dict) and item.get("Message")
                    )
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload)
    return list(dict.fromkeys(found))


def _own_words(payload: dict[str, Any]) -> list[str]:
    """Xero's explanation for a non-validation failure (QueryParseException, problem+json Detail)."""
    words = [payload.get("Message"), payload.get("Detail")]
    return [w for w in dict.fromkeys(words) if isinstance(w, str) and w and w not in _GENERIC_XERO_MESSAGES]


def _as_dict(body: bytes | str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"Message": body.strip()[:300]}  # 404s and gateway errors often come as plain text
    return parsed if isinstance(parsed, dict) else {}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; aiohttp's CIMultiDictProxy is not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value
