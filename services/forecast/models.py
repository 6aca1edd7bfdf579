"""Forecast objects, with field names as Forecast's public API docs give them (github.com/Forecast-it/API)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator


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


class ForecastCompany(ForecastModel):
    """`GET /company`: the Forecast account itself; `currency` (ISO 4217) is what every cost is kept in."""

    name: str | None = None
    currency: str | None = None


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
    so what Forecast kept is always read back and compared (see services/sync/invoices.py)."""

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
