"""Forecast (forecast.it): the REST client, its models and its errors. Knows nothing of Slack."""

from services.forecast.client import API_KEY_HEADER, FORECAST_API_URL, ForecastApi
from services.forecast.errors import (
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
    ForecastInvoicePayment,
    ForecastModel,
    ForecastPerson,
    ForecastProject,
    NewForecastCustomer,
    NewForecastExpenseItem,
    NewForecastInvoicePayment,
)

__all__ = [
    "API_KEY_HEADER", "FORECAST_API_URL", "ForecastApi", "ForecastAuthError", "ForecastCompany",
    "ForecastCustomer", "ForecastError", "ForecastExpenseCategory", "ForecastExpenseItem", "ForecastInvoice",
    "ForecastInvoiceEntry", "ForecastInvoicePayment", "ForecastModel", "ForecastNotFound", "ForecastPerson",
    "ForecastProject",
    "ForecastUnavailable", "ForecastValidationError", "NewForecastCustomer", "NewForecastExpenseItem",
    "NewForecastInvoicePayment", "RETRYABLE_STATUSES",
]
