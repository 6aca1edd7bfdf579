"""A failure from Forecast or Xero as a report keeps it: its code and data, and what the service itself said.

bot/blocks/errors.py words it; reports stored before codes hold the words themselves (a plain string)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from services.forecast import ForecastError
from services.xero.errors import XeroError


class Problem(BaseModel):
    source: Literal["forecast", "xero"]
    code: str
    data: dict[str, Any] = {}
    said: str | None = None  # Forecast's own message
    details: list[str] = []  # Xero's own validation messages

    @classmethod
    def of(cls, error: ForecastError | XeroError) -> Problem:
        if isinstance(error, ForecastError):
            return cls(source="forecast", code=error.code, data=error.data, said=error.forecast_message)
        return cls(source="xero", code=error.code, data=error.data, details=list(error.details))
