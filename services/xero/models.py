"""Xero Accounting/Identity objects at the edge: PascalCase on the wire, snake_case in our code.

Read with `Model.model_validate(xero_json)`, send with `model.to_xero()`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_pascal

_MS_JSON_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_xero_datetime(value: Any) -> Any:
    """`/Date(1552262400000+0000)/` or a zone-less ISO string -> tz-aware UTC datetime."""
    if isinstance(value, str):
        if match := _MS_JSON_DATE.match(value.strip()):
            return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc)
        value = datetime.fromisoformat(value.strip())
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)  # Xero's zone-less timestamps are UTC
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return value


def parse_xero_date(value: Any) -> Any:
    """Either date shape -> the calendar date Xero means."""
    if isinstance(value, str):
        if match := _MS_JSON_DATE.match(value.strip()):
            # The number is a UTC instant; the offset says which wall-clock day it was in Xero.
            instant = datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc)
            return (instant + _offset(match.group(2))).date()
        return datetime.fromisoformat(value.strip()).date()
    if isinstance(value, datetime):
        return value.date()
    return value


def _offset(text: str | None) -> timedelta:
    if not text:
        return timedelta(0)
    sign = -1 if text[0] == "-" else 1
    return sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))


XeroDateTime = Annotated[
    datetime,
    BeforeValidator(parse_xero_datetime),
    PlainSerializer(lambda v: v.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), return_type=str,
                    when_used="json"),
]
XeroDate = Annotated[
    date,
    BeforeValidator(parse_xero_date),
    PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json"),
]
# Money stays exact in our code and goes out as a JSON number (the spec says number/double).
XeroAmount = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class XeroModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="ignore")

    def to_xero(self) -> dict[str, Any]:
        """The JSON-ready dict to send to Xero."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class XeroValidationMessage(XeroModel):
    message: str


class XeroAddress(XeroModel):
    address_type: str | None = None  # POBOX | STREET
    address_line1: str | None = Field(None, alias="AddressLine1")
    address_line2: str | None = Field(None, alias="AddressLine2")
    address_line3: str | None = Field(None, alias="AddressLine3")
    address_line4: str | None = Field(None, alias="AddressLine4")
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    attention_to: str | None = None


class XeroContact(XeroModel):
    contact_id: str | None = Field(None, alias="ContactID")
    name: str | None = None
    email_address: str | None = None
    tax_number: str | None = None
    is_customer: bool | None = None
    is_supplier: bool | None = None
    addresses: list[XeroAddress] | None = None
    contact_status: str | None = None
    updated_date_utc: XeroDateTime | None = Field(None, alias="UpdatedDateUTC")
    has_validation_errors: bool | None = None
    validation_errors: list[XeroValidationMessage] | None = None


class XeroLineTracking(XeroModel):
    """A line's tracking: the category and option by name (Xero also accepts and returns their ids)."""

    tracking_category_id: str | None = Field(None, alias="TrackingCategoryID")
    tracking_option_id: str | None = Field(None, alias="TrackingOptionID")
    name: str | None = None
    option: str | None = None


class XeroTrackingOption(XeroModel):
    tracking_option_id: str | None = Field(None, alias="TrackingOptionID")
    name: str | None = None
    status: str | None = None  # ACTIVE | ARCHIVED | DELETED


class XeroTrackingCategory(XeroModel):
    tracking_category_id: str | None = Field(None, alias="TrackingCategoryID")
    name: str | None = None
    status: str | None = None
    options: list[XeroTrackingOption] = []


class XeroLineItem(XeroModel):
    description: str | None = None
    quantity: XeroAmount | None = None
    unit_amount: XeroAmount | None = None
    discount_rate: XeroAmount | None = None
    account_code: str | None = None
    tax_type: str | None = None
    line_amount: XeroAmount | None = None
    tracking: list[XeroLineTracking] | None = None


class XeroInvoice(XeroModel):
    invoice_id: str | None = Field(None, alias="InvoiceID")
    type: str | None = None  # ACCREC (sales) | ACCPAY (bill)
    invoice_number: str | None = None
    reference: str | None = None
    contact: XeroContact | None = None
    date: XeroDate | None = None
    due_date: XeroDate | None = None
    status: str | None = None  # DRAFT | SUBMITTED | AUTHORISED | PAID | VOIDED | DELETED
    line_amount_types: str | None = None  # Exclusive | Inclusive | NoTax
    currency_code: str | None = None
    line_items: list[XeroLineItem] | None = None
    total: XeroAmount | None = None
    sub_total: XeroAmount | None = None
    total_tax: XeroAmount | None = None
    has_errors: bool | None = None
    validation_errors: list[XeroValidationMessage] | None = None

    @property
    def validation_messages(self) -> list[str]:
        return [error.message for error in self.validation_errors or []]


class XeroPurchaseOrder(XeroModel):
    purchase_order_id: str | None = Field(None, alias="PurchaseOrderID")
    purchase_order_number: str | None = None
    contact: XeroContact | None = None
    date: XeroDate | None = None
    status: str | None = None
    total: XeroAmount | None = None
    currency_code: str | None = None
    currency_rate: XeroAmount | None = None  # units of currency_code per one unit of the base currency
    reference: str | None = None
    updated_date_utc: XeroDateTime | None = Field(None, alias="UpdatedDateUTC")


class XeroCurrency(XeroModel):
    code: str
    description: str | None = None


class XeroAccount(XeroModel):
    code: str | None = None  # bank accounts may have none
    name: str | None = None
    type: str | None = None
    status: str | None = None
    tax_type: str | None = None
    account_class: str | None = Field(None, alias="Class")  # REVENUE, EXPENSE, ASSET, ...


class XeroTaxRate(XeroModel):
    name: str | None = None
    tax_type: str | None = None
    status: str | None = None  # ACTIVE | DELETED | ARCHIVED | PENDING
    can_apply_to_revenue: bool | None = None
    effective_rate: XeroAmount | None = None
    display_tax_rate: XeroAmount | None = None
