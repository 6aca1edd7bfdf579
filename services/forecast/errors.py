"""What can go wrong talking to Forecast: a `code` and its `data` (bot/blocks/errors.py words them), Forecast's
own text kept beside them. `str()` of one is for logs, not for people."""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from services.platform.retry import parse_retry_after

# Every code a ForecastError can carry; bot/blocks/errors.py has words for each ("failed": words in its message).
ForecastCode = Literal[
    "failed", "bad_key", "not_found", "busy", "trouble", "refused", "http_error", "timeout", "unreachable",
    "unexpected_answer", "no_reference", "no_such_invoice",
]

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = {429, 500, 502, 503, 504}


class ForecastError(Exception):
    """Any failure from Forecast: `code` and `data` say what happened; `forecast_message` is Forecast's own text."""

    def __init__(self, message: str = "", *, code: ForecastCode = "failed", data: dict[str, Any] | None = None,
                 status: int | None = None, forecast_message: str | None = None):
        super().__init__(message or code)
        self.message = message  # words only where no code says what happened
        self.code = code
        self.data = data or {}
        self.status = status
        self.forecast_message = forecast_message

    def __str__(self) -> str:
        text = " ".join(part for part in (self.code, str(self.data) if self.data else "", self.message) if part)
        return f"{text} (Forecast said: {self.forecast_message})" if self.forecast_message else text


class ForecastAuthError(ForecastError):
    """401/403: the API key is wrong, disabled or lacks rights."""


class ForecastNotFound(ForecastError):
    """404, or nothing matched what the user asked for."""


class ForecastValidationError(ForecastError):
    """400/415/422: Forecast refused the data. Sending the same data again will not help."""


class ForecastUnavailable(ForecastError):
    """5xx, 429, timeouts or connection failures, after retries ran out. `retry_after`: seconds Forecast asked."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


def scrub(text: str, api_key: str) -> str:
    return text.replace(api_key, "***") if api_key else text


def _forecast_message(text: str) -> str | None:
    """Forecast's `{status, message}` body, or the start of whatever else it sent."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    stripped = " ".join(text.split())
    return stripped[:200] or None


def error_for(status: int, text: str, *, what: str, api_key: str, retry_after: str | None = None) -> ForecastError:
    said = _forecast_message(text)
    said = scrub(said, api_key) if said else None
    log.warning("Forecast answered %s for %s: %s", status, what, said)
    if status in (401, 403):
        return ForecastAuthError(code="bad_key", status=status, forecast_message=said)
    if status == 404:
        return ForecastNotFound(code="not_found", data={"what": what}, status=status, forecast_message=said)
    if status in RETRYABLE_STATUSES or status >= 500:
        return ForecastUnavailable(code="busy" if status == 429 else "trouble", data={"status": status},
                                   status=status, forecast_message=said,
                                   retry_after=parse_retry_after(retry_after))
    if status in (400, 415, 422):
        return ForecastValidationError(code="refused", data={"what": what}, status=status, forecast_message=said)
    return ForecastError(code="http_error", data={"status": status, "what": what}, status=status,
                         forecast_message=said)
