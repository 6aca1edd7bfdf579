"""Words for what went wrong talking to Forecast or Xero: services give a code and its data, these say it.

The service's own text (Forecast's `message`, Xero's validation messages) is quoted as it came.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.forecast import ForecastError
from services.shared.problems import Problem
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
RECONNECT = "reconnect with /xero connect"
XERO_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "unauthorised": lambda d: f"The connection to Xero is no longer authorised — {RECONNECT}",
    "forbidden": lambda d: ("Xero refused access to this organisation (missing permission or the organisation was "
                            f"disconnected) — {RECONNECT}"),
    "invalid_grant": lambda d: f"Xero no longer accepts this connection (invalid_grant): an admin must {RECONNECT}",
    "expired": lambda d: f"The connection to Xero has expired: an admin must {RECONNECT}",
    "connection_gone": lambda d: f"This Xero connection no longer exists: {RECONNECT}",
    "not_found": lambda d: f"Xero could not find the {d['subject']}",
    "rate_limited": lambda d: "Xero is rate limiting this organisation" + (
        f" ({d['problem']} limit)" if d.get("problem") else ""),
    "day_used_up": lambda d: ("Xero's daily call limit for this organisation is used up (day limit) — "
                              "try again later"),
    "unavailable": lambda d: f"Xero is unavailable right now (HTTP {d['status']})",
    "timeout": lambda d: f"Xero did not answer within {d['seconds']:g} seconds",
    "unreachable": lambda d: "Could not reach Xero (connection failed)",
    "rejected": lambda d: f"Xero rejected the {d['subject']}",
    "http_error": lambda d: f"Xero could not process the {d['subject']} (HTTP {d['status']})",
    "no_organisation": lambda d: "Xero returned no organisation for this connection",
    "no_created_contact": lambda d: "Xero did not return the created contact",
    "no_created_invoice": lambda d: "Xero did not return the created invoice",
    "not_json": lambda d: "Xero sent an answer that is not JSON",
    "identity_silent": lambda d: "Xero did not answer while listing connected organisations",
    "sign_in_failed": lambda d: f"Xero's sign-in service failed (HTTP {d['status']})",
    "sign_in_silent": lambda d: f"Xero's sign-in service did not answer ({d['purpose']})",
    "sign_in_refused": lambda d: f"Xero refused the {d['purpose']}: {d['described']}",
    "unexpected_body": lambda d: f"Xero answered the {d['purpose']} with an unexpected body",
}


def xero_summary(code: str, data: dict[str, Any], fallback: str = "Xero could not do it") -> str:
    """What failed and how often it was tried, without Xero's own messages."""
    words = XERO_WORDS.get(code)
    said = words(data) if words else fallback
    if data.get("attempts"):
        said += f" — gave up after {data['attempts']} attempts"
    return said


def xero_words(error: XeroError) -> str:
    """What failed, how often it was tried, then Xero's own messages."""
    said = xero_summary(error.code, error.data, error.message)
    return f"{said}: " + "; ".join(error.details) if error.details else said


def forecast_summary(code: str, data: dict[str, Any], forecast_said: str | None, *, quote: bool = True,
                     fallback: str = "Forecast could not do it") -> str:
    """What failed, then (`quote`) what Forecast itself said when it adds anything."""
    words = FORECAST_WORDS.get(code)
    said = words(data) if words else fallback
    if quote and forecast_said and forecast_said not in said:
        return f"{said} (Forecast said: {forecast_said})"
    return said


def forecast_words(error: ForecastError, *, quote: bool = True) -> str:
    return forecast_summary(error.code, error.data, error.forecast_message, quote=quote, fallback=error.message)


def problem_words(problem: Problem | str) -> str:
    """A failure as a report keeps it; a report stored by an older version holds its words already."""
    if isinstance(problem, str):
        return problem
    if problem.source == "forecast":
        return forecast_summary(problem.code, problem.data, problem.said)
    said = xero_summary(problem.code, problem.data)
    return f"{said}: " + "; ".join(problem.details) if problem.details else said


def error_words(error: Exception) -> str:
    """Any failure from Forecast or Xero in a sentence; anything else by its class name (no internals shown)."""
    if isinstance(error, ForecastError):
        return forecast_words(error)
    if isinstance(error, XeroError):
        return xero_words(error)
    return type(error).__name__
