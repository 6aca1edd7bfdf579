"""Forecast (forecast.it): the REST client, its models and its errors. Knows nothing of Slack."""

from services.forecast.client import API_KEY_HEADER, FORECAST_API_URL, ForecastApi
from services.forecast.errors import (
    BAD_KEY_MESSAGE,
    RETRYABLE_STATUSES,
    ForecastAuthError,
    ForecastError,
    ForecastNotFound,
    ForecastUnavailable,
    ForecastValidationError,
)
from services.forecast.models import (
    ForecastCompany,
    ForecastCustomer,
    ForecastExpenseCategory,
    ForecastExpenseItem,
    ForecastInvoice,
    ForecastInvoiceEntry,
    ForecastModel,
    ForecastProject,
    NewForecastCustomer,
    NewForecastExpenseItem,
)

__all__ = [
    "API_KEY_HEADER", "BAD_KEY_MESSAGE", "FORECAST_API_URL", "RETRYABLE_STATUSES", "ForecastApi",
    "ForecastAuthError", "ForecastCompany", "ForecastCustomer", "ForecastError", "ForecastExpenseCategory",
    "ForecastExpenseItem",
    "ForecastInvoice", "ForecastInvoiceEntry", "ForecastModel", "ForecastNotFound", "ForecastProject",
    "ForecastUnavailable", "ForecastValidationError", "NewForecastCustomer", "NewForecastExpenseItem",
]
