"""Forecast (forecast.it) REST API client. Knows nothing of Slack.

Field names follow Forecast's public API docs (github.com/Forecast-it/API, sections/*.md).
Auth is the `X-FORECAST-API-KEY` header; errors arrive as `{"status": ..., "message": ...}`.
The v1 list endpoints used here return plain JSON arrays; paged endpoints return
`{pageNumber, pageSize, totalObjectCount, pageContents}` and are followed page by page.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import aiohttp
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

log = logging.getLogger(__name__)

FORECAST_API_URL = "https://api.forecast.it/api/v1"
API_KEY_HEADER = "X-FORECAST-API-KEY"
BAD_KEY_MESSAGE = "Forecast refused the API key — an admin can set a new one in /xero settings"
RETRYABLE_STATUSES = {429, 500, 502, 503, 504}


# Errors -------------------------------------------------------------------------


class ForecastError(Exception):
    """Any failure from Forecast. `message` is plain words; `forecast_message` is Forecast's own text."""

    def __init__(self, message: str, *, status: int | None = None, forecast_message: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.forecast_message = forecast_message

    def __str__(self) -> str:
        if self.forecast_message and self.forecast_message not in self.message:
            return f"{self.message} (Forecast said: {self.forecast_message})"
        return self.message


class ForecastAuthError(ForecastError):
    """401/403: the API key is wrong, disabled or lacks rights."""


class ForecastNotFound(ForecastError):
    """404, or nothing matched what the user asked for."""


class ForecastValidationError(ForecastError):
    """400/415/422: Forecast refused the data. Sending the same data again will not help."""


class ForecastUnavailable(ForecastError):
    """5xx, 429, timeouts or connection failures, after retries ran out."""


# Models -------------------------------------------------------------------------


def _parse_date(value: Any) -> date | None:
    """Forecast sends dates as "2020-09-05" and timestamps as "2019-10-01T11:21:36Z"."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    if len(text) > 10:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    return date.fromisoformat(text)


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _dec(value: float | int) -> Decimal:
    return Decimal(str(value))


class ForecastModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ForecastInvoiceEntry(ForecastModel):
    """One invoice line. `discount` and `tax` are percentages (Forecast's invoice editor shows
    "Discount %" and "Tax %"; the API docs only say Double): tax applies after the discount."""

    id: int | None = None
    invoice_id: int | None = None
    project_id: int | None = None
    name: str = ""
    quantity: float = 0
    unit_price: float = 0
    discount: float = 0
    tax: float = 0
    description: str | None = None

    @field_validator("quantity", "unit_price", "discount", "tax", mode="before")
    @classmethod
    def _none_is_zero(cls, value: Any) -> Any:
        return 0 if value is None else value

    @field_validator("name", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    def _net(self) -> Decimal:
        gross = _dec(self.quantity) * _dec(self.unit_price)
        return gross * (1 - _dec(self.discount) / 100)

    @property
    def net_amount(self) -> float:
        """quantity × unit_price less the discount, before tax."""
        return _money(self._net())

    @property
    def tax_amount(self) -> float:
        return _money(self._net() * _dec(self.tax) / 100)

    @property
    def amount(self) -> float:
        """The line total including tax."""
        return _money(self._net() * (1 + _dec(self.tax) / 100))


class ForecastInvoice(ForecastModel):
    id: int
    company_invoice_id: int | None = None
    project_id: int | None = None
    client_id: int | None = None
    name: str | None = None
    currency: str | None = None
    invoice_reference: str = ""
    invoice_type: str | None = None
    created_date: date | None = None
    due_date: date | None = None
    notes: str | None = None
    status: str | None = None
    payment_status: str | None = None
    entries: list[ForecastInvoiceEntry] = Field(default_factory=list)

    @field_validator("created_date", "due_date", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> date | None:
        return _parse_date(value)

    @field_validator("entries", mode="before")
    @classmethod
    def _none_is_no_entries(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _default_reference(self) -> ForecastInvoice:
        # Docs: "invoice_reference ... (Default INV-{Invoice ID})"; their samples pair
        # company_invoice_id 90 with "INV-90", so the company-wide number is preferred.
        if not (self.invoice_reference or "").strip():
            self.invoice_reference = f"INV-{self.company_invoice_id or self.id}"
        return self

    @property
    def subtotal(self) -> float:
        """Sum of the lines after discount, before tax."""
        return _money(sum((entry._net() for entry in self.entries), Decimal(0)))

    @property
    def total_tax(self) -> float:
        return _money(sum((entry._net() * _dec(entry.tax) / 100 for entry in self.entries), Decimal(0)))

    @property
    def total(self) -> float:
        """What the client pays: lines after discount plus tax."""
        return _money(sum((entry._net() * (1 + _dec(entry.tax) / 100) for entry in self.entries), Decimal(0)))

    @property
    def line_count(self) -> int:
        return len(self.entries)


class ForecastCustomer(ForecastModel):
    """A Forecast *client* (the company being billed); named so it does not clash with the HTTP client."""

    id: int
    name: str
    street: str | None = None
    zip: str | None = None
    city: str | None = None
    country: str | None = None
    vat_number: str | None = None
    notes: str | None = None


class NewForecastCustomer(ForecastModel):
    """Body of `POST /clients`. `country` is ISO 3166-1 alpha-2 per the current docs (e.g. "GB")."""

    name: str = Field(min_length=1)
    street: str | None = None
    zip: str | None = None
    city: str | None = None
    country: str | None = None
    vat_number: str | None = None
    notes: str | None = None

    def to_request(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ForecastProject(ForecastModel):
    id: int
    name: str = ""
    client_id: int | None = Field(default=None, validation_alias=AliasChoices("client", "client_id"))
    company_project_id: int | None = None
    custom_project_id: str | None = None
    stage: str | None = None  # PLANNING, RUNNING, HALTED, DONE
    status: str | None = None  # GREEN, YELLOW, RED
    budget_type: str | None = None  # FIXED_PRICE, NON_BILLABLE, TIME_AND_MATERIALS, RETAINER
    start_date: date | None = None
    end_date: date | None = None

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> date | None:
        return _parse_date(value)

    @property
    def display_id(self) -> str:
        """How Forecast shows the project: its custom id, else P{company_project_id}."""
        if self.custom_project_id:
            return self.custom_project_id
        return f"P{self.company_project_id or self.id}"


class ForecastExpenseCategory(ForecastModel):
    id: int
    name: str = ""
    disabled: bool = False


class ForecastExpenseItem(ForecastModel):
    id: int
    project_id: int | None = None
    name: str = ""
    expense_date: date | None = None
    cost: float | None = None
    price: float | None = None
    quantity: float | None = None
    approved: bool | None = None
    billable: bool | None = None
    notes: str | None = None
    person_id: int | None = None
    expense_category: int | None = None
    phase_id: int | None = None
    part_of_fixed_price: bool | None = None

    @field_validator("expense_date", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> date | None:
        return _parse_date(value)


class NewForecastExpenseItem(ForecastModel):
    """Body of `POST /projects/{projectId}/expense_items`. Required by Forecast: name, cost, expense_category."""

    name: str = Field(min_length=1)
    cost: float
    expense_category: int
    expense_date: date | None = None
    price: float | None = None
    quantity: float | None = None  # Forecast defaults to 1
    approved: bool | None = None
    billable: bool | None = None
    notes: str | None = None
    person_id: int | None = None
    phase_id: int | None = None
    part_of_fixed_price: bool | None = None

    def to_request(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class ForecastInvoicePayment(ForecastModel):
    """A payment on a Forecast invoice. The docs call `amount` a Double when read and an Integer when sent,
    so what Forecast kept is always read back and compared (see services/invoice_sync.py)."""

    id: int
    invoice_id: int | None = None
    notes: str | None = None
    amount: Decimal | None = None
    paid_on: date | None = Field(default=None, validation_alias=AliasChoices("date", "paid_on"))

    @field_validator("amount", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> Any:
        return None if value is None else Decimal(str(value))

    @field_validator("paid_on", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> date | None:
        return _parse_date(value)


class NewForecastInvoicePayment(ForecastModel):
    """Body of `POST /invoices/{invoiceId}/invoice_payments`."""

    amount: Decimal
    paid_on: date
    notes: str

    def to_request(self) -> dict[str, Any]:
        # A whole amount goes as an integer (what the docs ask for); cents go as a decimal number.
        amount = int(self.amount) if self.amount == self.amount.to_integral_value() else float(self.amount)
        return {"amount": amount, "date": self.paid_on.isoformat(), "notes": self.notes}


# HTTP client --------------------------------------------------------------------

Sleep = Callable[[float], Awaitable[None]]
_BARE_NUMBER = re.compile(r"#?(\d+)")


def _scrub(text: str, api_key: str) -> str:
    return text.replace(api_key, "***") if api_key else text


class ForecastApi:
    """Calls Forecast on behalf of one workspace; the API key is passed per call and never logged."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = FORECAST_API_URL,
        *,
        timeout: float = 20,
        retries: int = 2,
        sleep: Sleep = asyncio.sleep,
    ):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.sleep = sleep

    # Invoices ---------------------------------------------------------------------
    async def find_invoice(self, api_key: str, reference: str) -> ForecastInvoice:
        """"INV-123" matches invoice_reference case-insensitively; a bare "123" is tried as
        reference "INV-123" first, then as the invoice id."""
        wanted = " ".join(reference.split())
        if not wanted:
            raise ForecastNotFound("Give an invoice reference, for example INV-123.")
        invoices = await self.list_invoices(api_key)
        by_reference = {invoice.invoice_reference.casefold(): invoice for invoice in reversed(invoices)}
        bare = _BARE_NUMBER.fullmatch(wanted)
        if bare:
            number = int(bare.group(1))
            match = by_reference.get(f"inv-{number}") or next((i for i in invoices if i.id == number), None)
        else:
            match = by_reference.get(wanted.casefold())
        if match is None:
            raise ForecastNotFound(
                f"No Forecast invoice has the reference {wanted}. "
                "Check the reference on the invoice in Forecast (for example INV-123).",
                status=404,
            )
        return match

    async def get_invoice(self, api_key: str, invoice_id: int) -> ForecastInvoice:
        data = await self._get(api_key, f"/invoices/{int(invoice_id)}", what=f"invoice {invoice_id}")
        return ForecastInvoice.model_validate(data)

    async def list_invoices(self, api_key: str) -> list[ForecastInvoice]:
        rows = await self._get_all(api_key, "/invoices", what="invoices")
        return [ForecastInvoice.model_validate(row) for row in rows]

    async def list_invoice_payments(self, api_key: str, invoice_id: int) -> list[ForecastInvoicePayment]:
        """The payments Forecast holds for one invoice (they come with `GET /invoices/{id}`)."""
        data = await self._get(api_key, f"/invoices/{int(invoice_id)}", what=f"invoice {invoice_id}")
        rows = (data or {}).get("payments") or [] if isinstance(data, dict) else []
        return [ForecastInvoicePayment.model_validate({"invoice_id": invoice_id, **row}) for row in rows]

    async def create_invoice_payment(self, api_key: str, invoice_id: int,
                                     payment: NewForecastInvoicePayment) -> ForecastInvoicePayment:
        data = await self._request("POST", api_key, f"/invoices/{int(invoice_id)}/invoice_payments",
                                   what=f"a payment on invoice {invoice_id}", json=payment.to_request())
        return ForecastInvoicePayment.model_validate({"invoice_id": invoice_id, **(data or {})})

    async def delete_invoice_payment(self, api_key: str, payment_id: int) -> None:
        await self._request("DELETE", api_key, f"/invoice_payments/{int(payment_id)}",
                            what=f"invoice payment {payment_id}")

    # Clients ----------------------------------------------------------------------
    async def get_customer(self, api_key: str, client_id: int) -> ForecastCustomer:
        data = await self._get(api_key, f"/clients/{int(client_id)}", what=f"client {client_id}")
        return ForecastCustomer.model_validate(data)

    async def list_customers(self, api_key: str) -> list[ForecastCustomer]:
        rows = await self._get_all(api_key, "/clients", what="clients")
        return [ForecastCustomer.model_validate(row) for row in rows]

    async def create_customer(self, api_key: str, customer: NewForecastCustomer) -> ForecastCustomer:
        data = await self._request(
            "POST", api_key, "/clients", what=f"client {customer.name}", json=customer.to_request()
        )
        return ForecastCustomer.model_validate(data)

    async def update_customer(self, api_key: str, client_id: int, changes: dict[str, Any]) -> ForecastCustomer:
        """`PUT /clients/{id}` with only the fields that change."""
        data = await self._request("PUT", api_key, f"/clients/{int(client_id)}", what=f"client {client_id}",
                                   json=changes)
        return ForecastCustomer.model_validate(data)

    # Projects ---------------------------------------------------------------------
    async def list_projects(self, api_key: str) -> list[ForecastProject]:
        rows = await self._get_all(api_key, "/projects", what="projects")
        return [ForecastProject.model_validate(row) for row in rows]

    async def get_project(self, api_key: str, project_id: int) -> ForecastProject:
        data = await self._get(api_key, f"/projects/{int(project_id)}", what=f"project {project_id}")
        return ForecastProject.model_validate(data)

    # Expenses ---------------------------------------------------------------------
    async def list_expense_categories(self, api_key: str) -> list[ForecastExpenseCategory]:
        rows = await self._get_all(api_key, "/expense_categories", what="expense categories")
        return [ForecastExpenseCategory.model_validate(row) for row in rows]

    async def list_expense_items(self, api_key: str, project_id: int) -> list[ForecastExpenseItem]:
        path = f"/projects/{int(project_id)}/expense_items"
        rows = await self._get_all(api_key, path, what=f"project {project_id}")
        return [ForecastExpenseItem.model_validate({"project_id": project_id, **row}) for row in rows]

    async def create_expense_item(
        self, api_key: str, project_id: int, item: NewForecastExpenseItem
    ) -> ForecastExpenseItem:
        data = await self._request(
            "POST",
            api_key,
            f"/projects/{int(project_id)}/expense_items",
            what=f"project {project_id}",
            json=item.to_request(),
        )
        return ForecastExpenseItem.model_validate({"project_id": project_id, **data})

    # Plumbing ---------------------------------------------------------------------
    async def _get(self, api_key: str, path: str, *, what: str, params: dict | None = None) -> Any:
        return await self._request("GET", api_key, path, what=what, params=params)

    async def _get_all(self, api_key: str, path: str, *, what: str) -> list[dict]:
        """A plain array is the whole list; a paged object is followed until every page is read."""
        body = await self._get(api_key, path, what=what)
        if isinstance(body, list):
            return body
        if not isinstance(body, dict) or "pageContents" not in body:
            raise ForecastError(f"Forecast sent an unexpected answer listing {what}.")
        rows = list(body.get("pageContents") or [])
        page_size = int(body.get("pageSize") or len(rows) or 100)
        total = body.get("totalObjectCount")
        page_number = int(body.get("pageNumber") or 1)
        page = rows
        while page and len(page) >= page_size and (total is None or len(rows) < int(total)):
            page_number += 1
            params = {"pageNumber": page_number, "pageSize": page_size}
            body = await self._get(api_key, path, what=what, params=params)
            page = list(body.get("pageContents") or []) if isinstance(body, dict) else []
            rows.extend(page)
        return rows

    async def _request(
        self, method: str, api_key: str, path: str, *, what: str, params: dict | None = None, json: Any = None
    ) -> Any:
        attempts = 1 + (self.retries if method == "GET" else 0)
        for attempt in range(1, attempts + 1):
            try:
                return await self._send_once(method, api_key, path, what=what, params=params, json=json)
            except ForecastUnavailable:
                if attempt == attempts:
                    raise
                await self.sleep(0.5 * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def _send_once(
        self, method: str, api_key: str, path: str, *, what: str, params: dict | None, json: Any
    ) -> Any:
        headers = {API_KEY_HEADER: api_key, "Accept": "application/json"}
        if json is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        url = self.base_url + path
        try:
            async with self.session.request(
                method,
                url,
                headers=headers,
                params=params,
                json=json,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                if response.status < 400:
                    if response.status == 204:
                        return None
                    return await response.json(content_type=None)
                text = await response.text()
                raise _error_for(response.status, text, what=what, api_key=api_key)
        except asyncio.TimeoutError:
            log.warning("Forecast %s %s timed out", method, path)
            raise ForecastUnavailable(
                f"Forecast did not answer within {self.timeout:g} seconds — try again in a few minutes."
            ) from None
        except aiohttp.ClientError as exc:
            log.warning("Forecast %s %s failed: %s", method, path, type(exc).__name__)
            raise ForecastUnavailable(
                "Could not reach Forecast — try again in a few minutes.",
                forecast_message=_scrub(str(exc), api_key) or None,
            ) from None


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


def _error_for(status: int, text: str, *, what: str, api_key: str) -> ForecastError:
    said = _forecast_message(text)
    said = _scrub(said, api_key) if said else None
    log.warning("Forecast answered %s for %s: %s", status, what, said)
    if status in (401, 403):
        return ForecastAuthError(BAD_KEY_MESSAGE, status=status, forecast_message=said)
    if status == 404:
        return ForecastNotFound(f"Forecast could not find {what}", status=status, forecast_message=said)
    if status in RETRYABLE_STATUSES or status >= 500:
        busy = "is busy" if status == 429 else "is having trouble"
        return ForecastUnavailable(
            f"Forecast {busy} (HTTP {status}) — try again in a few minutes",
            status=status,
            forecast_message=said,
        )
    if status in (400, 415, 422):
        return ForecastValidationError(
            f"Forecast refused the request for {what}", status=status, forecast_message=said
        )
    return ForecastError(f"Forecast answered HTTP {status} for {what}", status=status, forecast_message=said)
