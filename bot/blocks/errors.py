"""Words for what went wrong talking to Forecast or Xero: services give a code and its data, these say it.

The service's own text (Forecast's `message`, Xero's validation messages) is quoted as it came.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.forecast import ForecastError
from services.xero.errors import XeroError

TRY_LATER = "try again in a few minutes"
FORECAST_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "bad_key": lambda d: "Forecast refused the API key — an admin can set a new one in /xero settings",
    "not_found": lambda d: f"Forecast could not find {d['what']}",
    "busy": lambda d: f"Forecast is busy (HTTP {d['status']}) — {TRY_LATER}",
    "trouble": lambda d: f"Forecast is having trouble (HTTP {d['status']}) — {TRY_LATER}",
    "refused": lambda d: f"Forecast refused the request for {d['what']}",
    "http_error": lambda d: f"Forecast answered HTTP {d['status']} for {d['what']}",
    "timeout": lambda d: f"Forecast did not answer within {d['seconds']:g} seconds — {TRY_LATER}.",
    "unreachable": lambda d: f"Could not reach Forecast — {TRY_LATER}.",
    "unexpected_answer": lambda d: f"Forecast sent an unexpected answer listing {d['what']}.",
    "no_reference": lambda d: "Give an invoice reference, for example INV-123.",
    "no_such_invoice": lambda d: (f"No Forecast invoice has the reference {d['reference']}. "
                                  "Check the reference on the invoice in Forecast (for example INV-123)."),
}


def forecast_words(error: ForecastError) -> str:
    """What failed, then what Forecast itself said when it adds anything."""
    words = FORECAST_WORDS.get(error.code)
    said = words(error.data) if words else error.message
    if error.forecast_message and error.forecast_message not in said:
        return f"{said} (Forecast said: {error.forecast_message})"
    return said


def error_words(error: Exception) -> str:
    """Any failure from Forecast or Xero in a sentence; anything else by its class name (no internals shown)."""
    if isinstance(error, ForecastError):
        return forecast_words(error)
    if isinstance(error, XeroError):
        return str(error)
    return type(error).__name__
