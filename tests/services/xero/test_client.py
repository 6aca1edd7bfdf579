"""XeroClient against mocked Xero answers: headers, contracts, retries, errors, paging."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections import defaultdict, deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.blocks.errors import xero_summary, xero_words
from services.xero.client import TenantAuth, XeroClient
from services.xero.errors import (
    XeroAuthError,
    XeroError,
    XeroNotFound,
    XeroRateLimited,
    XeroUnavailable,
    XeroValidationError,
    parse_xero_error,
)
from services.xero.models import XeroContact, XeroInvoice, XeroLineItem
from tests.support.contracts import (
    require_contracts,
    validate_slack_manifest,
    validate_xero_accounting_request,
    validate_xero_identity_request,
)

TENANT = TenantAuth(tenant_id="tenant-123", token_set_id="tokens-9")
ACCESS_TOKEN = "secret-access-token"


@dataclass
class Sent:
    """One request as it arrived at the fake Xero."""

    method: str
    url: str
    headers: dict
    body: bytes | None

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query, keep_blank_values=True)

    @property
    def json(self):
        return json.loads(self.body)


class FakeXero:
    """A scripted stand-in for api.xero.com on 127.0.0.1; answers are queued per (method, path).

    Real HTTP, so the contract checks see exactly the bytes and headers aiohttp put on the wire.
    """

    def __init__(self):
        self.requests: list[Sent] = []
        self._script: dict[tuple[str, str], deque] = defaultdict(deque)
        self.api_url = ""

    def answer(self, method: str, path: str, *, status: int = 200, payload=None, body: str | bytes = b"",
               headers: dict | None = None) -> None:
        if payload is not None:
            body = json.dumps(payload)
        self._script[(method, "/api.xro/2.0" + path)].append(
            lambda: web.Response(status=status, body=body, headers=headers,
                                 content_type="application/json" if payload is not None else "text/plain")
        )

    def stall(self, method: str, path: str) -> None:
        self._script[(method, "/api.xro/2.0" + path)].append("stall")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Sent(request.method, str(request.url), dict(request.headers), body or None))
        script = self._script[(request.method, request.path)]
        if not script:
            return web.Response(status=599, text=f"unscripted {request.method} {request.path}")
        step = script.popleft()
        if step == "stall":
            await asyncio.Event().wait()
        return step()


@pytest.fixture
async def xero():
    fake = FakeXero()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        fake.api_url = str(server.make_url("")).rstrip("/")
        yield fake


class FakeTokens:
    def __init__(self):
        self.asked_for: list[str] = []

    async def access_token(self, token_set_id: str) -> str:
        self.asked_for.append(token_set_id)
        return ACCESS_TOKEN


class SleepRecorder:
    def __init__(self):
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
async def client(xero, tokens, sleeps):
    async with aiohttp.ClientSession() as session:
        yield XeroClient(session, xero.api_url, tokens, sleep=sleeps, jitter=lambda: 0.5)


def draft_invoice(number: str = "INV-001") -> XeroInvoice:
    return XeroInvoice(
        type="ACCREC",
        invoice_number=number,
        contact=XeroContact(contact_id="a3675fc4-f8dd-4f03-ba5b-f1870566bcd7"),
        date=date(2024, 3, 1),
        due_date=date(2024, 3, 31),
        status="DRAFT",
        line_amount_types="Exclusive",
        currency_code="NZD",
        line_items=[XeroLineItem(description="Design work", quantity=Decimal("2"), unit_amount=Decimal("150.25"),
                                 account_code="200")],
    )


def created(invoice: XeroInvoice, invoice_id: str = "d4956132-ed94-4dd7-9eaa-aa22dfdf06f2") -> dict:
    return {**invoice.to_xero(), "InvoiceID": invoice_id, "HasErrors": False, "Total": 300.5}


VALIDATION_400 = {
    "ErrorNumber": 10,
    "Type": "ValidationException",
    "Message": "A validation exception occurred",
    "Elements": [
        {"InvoiceNumber": "INV-001", "ValidationErrors": [
            {"Message": "Email address must be valid."},
            {"Message": "Account code '999' is not a valid code for this document."},
        ], "LineItems": [{"ValidationErrors": [{"Message": "Email address must be valid."}]}]},
    ],
}


# ----------------------------------------------------------------------------- what every request carries


async def test_every_request_carries_bearer_token_tenant_and_json_accept(client, xero, tokens):
    xero.answer("GET", "/Organisation", payload={"Organisations": [{"Name": "Demo Company (NZ)"}]})

    organisation = await client.get_organisation(TENANT)

    assert organisation["Name"] == "Demo Company (NZ)"
    (request,) = xero.requests
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["xero-tenant-id"] == "tenant-123"
    assert request.headers["Accept"] == "application/json"
    assert tokens.asked_for == ["tokens-9"]


async def test_created_invoices_come_back_as_models_and_the_request_matches_xeros_spec(client, xero):
    require_contracts()
    invoice = draft_invoice()
    xero.answer("PUT", "/Invoices", payload={"Invoices": [created(invoice)]})

    (result,) = await client.create_invoices(TENANT, [invoice], idempotency_key="export-INV-001")

    assert result.invoice_id == "d4956132-ed94-4dd7-9eaa-aa22dfdf06f2"
    assert result.total == Decimal("300.5")
    (request,) = xero.requests
    assert request.headers["Idempotency-Key"] == "export-INV-001"
    assert request.query["summarizeErrors"] == ["true"]  # all-or-nothing batches
    assert request.json["Invoices"][0]["DueDate"] == "2024-03-31"
    assert request.json["Invoices"][0]["LineItems"][0]["UnitAmount"] == 150.25
    validate_xero_accounting_request(request.method, request.url, request.headers, request.body)


async def test_created_contact_request_matches_xeros_spec(client, xero):
    require_contracts()
    xero.answer("PUT", "/Contacts", payload={"Contacts": [{"ContactID": "c-1", "Name": "Acme Ltd"}]})

    contact = await client.create_contact(
        TENANT, XeroContact(name="Acme Ltd", email_address="ap@acme.test", is_customer=True),
        idempotency_key="contact-acme",
    )

    assert contact.contact_id == "c-1"
    (request,) = xero.requests
    assert request.headers["Idempotency-Key"] == "contact-acme"
    assert request.json == {"Contacts": [{"Name": "Acme Ltd", "EmailAddress": "ap@acme.test", "IsCustomer": True}]}
    validate_xero_accounting_request(request.method, request.url, request.headers, request.body)


async def test_contract_check_rejects_a_request_xero_would_not_accept():
    require_contracts()
    base = "http://127.0.0.1:8080/api.xro/2.0"
    good_headers = {"Authorization": "Bearer t", "xero-tenant-id": "tenant-123", "Content-Type": "application/json"}
    wrong_body = json.dumps({"Invoices": [{"Type": "ACCREC", "LineItems": "two hours of design"}]})

    with pytest.raises(AssertionError, match="LineItems"):
        validate_xero_accounting_request("PUT", f"{base}/Invoices", good_headers, wrong_body)
    with pytest.raises(AssertionError, match="xero-tenant-id"):
        validate_xero_accounting_request("GET", f"{base}/Contacts", {"Authorization": "Bearer t"}, None)
    with pytest.raises(AssertionError, match="bearer"):
        validate_xero_accounting_request("GET", f"{base}/Contacts", {"xero-tenant-id": "tenant-123"}, None)


async def test_the_access_token_never_reaches_the_logs(client, xero, caplog):
    caplog.set_level(logging.DEBUG)
    xero.answer("GET", "/Currencies", status=503)
    xero.answer("GET", "/Currencies", payload={"Currencies": [{"Code": "NZD", "Description": "New Zealand Dollar"}]})

    currencies = await client.get_currencies(TENANT)

    assert [c.code for c in currencies] == ["NZD"]
    assert "tenant-123" in caplog.text and "status=503" in caplog.text
    assert ACCESS_TOKEN not in caplog.text


# ----------------------------------------------------------------------------- retries


async def test_rate_limited_call_waits_retry_after_then_succeeds_with_the_same_idempotency_key(client, xero, sleeps):
    invoice = draft_invoice()
    xero.answer("PUT", "/Invoices", status=429, headers={"Retry-After": "7", "X-Rate-Limit-Problem": "minute"})
    xero.answer("PUT", "/Invoices", payload={"Invoices": [created(invoice)]})

    result = await client.create_invoices(TENANT, [invoice], idempotency_key="export-INV-001")

    assert len(result) == 1
    assert sleeps.delays == [7.5]  # Retry-After in full, plus the jitter (half a second here)
    keys = [r.headers["Idempotency-Key"] for r in xero.requests]
    assert keys == ["export-INV-001", "export-INV-001"]


async def test_day_limit_is_reported_at_once_instead_of_waited_out(client, xero, sleeps):
    xero.answer("GET", "/Contacts", status=429, headers={"Retry-After": "41000", "X-Rate-Limit-Problem": "day"})

    with pytest.raises(XeroRateLimited) as caught:
        await client.list_contacts(TENANT)

    assert caught.value.problem == "day"
    assert caught.value.retry_after == 41000
    assert "day limit" in xero_words(caught.value)
    assert sleeps.delays == []
    assert len(xero.requests) == 1


async def test_server_errors_are_retried_with_growing_backoff(client, xero, sleeps):
    xero.answer("GET", "/Accounts", status=503, body="Service Unavailable")
    xero.answer("GET", "/Accounts", status=503, body="Service Unavailable")
    xero.answer("GET", "/Accounts", payload={"Accounts": [{"Code": "200", "Name": "Sales", "Type": "REVENUE"}]})

    accounts = await client.get_accounts(TENANT, where='Type=="REVENUE"')

    assert [a.name for a in accounts] == ["Sales"]
    assert sleeps.delays == [0.5, 1.0]
    assert xero.requests[0].query["where"] == ['Type=="REVENUE"']


async def test_a_timed_out_call_is_retried(xero, tokens, sleeps):
    xero.stall("GET", "/Currencies")
    xero.answer("GET", "/Currencies", payload={"Currencies": [{"Code": "EUR"}]})

    async with aiohttp.ClientSession() as session:
        client = XeroClient(session, xero.api_url, tokens, timeout=0.1, sleep=sleeps, jitter=lambda: 0.5)
        currencies = await client.get_currencies(TENANT)

    assert [c.code for c in currencies] == ["EUR"]
    assert len(xero.requests) == 2 and sleeps.delays == [0.5]


async def test_unreachable_xero_is_retried_then_reported(tokens, sleeps):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    async with aiohttp.ClientSession() as session:
        client = XeroClient(session, f"http://127.0.0.1:{closed_port}", tokens, sleep=sleeps, jitter=lambda: 0.5)
        with pytest.raises(XeroUnavailable) as caught:
            await client.get_currencies(TENANT)

    assert xero_words(caught.value) == "Could not reach Xero (connection failed) — gave up after 4 attempts"
    assert sleeps.delays == [0.5, 1.0, 2.0]


async def test_when_retries_run_out_the_user_hears_xero_is_unavailable(client, xero, sleeps):
    for _ in range(4):
        xero.answer("GET", "/Organisation", status=503)

    with pytest.raises(XeroUnavailable) as caught:
        await client.get_organisation(TENANT)

    assert xero_words(caught.value) == "Xero is unavailable right now (HTTP 503) — gave up after 4 attempts"
    assert caught.value.status == 503
    assert len(xero.requests) == 4
    assert sleeps.delays == [0.5, 1.0, 2.0]


async def test_when_rate_limiting_outlasts_the_retries_the_user_hears_it(client, xero, sleeps):
    for _ in range(4):
        xero.answer("GET", "/Currencies", status=429, headers={"Retry-After": "2", "X-Rate-Limit-Problem": "minute"})

    with pytest.raises(XeroRateLimited) as caught:
        await client.get_currencies(TENANT)

    assert caught.value.problem == "minute"
    assert xero_words(caught.value).startswith("Xero is rate limiting this organisation (minute limit)")
    assert sleeps.delays == [2.5, 2.5, 2.5]


async def test_every_attempt_takes_a_limiter_slot(tokens, sleeps, xero):
    class CountingLimiter:
        def __init__(self):
            self.tenants: list[str] = []

        @asynccontextmanager
        async def slot(self, tenant_id):
            self.tenants.append(tenant_id)
            yield

    limiter = CountingLimiter()
    xero.answer("GET", "/Currencies", status=500)
    xero.answer("GET", "/Currencies", payload={"Currencies": []})
    async with aiohttp.ClientSession() as session:
        client = XeroClient(session, xero.api_url, tokens, limiter=limiter, sleep=sleeps, jitter=lambda: 0.5)
        await client.get_currencies(TENANT)

    assert limiter.tenants == ["tenant-123", "tenant-123"]


# ----------------------------------------------------------------------------- errors that are not retried


async def test_validation_error_carries_xeros_messages_and_is_not_retried(client, xero, sleeps):
    xero.answer("PUT", "/Invoices", status=400, payload=VALIDATION_400)

    with pytest.raises(XeroValidationError) as caught:
        await client.create_invoices(TENANT, [draft_invoice()], idempotency_key="k")

    assert xero_summary(caught.value.code, caught.value.data) == "Xero rejected the invoice"
    assert caught.value.details == [
        "Email address must be valid.",
        "Account code '999' is not a valid code for this document.",
    ]
    assert xero_words(caught.value) == (
        "Xero rejected the invoice: Email address must be valid.; "
        "Account code '999' is not a valid code for this document."
    )
    assert len(xero.requests) == 1 and sleeps.delays == []


async def test_invoice_elements_with_errors_in_a_200_answer_are_still_a_rejection(client, xero):
    failed = {**created(draft_invoice()), "HasErrors": True,
              "ValidationErrors": [{"Message": "Invoice # must be unique."}]}
    xero.answer("PUT", "/Invoices", payload={"Invoices": [failed]})

    with pytest.raises(XeroValidationError) as caught:
        await client.create_invoices(TENANT, [draft_invoice()], idempotency_key="k")

    assert caught.value.details == ["Invoice # must be unique."]


async def test_revoked_connection_asks_the_user_to_reconnect(client, xero, sleeps):
    xero.answer("GET", "/Organisation", status=401,
             payload={"Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful"})

    with pytest.raises(XeroAuthError) as caught:
        await client.get_organisation(TENANT)

    assert "reconnect with /xero connect" in xero_words(caught.value)
    assert len(xero.requests) == 1 and sleeps.delays == []


async def test_more_than_fifty_invoices_are_refused_before_calling_xero(client, xero):
    with pytest.raises(ValueError, match="at most 50"):
        await client.create_invoices(TENANT, [draft_invoice(f"INV-{n}") for n in range(51)], idempotency_key="k")

    assert xero.requests == []


async def test_overlong_idempotency_key_is_refused(client, xero):
    with pytest.raises(ValueError, match="128"):
        await client.create_contact(TENANT, XeroContact(name="Acme"), idempotency_key="k" * 129)


# ----------------------------------------------------------------------------- reading: paging, filters, lookups


def contacts_page(start: int, count: int) -> dict:
    return {"Contacts": [{"ContactID": f"c-{n}", "Name": f"Customer {n}", "IsCustomer": True}
                         for n in range(start, start + count)]}


async def test_contacts_are_paged_until_a_short_page_with_if_modified_since(client, xero):
    xero.answer("GET", "/Contacts", payload=contacts_page(0, 100))
    xero.answer("GET", "/Contacts", payload=contacts_page(100, 3))
    changed_since = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    contacts = await client.list_contacts(TENANT, customers_only=True, if_modified_since=changed_since)

    assert len(contacts) == 103 and contacts[-1].name == "Customer 102"
    requests = xero.requests
    assert [r.query["page"] for r in requests] == [["1"], ["2"]]
    assert all(r.query["pageSize"] == ["100"] for r in requests)
    assert all(r.query["where"] == ["IsCustomer==true"] for r in requests)
    assert all(r.headers["If-Modified-Since"] == "2024-01-02T03:04:05Z" for r in requests)
    validate_xero_accounting_request(requests[0].method, requests[0].url, requests[0].headers, None)


async def test_purchase_orders_filter_by_status_and_stop_on_an_empty_page(client, xero):
    orders = [{"PurchaseOrderID": f"po-{n}", "PurchaseOrderNumber": f"PO-{n}", "Status": "AUTHORISED",
               "Date": "/Date(1552262400000+0000)/"} for n in range(100)]
    xero.answer("GET", "/PurchaseOrders", payload={"PurchaseOrders": orders})
    xero.answer("GET", "/PurchaseOrders", payload={"PurchaseOrders": []})

    result = await client.list_purchase_orders(TENANT, status="AUTHORISED")

    assert len(result) == 100 and result[0].date == date(2019, 3, 11)
    requests = xero.requests
    assert len(requests) == 2 and requests[0].query["Status"] == ["AUTHORISED"]
    assert "If-Modified-Since" not in requests[0].headers


async def test_contact_search_by_name_is_exact_and_escapes_quotes(client, xero):
    xero.answer("GET", "/Contacts", payload={"Contacts": [{"ContactID": "c-7", "Name": 'The "Best" Café'}]})

    (found,) = await client.find_contacts_by_name(TENANT, 'The "Best" Café')

    assert found.contact_id == "c-7"
    assert xero.requests[0].query["where"] == ['Name=="The \\"Best\\" Café"']


async def test_invoice_lookup_by_number(client, xero):
    xero.answer("GET", "/Invoices", payload={"Invoices": [created(draft_invoice("INV-7"))]})
    xero.answer("GET", "/Invoices", payload={"Invoices": []})

    found = await client.find_invoice_by_number(TENANT, "INV-7")
    missing = await client.find_invoice_by_number(TENANT, "INV-8")

    assert found is not None and found.invoice_number == "INV-7"
    assert missing is None
    assert [r.query["InvoiceNumbers"] for r in xero.requests] == [["INV-7"], ["INV-8"]]


def test_invoice_link_opens_the_invoice_in_xero():
    client = XeroClient(None, "https://api.xero.com", None)
    assert client.invoice_url("abc-123") == "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=abc-123"
    sandbox = XeroClient(None, "https://api.xero.com", None, web_url="http://127.0.0.1:3001/xero/app/")
    assert sandbox.invoice_url("x") == "http://127.0.0.1:3001/xero/app/AccountsReceivable/View.aspx?InvoiceID=x"


# ----------------------------------------------------------------------------- parse_xero_error


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "text"),
    [
        (400, json.dumps(VALIDATION_400).encode(), {}, XeroValidationError,
         "Xero rejected the invoice: Email address must be valid.; "
         "Account code '999' is not a valid code for this document."),
        (401, {"Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful"}, {}, XeroAuthError,
         "The connection to Xero is no longer authorised — reconnect with /xero connect"),
        (403, '{"Title":"Forbidden","Detail":"AuthorizationUnsuccessful"}', {}, XeroAuthError, "reconnect"),
        (404, b"", {}, XeroNotFound, "Xero could not find the invoice"),
        (429, b"", {"retry-after": "30", "x-rate-limit-problem": "minute"}, XeroRateLimited,
         "Xero is rate limiting this organisation (minute limit)"),
        (503, "<html>Service Unavailable</html>", {}, XeroUnavailable, "Xero is unavailable right now (HTTP 503)"),
        (400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": "No property or field 'Nme' exists"},
         {}, XeroError, "Xero could not process the invoice (HTTP 400): No property or field 'Nme' exists"),
    ],
)
def test_xero_failures_become_plain_words(status, body, headers, kind, text):
    error = parse_xero_error(status, body, headers, subject="invoice")

    assert type(error) is kind
    assert error.status == status
    assert text in xero_words(error)


def test_rate_limit_error_keeps_retry_after_and_problem():
    error = parse_xero_error(429, None, {"Retry-After": "12", "X-Rate-Limit-Problem": "concurrent"})

    assert (error.retry_after, error.problem) == (12.0, "concurrent")


# ----------------------------------------------------------------------------- the contract helpers themselves
# (tests/support/contracts.py is shared by every suite; these pin down that it accepts good input and rejects bad.)

MINIMAL_SLACK_MANIFEST = {
    "_metadata": {"major_version": 2},
    "display_information": {"name": "Ledgerline"},
    "features": {
        "bot_user": {"display_name": "ledgerline", "always_online": False},
        "slash_commands": [{"command": "/xero", "description": "Xero organisations and invoices",
                            "usage_hint": "connect | list | export INV-123", "should_escape": False}],
    },
    "oauth_config": {"scopes": {"bot": ["commands", "chat:write"]}},
    "settings": {"socket_mode_enabled": True, "interactivity": {"is_enabled": True}},
}


def test_slack_manifest_check_accepts_a_minimal_manifest():
    require_contracts()

    validate_slack_manifest(MINIMAL_SLACK_MANIFEST)


def test_slack_manifest_check_rejects_a_broken_manifest_and_says_where():
    require_contracts()
    broken = {**MINIMAL_SLACK_MANIFEST, "oauth_config": {"scopes": {"bot": "commands,chat:write"}}}

    with pytest.raises(AssertionError, match="oauth_config/scopes/bot"):
        validate_slack_manifest(broken)
    with pytest.raises(AssertionError, match="display_information"):
        validate_slack_manifest({"_metadata": {"major_version": 2}})


def test_identity_request_check_accepts_connections_calls_and_needs_a_bearer_token():
    require_contracts()
    identity = "http://127.0.0.1:9000"

    validate_xero_identity_request("GET", f"{identity}/connections", {"Authorization": "Bearer t"})
    validate_xero_identity_request(
        "DELETE", f"{identity}/connections/e1eede29-f875-4a5d-8470-17f6a29a88b1", {"Authorization": "Bearer t"}
    )
    with pytest.raises(AssertionError, match="bearer"):
        validate_xero_identity_request("GET", f"{identity}/connections", {})
    with pytest.raises(AssertionError):
        validate_xero_identity_request("POST", f"{identity}/connections", {"Authorization": "Bearer t"}, b"{}")
