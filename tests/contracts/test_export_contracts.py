"""Every request a full export sends to Xero's Accounting API is valid for the official OpenAPI spec."""

from __future__ import annotations

from tests.support.contracts import require_contracts, validate_xero_accounting_request
from tests.support.export_flow import click, final_update, job_id_of, prepare, request


async def test_every_accounting_request_of_a_full_export_matches_xeros_spec(bot, xero):
    require_contracts()
    books = await prepare(bot, xero)
    _, approval = await request(bot)
    await click(bot, "export_approve", job_id_of(approval))
    await final_update(bot, job_id_of(approval), "exported")

    sent = {(method, url.split("/api.xro/2.0")[1].split("?")[0]) for method, url, _, _ in books.calls}
    assert sent == {("GET", "/Invoices"), ("GET", "/Currencies"), ("GET", "/Contacts"), ("PUT", "/Contacts"),
                    ("GET", "/Accounts"), ("GET", "/TaxRates"), ("PUT", "/Invoices")}  # tax rates: the pre-flight
    for method, url, headers, body in books.calls:
        validate_xero_accounting_request(method, url, headers, body)
