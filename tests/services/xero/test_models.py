"""Xero's JSON in and out of our models: both date shapes, aliases, what we send."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.xero.models import (
    XeroAccount,
    XeroAddress,
    XeroContact,
    XeroCurrency,
    XeroInvoice,
    XeroLineItem,
    XeroPurchaseOrder,
)


@pytest.mark.parametrize(
    ("sent_by_xero", "expected"),
    [
        ("/Date(1552262400000+0000)/", datetime(2019, 3, 11, tzinfo=timezone.utc)),
        ("/Date(1552262400000)/", datetime(2019, 3, 11, tzinfo=timezone.utc)),
        ("/Date(1552262400000-0800)/", datetime(2019, 3, 11, tzinfo=timezone.utc)),  # the number is UTC
        ("/Date(-86400000+0000)/", datetime(1969, 12, 31, tzinfo=timezone.utc)),
        ("2019-12-07T18:46:19.5165400", datetime(2019, 12, 7, 18, 46, 19, 516540, tzinfo=timezone.utc)),
        ("2019-12-07T18:46:19", datetime(2019, 12, 7, 18, 46, 19, tzinfo=timezone.utc)),
        ("2019-12-07", datetime(2019, 12, 7, tzinfo=timezone.utc)),
    ],
)
def test_timestamps_in_either_shape_become_utc_datetimes(sent_by_xero, expected):
    contact = XeroContact.model_validate({"UpdatedDateUTC": sent_by_xero})

    assert contact.updated_date_utc == expected
    assert contact.updated_date_utc.tzinfo is not None


@pytest.mark.parametrize(
    ("sent_by_xero", "expected"),
    [
        ("/Date(1539993600000+0000)/", date(2018, 10, 20)),
        ("/Date(1552262400000)/", date(2019, 3, 11)),
        # 2019-03-11T08:00Z is midnight on the 11th in a -0800 organisation
        ("/Date(1552291200000-0800)/", date(2019, 3, 11)),
        ("2018-12-30T00:00:00", date(2018, 12, 30)),
        ("2019-12-07", date(2019, 12, 7)),
    ],
)
def test_invoice_dates_in_either_shape_become_calendar_dates(sent_by_xero, expected):
    invoice = XeroInvoice.model_validate({"Date": sent_by_xero, "DueDate": sent_by_xero})

    assert invoice.date == expected and invoice.due_date == expected


def test_unreadable_date_is_refused():
    with pytest.raises(ValidationError):
        XeroInvoice.model_validate({"Date": "next Tuesday"})


def test_invoice_from_xero_reads_nested_contact_lines_and_errors_and_ignores_the_rest():
    invoice = XeroInvoice.model_validate({
        "Type": "ACCREC", "InvoiceID": "d4956132", "InvoiceNumber": "INV-0001", "Reference": "Red Fish",
        "Contact": {"ContactID": "a3675fc4", "Name": "Barney Rubble", "Addresses": [], "Phones": []},
        "Date": "/Date(1539993600000+0000)/", "DueDate": "/Date(1546128000000+0000)/",
        "Status": "AUTHORISED", "LineAmountTypes": "Exclusive", "CurrencyCode": "NZD",
        "LineItems": [{"Description": "Fish", "Quantity": 2.0, "UnitAmount": 20.0, "LineAmount": 40.0,
                       "AccountCode": "200", "TaxType": "OUTPUT2", "Tracking": []}],
        "SubTotal": 40.00, "TotalTax": 6.00, "Total": 46.00, "AmountDue": 46.00,
        "HasErrors": True, "ValidationErrors": [{"Message": "Invoice # must be unique."}],
    })

    assert invoice.contact.name == "Barney Rubble"
    assert invoice.line_items[0].line_amount == Decimal("40.0")
    assert invoice.total == Decimal("46.00")
    assert invoice.validation_messages == ["Invoice # must be unique."]
    assert not hasattr(invoice, "amount_due")


def test_invoice_sent_to_xero_uses_pascal_case_plain_dates_numbers_and_no_empty_fields():
    invoice = XeroInvoice(
        type="ACCREC",
        contact=XeroContact(contact_id="a3675fc4"),
        date=date(2024, 3, 1),
        due_date=date(2024, 3, 31),
        line_items=[XeroLineItem(description="Design", quantity=Decimal("1.5"), unit_amount=Decimal("99.99"),
                                 discount_rate=Decimal("10"), account_code="200", tax_type="OUTPUT2")],
    )

    assert invoice.to_xero() == {
        "Type": "ACCREC",
        "Contact": {"ContactID": "a3675fc4"},
        "Date": "2024-03-01",
        "DueDate": "2024-03-31",
        "LineItems": [{"Description": "Design", "Quantity": 1.5, "UnitAmount": 99.99, "DiscountRate": 10.0,
                       "AccountCode": "200", "TaxType": "OUTPUT2"}],
    }


def test_fields_can_be_set_by_xero_name_or_by_our_name():
    by_alias = XeroContact.model_validate({"ContactID": "c-1", "EmailAddress": "ap@acme.test", "IsCustomer": True})
    by_name = XeroContact(contact_id="c-1", email_address="ap@acme.test", is_customer=True)

    assert by_alias == by_name


def test_contact_with_address_round_trips():
    contact = XeroContact(
        name="Acme Ltd", tax_number="12-345-678",
        addresses=[XeroAddress(address_type="POBOX", address_line1="PO Box 1", city="Wellington",
                               postal_code="6011", country="New Zealand")],
    )

    sent = contact.to_xero()

    assert sent["Addresses"][0] == {"AddressType": "POBOX", "AddressLine1": "PO Box 1", "City": "Wellington",
                                    "PostalCode": "6011", "Country": "New Zealand"}
    assert XeroContact.model_validate(sent) == contact


def test_purchase_order_currency_and_account_read_from_xero():
    order = XeroPurchaseOrder.model_validate({
        "PurchaseOrderID": "po-1", "PurchaseOrderNumber": "PO-0001", "Status": "AUTHORISED",
        "Contact": {"ContactID": "s-1", "Name": "Supplier"}, "Date": "2019-12-07T00:00:00",
        "Total": 115.0, "CurrencyCode": "USD", "Reference": "Job 7",
        "UpdatedDateUTC": "/Date(1541176290160+0000)/",
    })
    currency = XeroCurrency.model_validate({"Code": "USD", "Description": "United States Dollar"})
    account = XeroAccount.model_validate({"Code": "200", "Name": "Sales", "Type": "REVENUE", "Status": "ACTIVE",
                                          "TaxType": "OUTPUT2", "AccountID": "ignored"})

    assert (order.purchase_order_number, order.date, order.total) == ("PO-0001", date(2019, 12, 7), Decimal("115.0"))
    assert order.updated_date_utc == datetime(2018, 11, 2, 16, 31, 30, 160000, tzinfo=timezone.utc)
    assert currency.description == "United States Dollar"
    assert (account.code, account.type, account.tax_type) == ("200", "REVENUE", "OUTPUT2")
