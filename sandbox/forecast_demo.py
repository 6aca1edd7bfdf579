"""Demo data for the Forecast stand-in, in the shapes Forecast's API docs give.

"Acme Corporation" and "Globex Ltd" also exist as contacts in the Xero demo organisations.
INV-112 has no entries (the "nothing to export" case). INV-111 has an empty invoice_reference,
so it shows Forecast's default "INV-{number}". Invoice ids differ from their numbers on purpose
(like Forecast's `id` vs `company_invoice_id`), so look-ups by reference and by id are both exercised.
"""

from __future__ import annotations

import copy
from typing import Any

PERSON_ID = 1
STAMP = "2025-01-06T09:00:00Z"
FIRST_INVOICE_ID = 5001


def _stamped(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_by": PERSON_ID, "updated_by": PERSON_ID, "created_at": STAMP, "updated_at": STAMP}


CLIENTS = [
    {"id": 1, "name": "Acme Corporation", "street": "1 Road Runner Way", "zip": "EC1A 1BB", "city": "London",
     "country": "GB", "vat_number": "GB123456789", "notes": "Pays on time"},
    {"id": 2, "name": "Globex Ltd", "street": "42 Cypress Creek Road", "zip": "M1 1AE", "city": "Manchester",
     "country": "GB", "vat_number": "GB987654321", "notes": None},
    {"id": 3, "name": "Initech", "street": "4120 Freidrich Lane", "zip": "78744", "city": "Austin",
     "country": "US", "vat_number": "US-74-1234567", "notes": "TPS reports attached to every invoice"},
    {"id": 4, "name": "Umbrella Health", "street": "Friedrichstraße 123", "zip": "10117", "city": "Berlin",
     "country": "DE", "vat_number": "DE123456789", "notes": None},
    {"id": 5, "name": "Stark Industries", "street": "10880 Malibu Point", "zip": "90265", "city": "Malibu",
     "country": "US", "vat_number": None, "notes": "Net 45"},
]

PROJECTS = [
    {"id": 1, "company_project_id": 1, "custom_project_id": None, "name": "Acme website relaunch",
     "stage": "RUNNING", "status": "GREEN", "budget_type": "FIXED_PRICE", "budget": 48000.0, "client": 1,
     "start_date": "2025-01-06", "end_date": "2025-06-30", "estimation_units": "HOURS", "labels": []},
    {"id": 2, "company_project_id": 2, "custom_project_id": "GLX-APP", "name": "Globex mobile app",
     "stage": "RUNNING", "status": "YELLOW", "budget_type": "TIME_AND_MATERIALS", "budget": 120000.0,
     "client": 2, "start_date": "2025-02-03", "end_date": "2025-12-19", "estimation_units": "HOURS",
     "labels": []},
    {"id": 3, "company_project_id": 3, "custom_project_id": None, "name": "Initech TPS automation",
     "stage": "PLANNING", "status": "GREEN", "budget_type": "RETAINER", "budget": 30000.0, "client": 3,
     "start_date": "2025-04-01", "end_date": None, "estimation_units": "POINTS", "labels": []},
    {"id": 4, "company_project_id": 4, "custom_project_id": None, "name": "Internal tooling",
     "stage": "RUNNING", "status": "GREEN", "budget_type": "NON_BILLABLE", "budget": 0.0, "client": None,
     "start_date": "2025-01-01", "end_date": None, "estimation_units": "HOURS", "labels": []},
]

EXPENSE_CATEGORIES = [
    {"id": 1, "name": "Other", "disabled": False},
    {"id": 2, "name": "Software licences", "disabled": False},
    {"id": 3, "name": "Travel", "disabled": False},
    {"id": 4, "name": "Hardware", "disabled": False},
]

EXPENSE_ITEMS = [
    {"id": 1, "project_id": 1, "name": "Stock photography", "expense_date": "2025-02-10", "cost": 150.0,
     "price": 200.0, "quantity": 1, "approved": True, "billable": True, "notes": None, "person_id": PERSON_ID,
     "expense_category": 2, "phase_id": None, "part_of_fixed_price": True},
    {"id": 2, "project_id": 2, "name": "Train to Manchester", "expense_date": "2025-03-04", "cost": 86.4,
     "price": 86.4, "quantity": 2, "approved": False, "billable": True, "notes": "Kick-off workshop",
     "person_id": PERSON_ID, "expense_category": 3, "phase_id": None, "part_of_fixed_price": False},
]


def _entry(name: str, quantity: float, unit_price: float, *, discount: float = 0, tax: float = 0,
           description: str | None = None, project_id: int | None = None) -> dict[str, Any]:
    return {"name": name, "quantity": quantity, "unit_price": unit_price, "discount": discount, "tax": tax,
            "description": description, "project_id": project_id}


# (number, project, client, currency, status, created, due, entries)
_INVOICES = [
    (101, 1, 1, "GBP", "SENT", "2025-02-01", "2025-03-03", [
        _entry("Design sprint", 5, 950.0, tax=20, description="Discovery and wireframes"),
        _entry("Front-end development", 32, 85.0, tax=20),
        _entry("Project management", 6, 70.0, discount=10, tax=20),
    ]),
    (102, 1, 1, "GBP", "APPROVED", "2025-03-01", "2025-03-31", [
        _entry("Front-end development", 40, 85.0, tax=20),
    ]),
    (103, 2, 2, "USD", "SENT", "2025-03-05", "2025-04-04", [
        _entry("iOS development", 60, 110.0),
        _entry("Android development", 52, 110.0),
        _entry("QA and testing", 18, 75.0, discount=5),
        _entry("App Store submission", 1, 250.0),
    ]),
    (104, 2, 2, "USD", "DRAFT", "2025-04-02", "2025-05-02", [
        _entry("Backend API", 24, 120.0),
        _entry("Push notifications", 8, 120.0, description="APNs and FCM"),
    ]),
    (105, 3, 3, "USD", "SENT", "2025-04-10", "2025-05-10", [
        _entry("Retainer April", 1, 2500.0, tax=8.25),
    ]),
    (106, 3, 3, "EUR", "APPROVED", "2025-05-10", "2025-06-09", [
        _entry("Retainer May", 1, 2300.0),
        _entry("Extra workshop", 2, 600.0, discount=15),
    ]),
    (107, 1, 1, "EUR", "SENT", "2025-05-15", "2025-06-14", [
        _entry("Translation to German", 12, 65.0, tax=19),
        _entry("Localisation QA", 4, 55.0, tax=19),
    ]),
    (108, 2, 2, "GBP", "DRAFT", "2025-06-01", "2025-07-01", [
        _entry("Design review", 3, 400.0, tax=20),
    ]),
    (109, 1, 1, "GBP", "SENT", "2025-06-20", "2025-07-20", [
        _entry("Launch support", 10, 90.0, tax=20),
        _entry("Performance tuning", 6, 95.0, tax=20),
        _entry("Hosting set-up", 1, 350.0, tax=20, description="One-off"),
    ]),
    (110, 3, 3, "USD", "APPROVED", "2025-07-01", "2025-07-31", [
        _entry("Retainer June", 1, 2500.0),
        _entry("Discount for late delivery", 1, -250.0),
    ]),
    (111, 2, 2, "EUR", "SENT", "2025-07-05", "2025-08-04", [
        _entry("Sprint 7 development", 80, 100.0, discount=2.5),
    ]),
    (112, 1, 1, "GBP", "DRAFT", "2025-07-15", "2025-08-14", []),
]


def _invoices() -> list[dict[str, Any]]:
    invoices, entry_id = [], 1
    for offset, (number, project_id, client_id, currency, status, created, due, entries) in enumerate(_INVOICES):
        invoice_id = FIRST_INVOICE_ID + offset
        rows = []
        for entry in entries:
            rows.append(_stamped({"id": entry_id, "invoice_id": invoice_id,
                                  **entry, "project_id": entry["project_id"] or project_id}))
            entry_id += 1
        invoices.append(_stamped({
            "id": invoice_id, "company_invoice_id": number, "project_id": project_id,
            "name": f"Invoice {number}", "currency": currency, "client_id": client_id,
            # INV-111 shows Forecast's default reference (left empty when the invoice was made).
            "invoice_reference": "" if number == 111 else f"INV-{number}",
            "invoice_type": "TIME_AND_MATERIAL", "created_date": created, "due_date": due,
            "notes": None, "status": status, "payment_status": "UNPAID", "entries": rows, "payments": [],
        }))
    return invoices


PERSONS = [
    {"id": PERSON_ID, "first_name": "Sam", "last_name": "Planner", "email": "sam@sandbox-agency.test"},
    {"id": 2, "first_name": "Fiona", "last_name": "Finance", "email": "fiona@sandbox-agency.test"},
]


def demo_state() -> dict[str, Any]:
    """A fresh copy of the whole demo company."""
    return copy.deepcopy({
        "persons": [_stamped(row) for row in PERSONS],
        "clients": [_stamped(row) for row in CLIENTS],
        "projects": [_stamped(row) for row in PROJECTS],
        "expense_categories": [_stamped(row) for row in EXPENSE_CATEGORIES],
        "expense_items": [_stamped(row) for row in EXPENSE_ITEMS],
        "invoices": _invoices(),
    })
