"""The Xero stand-in behaves like Xero where the bot can tell: OAuth, identity, accounting, limits, faults."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import BasicAuth
from aiohttp.test_utils import TestClient, TestServer

from sandbox.xero import XERO_STATE, FaultKind, XeroState, create_xero_app
from sandbox.xero.spec_check import default_contracts_dir

REDIRECT_URI = "http://127.0.0.1:3000/xero/oauth/callback"
SCOPE = "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings.read"
CLIENT = BasicAuth("sandbox-client", "sandbox-secret")
START = 1_760_000_000.0
API = "/api/api.xro/2.0"


class FakeClock:
    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Xero:
    client: TestClient
    clock: FakeClock
    verifier: str = ""
    tokens: dict = field(default_factory=dict)

    @property
    def state(self) -> XeroState:
        return self.client.server.app[XERO_STATE]

    def tenant(self, name: str = "Demo Company (UK)") -> str:
        return self.state.tenant_id(name)

    async def consent(self, *, tenants: list[str] | None = None, decision: str = "allow",
                      scope: str = SCOPE) -> dict[str, list[str]]:
        """Walk the consent page as a person would; returns the query of the redirect back to the bot."""
        self.verifier, challenge = pkce_pair()
        params = {"response_type": "code", "client_id": "sandbox-client", "redirect_uri": REDIRECT_URI,
                  "scope": scope, "state": "st-123", "code_challenge": challenge, "code_challenge_method": "S256"}
        page = await self.client.get("/identity/connect/authorize", params=params)
        assert page.status == 200, await page.text()
        form = list(params.items()) + [("decision", decision)]
        if tenants is None:
            tenants = [self.tenant("Demo Company (UK)"), self.tenant("Demo Company (US)")]
        form += [("tenant", tenant) for tenant in tenants]
        answer = await self.client.post("/identity/connect/authorize", data=form, allow_redirects=False)
        assert answer.status == 302, await answer.text()
        location = urlsplit(answer.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
        return parse_qs(location.query)

    async def exchange(self, code: str, verifier: str | None = None):
        return await self.client.post("/connect/token", auth=CLIENT, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier if verifier is not None else self.verifier,
        })

    async def connect(self, **consent_options) -> dict:
        query = await self.consent(**consent_options)
        answer = await self.exchange(query["code"][0])
        assert answer.status == 200, await answer.text()
        self.tokens = await answer.json()
        return self.tokens

    def headers(self, tenant: str | None = None, **extra: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens['access_token']}", "Accept": "application/json", **extra}
        if tenant:
            headers["xero-tenant-id"] = tenant
        return headers

    async def get(self, path: str, tenant: str | None = None, params=None, **headers):
        return await self.client.get(API + path, headers=self.headers(tenant, **headers), params=params)

    async def put(self, path: str, body, tenant: str | None = None, params=None, **headers):
        return await self.client.put(API + path, json=body, headers=self.headers(tenant, **headers), params=params)


@pytest.fixture
async def make_xero():
    clients: list[TestClient] = []

    async def make(data_dir: Path | None = None, clock: FakeClock | None = None, **options) -> Xero:
        clock = clock or FakeClock()
        port = free_port()
        app = create_xero_app(data_dir, public_base_url=f"http://127.0.0.1:{port}", clock=clock, **options)
        client = TestClient(TestServer(app, host="127.0.0.1", port=port))
        await client.start_server()
        clients.append(client)
        return Xero(client, clock)

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def xero(make_xero) -> Xero:
    return await make_xero()


@pytest.fixture
async def connected(xero) -> Xero:
    await xero.connect()
    return xero


def invoice(number: str = "FC-1001", **overrides) -> dict:
    body = {
        "Type": "ACCREC",
        "InvoiceNumber": number,
        "Contact": {"Name": "Acme Corporation"},
        "Date": "2025-10-01",
        "DueDate": "2025-10-31",
        "Status": "DRAFT",
        "LineItems": [{"Description": "Design work", "Quantity": 10, "UnitAmount": 100, "AccountCode": "200"}],
    }
    body.update(overrides)
    return body


def messages(error_body: dict) -> list[str]:
    return [e["Message"] for element in error_body["Elements"] for e in element["ValidationErrors"]]


# Consent and tokens -----------------------------------------------------------------------------------
async def test_consent_page_lists_organisations_scopes_and_buttons(xero):
    _, challenge = pkce_pair()
    page = await xero.client.get("/identity/connect/authorize", params={
        "response_type": "code", "client_id": "sandbox-client", "redirect_uri": REDIRECT_URI, "scope": SCOPE,
        "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
    html = await page.text()
    assert page.status == 200
    for name in ("Demo Company (UK)", "Demo Company (US)", "Acme Holdings NZ"):
        assert name in html
    assert html.count("name='tenant'") == 3 and html.count(" checked") == 2
    assert "View and manage your contacts" in html
    assert 'id="allow-access"' in html and 'id="cancel"' in html


async def test_allow_without_any_organisation_shows_the_page_again(xero):
    _, challenge = pkce_pair()
    answer = await xero.client.post("/identity/connect/authorize", allow_redirects=False, data={
        "response_type": "code", "client_id": "sandbox-client", "redirect_uri": REDIRECT_URI, "scope": SCOPE,
        "state": "s", "code_challenge": challenge, "code_challenge_method": "S256", "decision": "allow"})
    assert answer.status == 400 and "Select at least one organisation" in await answer.text()
    assert xero.state.connections == {}


async def test_allow_redirects_with_code_and_state_and_cancel_with_access_denied(xero):
    allowed = await xero.consent()
    assert allowed["state"] == ["st-123"] and allowed["code"][0]
    cancelled = await xero.consent(decision="cancel")
    assert cancelled == {"error": ["access_denied"], "state": ["st-123"]}


async def test_authorize_refuses_unknown_client_and_plain_pkce(xero):
    params = {"response_type": "code", "client_id": "someone-else", "redirect_uri": REDIRECT_URI,
              "scope": SCOPE, "state": "s", "code_challenge": "abc", "code_challenge_method": "S256"}
    unknown = await xero.client.get("/identity/connect/authorize", params=params, allow_redirects=False)
    assert unknown.status == 400 and "unauthorized_client" in await unknown.text()
    plain = await xero.client.get("/identity/connect/authorize", allow_redirects=False,
                                  params=params | {"client_id": "sandbox-client", "code_challenge_method": "plain"})
    assert plain.status == 302
    assert parse_qs(urlsplit(plain.headers["Location"]).query)["error"] == ["invalid_request"]


async def test_code_exchange_answers_like_xero_and_checks_the_pkce_verifier(xero):
    query = await xero.consent()
    wrong = await xero.exchange(query["code"][0], verifier="not-the-verifier-" + "x" * 40)
    assert wrong.status == 400 and (await wrong.json())["error"] == "invalid_grant"

    query = await xero.consent()
    right = await xero.exchange(query["code"][0])
    tokens = await right.json()
    assert right.status == 200
    assert tokens["expires_in"] == 1800 and tokens["token_type"] == "Bearer"
    assert tokens["access_token"] and tokens["refresh_token"] and "accounting.contacts" in tokens["scope"]


async def test_code_is_single_use(xero):
    query = await xero.consent()
    assert (await xero.exchange(query["code"][0])).status == 200
    again = await xero.exchange(query["code"][0])
    assert again.status == 400 and (await again.json())["error"] == "invalid_grant"


async def test_code_expires_after_five_minutes_and_client_secret_is_checked(xero):
    query = await xero.consent()
    bad_client = await xero.client.post("/connect/token", auth=BasicAuth("sandbox-client", "wrong"), data={
        "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT_URI,
        "code_verifier": xero.verifier})
    assert bad_client.status == 400 and (await bad_client.json())["error"] == "invalid_client"
    xero.clock.advance(301)
    late = await xero.exchange(query["code"][0])
    assert (await late.json())["error"] == "invalid_grant"


async def test_refresh_rotates_and_the_old_refresh_token_works_for_30_minutes_more(connected):
    first = connected.tokens["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": first,
            "client_id": "sandbox-client", "client_secret": "sandbox-secret"}
    rotated = await connected.client.post("/connect/token", data=form)
    new_tokens = await rotated.json()
    assert rotated.status == 200 and new_tokens["refresh_token"] != first
    connected.clock.advance(29 * 60)  # a client that died before saving the new pair tries the old one again
    again = await connected.client.post("/connect/token", data=form)
    assert again.status == 200 and (await again.json())["refresh_token"] not in (first, new_tokens["refresh_token"])
    connected.clock.advance(2 * 60)
    reused = await connected.client.post("/connect/token", data=form)
    assert reused.status == 400 and await reused.json() == {"error": "invalid_grant"}
    assert connected.state.token_endpoint_calls["refresh_token"] == 3


async def test_expired_access_token_answers_401_until_refreshed(connected):
    connected.clock.advance(1801)
    answer = await connected.client.get("/api/connections", headers=connected.headers())
    assert answer.status == 401
    assert await answer.json() == {"Type": None, "Title": "Unauthorized", "Status": 401,
                                   "Detail": "AuthenticationUnsuccessful", "Instance": None, "Extensions": {}}


async def test_revoked_app_access_makes_refresh_invalid_grant(connected):
    connected.state.revoke_app_access()
    refresh = await connected.client.post("/connect/token", auth=CLIENT, data={
        "grant_type": "refresh_token", "refresh_token": connected.tokens["refresh_token"]})
    assert (await refresh.json())["error"] == "invalid_grant"


# Identity -------------------------------------------------------------------------------------------
async def test_connections_list_the_granted_tenants_and_can_be_deleted(connected):
    answer = await connected.client.get("/api/connections", headers=connected.headers())
    connections = await answer.json()
    assert answer.status == 200
    assert sorted(c["tenantName"] for c in connections) == ["Demo Company (UK)", "Demo Company (US)"]
    first = connections[0]
    assert first["tenantType"] == "ORGANISATION" and first["authEventId"] and first["createdDateUtc"]

    deleted = await connected.client.delete(f"/api/connections/{first['id']}", headers=connected.headers())
    assert deleted.status == 204
    again = await connected.client.delete(f"/api/connections/{first['id']}", headers=connected.headers())
    assert again.status == 404
    remaining = await (await connected.client.get("/api/connections", headers=connected.headers())).json()
    assert [c["id"] for c in remaining] == [connections[1]["id"]]
    refused = await connected.get("/Organisation", first["tenantId"])
    assert refused.status == 403


# Accounting access --------------------------------------------------------------------------------------
async def test_accounting_needs_a_tenant_the_token_may_reach(connected):
    without = await connected.get("/Organisation")
    assert without.status == 403
    assert (await without.json())["Detail"] == "AuthorizationUnsuccessful"
    not_granted = await connected.get("/Organisation", connected.tenant("Acme Holdings NZ"))
    assert not_granted.status == 403
    allowed = await connected.get("/Organisation", connected.tenant())
    organisation = (await allowed.json())["Organisations"][0]
    assert organisation["Name"] == "Demo Company (UK)" and organisation["BaseCurrency"] == "GBP"


async def test_settings_resources(connected):
    uk = connected.tenant()
    currencies = (await (await connected.get("/Currencies", uk)).json())["Currencies"]
    assert [c["Code"] for c in currencies] == ["GBP", "EUR", "USD"]
    accounts = (await (await connected.get("/Accounts", uk)).json())["Accounts"]
    sales = next(a for a in accounts if a["Code"] == "200")
    assert sales["Type"] == "REVENUE" and sales["TaxType"] == "OUTPUT2"
    rates = (await (await connected.get("/TaxRates", uk)).json())["TaxRates"]
    assert {"OUTPUT2", "NONE"} <= {r["TaxType"] for r in rates}


# Invoices -------------------------------------------------------------------------------------------------
async def test_put_invoice_creates_it_with_xero_totals_and_dates(connected):
    uk = connected.tenant()
    answer = await connected.put("/Invoices", {"Invoices": [invoice()]}, uk)
    created = (await answer.json())["Invoices"][0]
    assert answer.status == 200
    assert created["InvoiceNumber"] == "FC-1001" and created["Contact"]["Name"] == "Acme Corporation"
    assert (created["SubTotal"], created["TotalTax"], created["Total"]) == (1000.0, 200.0, 1200.0)
    assert created["Date"].startswith("/Date(") and created["DueDate"].endswith("+0000)/")
    fetched = await connected.get(f"/Invoices/{created['InvoiceID']}", uk)
    assert (await fetched.json())["Invoices"][0]["InvoiceNumber"] == "FC-1001"
    by_number = await connected.get("/Invoices", uk, params={"InvoiceNumbers": "FC-1001,INV-0001"})
    assert {i["InvoiceNumber"] for i in (await by_number.json())["Invoices"]} == {"FC-1001", "INV-0001"}


async def test_idempotent_put_replays_without_creating_a_second_invoice(connected):
    uk = connected.tenant()
    before = len(connected.state.invoices(uk))
    first = await connected.put("/Invoices", {"Invoices": [invoice()]}, uk, **{"Idempotency-Key": "export-42"})
    second = await connected.put("/Invoices", {"Invoices": [invoice()]}, uk, **{"Idempotency-Key": "export-42"})
    assert first.status == second.status == 200
    assert (await first.json())["Invoices"][0]["InvoiceID"] == (await second.json())["Invoices"][0]["InvoiceID"]
    assert len(connected.state.invoices(uk)) == before + 1


async def test_duplicate_invoice_number_is_a_validation_exception(connected):
    uk = connected.tenant()
    assert (await connected.put("/Invoices", {"Invoices": [invoice("FC-7")]}, uk)).status == 200
    duplicate = await connected.put("/Invoices", {"Invoices": [invoice("FC-7")]}, uk)
    body = await duplicate.json()
    assert duplicate.status == 400
    assert (body["ErrorNumber"], body["Type"], body["Message"]) == (
        10, "ValidationException", "A validation exception occurred")
    assert body["Elements"][0]["InvoiceNumber"] == "FC-7"
    assert messages(body) == ["Invoice # must be unique."]


async def test_currency_the_organisation_does_not_have_is_rejected(connected):
    answer = await connected.put("/Invoices", {"Invoices": [invoice(CurrencyCode="CAD")]}, connected.tenant())
    assert answer.status == 400
    assert messages(await answer.json()) == ["Organisation is not subscribed to currency CAD"]
    in_us = await connected.put("/Invoices", {"Invoices": [invoice(CurrencyCode="CAD")]},
                                connected.tenant("Demo Company (US)"))
    assert in_us.status == 200


async def test_xero_business_rules_for_invoices(connected):
    uk = connected.tenant()
    authorised = invoice("FC-8", Status="AUTHORISED")
    del authorised["DueDate"]
    bad_account = invoice("FC-9", LineItems=[{"Description": "x", "UnitAmount": 1, "AccountCode": "999"}])
    no_lines = invoice("FC-10", LineItems=[])
    answer = await connected.put("/Invoices", {"Invoices": [authorised, bad_account, no_lines]}, uk)
    assert answer.status == 400
    assert messages(await answer.json()) == [
        "Due Date is required.",
        "Account code '999' is not a valid code for this document.",
        "One or more line items must be specified",
    ]
    assert connected.state.invoice_by_number(uk, "FC-8") is None


async def test_summarize_errors_false_saves_the_good_ones(connected):
    uk = connected.tenant()
    answer = await connected.put("/Invoices", {"Invoices": [invoice("FC-20"), invoice("FC-20")]}, uk,
                                 params={"summarizeErrors": "false"})
    results = (await answer.json())["Invoices"]
    assert answer.status == 200
    assert [r["StatusAttributeString"] for r in results] == ["OK", "ERROR"]
    assert results[1]["ValidationErrors"] == [{"Message": "Invoice # must be unique."}]


async def test_invoice_for_an_unknown_contact_name_creates_the_contact(connected):
    uk = connected.tenant()
    answer = await connected.put("/Invoices", {"Invoices": [invoice(Contact={"Name": "Brand New Client"})]}, uk)
    assert answer.status == 200
    assert connected.state.contact_by_name(uk, "Brand New Client")["IsCustomer"] is True


async def test_post_with_an_existing_number_updates_that_invoice(connected):
    uk = connected.tenant()
    created = await (await connected.put("/Invoices", {"Invoices": [invoice("FC-25")]}, uk)).json()
    answer = await connected.client.post(API + "/Invoices", headers=connected.headers(uk),
                                         json={"Invoices": [{"InvoiceNumber": "FC-25", "Status": "AUTHORISED"}]})
    updated = (await answer.json())["Invoices"][0]
    assert answer.status == 200
    assert updated["InvoiceID"] == created["Invoices"][0]["InvoiceID"] and updated["Status"] == "AUTHORISED"
    assert len([i for i in connected.state.invoices(uk) if i["InvoiceNumber"] == "FC-25"]) == 1


async def test_invoices_where_by_contact_and_unreadable_where(connected):
    uk = connected.tenant()
    acme = connected.state.contact_by_name(uk, "Acme Corporation")["ContactID"]
    where = f'Contact.ContactID==Guid("{acme}") AND Type=="ACCREC"'
    answer = await connected.get("/Invoices", uk, params={"where": where})
    found = (await answer.json())["Invoices"]
    assert found and {i["Contact"]["Name"] for i in found} == {"Acme Corporation"}
    unreadable = await connected.get("/Invoices", uk, params={"where": "Date >= DateTime(2020, 01, 01)"})
    assert unreadable.status == 400 and (await unreadable.json())["Type"] == "QueryParseException"


# Contacts --------------------------------------------------------------------------------------------------
async def test_contacts_where_name_and_customers(connected):
    uk = connected.tenant()
    named = await connected.get("/Contacts", uk, params={"where": 'Name=="Globex Ltd"'})
    assert [c["Name"] for c in (await named.json())["Contacts"]] == ["Globex Ltd"]
    customers = await connected.get("/Contacts", uk, params={"where": "IsCustomer==true"})
    names = {c["Name"] for c in (await customers.json())["Contacts"]}
    assert "Acme Corporation" in names and "Office Supplies Co" not in names


async def test_contact_names_are_unique_per_organisation(connected):
    uk = connected.tenant()
    answer = await connected.put("/Contacts", {"Contacts": [{"Name": "Acme Corporation"}]}, uk)
    assert answer.status == 400
    assert "must be unique across all active contacts" in messages(await answer.json())[0]
    unnamed = await connected.put("/Contacts", {"Contacts": [{"EmailAddress": "a@b.example"}]}, uk)
    assert unnamed.status == 400
    elsewhere = await connected.put("/Contacts", {"Contacts": [{"Name": "Acme Corporation"}]},
                                    connected.tenant("Demo Company (US)"))
    assert elsewhere.status == 200


async def test_contacts_paging_and_if_modified_since(make_xero):
    xero = await make_xero(many_contacts=150)
    await xero.connect()
    uk = xero.tenant()
    total = len(xero.state.contacts(uk))
    first = await (await xero.get("/Contacts", uk, params={"page": "1"})).json()
    second = await (await xero.get("/Contacts", uk, params={"page": "2"})).json()
    assert len(first["Contacts"]) == 100 and len(second["Contacts"]) == total - 100
    assert first["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 2, "itemCount": total}
    assert not {c["ContactID"] for c in first["Contacts"]} & {c["ContactID"] for c in second["Contacts"]}

    xero.clock.advance(1200)
    await xero.put("/Contacts", {"Contacts": [{"Name": "Fresh Customer Ltd"}]}, uk)
    since = "2025-10-09T09:03:20"  # START (08:53:20Z) + 10 minutes; the new contact is 20 minutes in
    recent = await xero.get("/Contacts", uk, **{"If-Modified-Since": since})
    assert recent.status == 200, await recent.text()
    assert [c["Name"] for c in (await recent.json())["Contacts"]] == ["Fresh Customer Ltd"]


# Purchase orders ----------------------------------------------------------------------------------------------
async def test_purchase_orders_filter_by_status(connected):
    uk = connected.tenant()
    everything = (await (await connected.get("/PurchaseOrders", uk)).json())["PurchaseOrders"]
    assert {"DRAFT", "SUBMITTED", "AUTHORISED", "BILLED"} == {p["Status"] for p in everything}
    assert all(p["LineItems"] and p["Total"] > 0 for p in everything)
    authorised = await connected.get("/PurchaseOrders", uk, params={"status": "AUTHORISED", "page": "1"})
    assert {p["Status"] for p in (await authorised.json())["PurchaseOrders"]} == {"AUTHORISED"}


# Limits and faults ---------------------------------------------------------------------------------------------
async def test_sixty_first_call_in_a_minute_is_rate_limited(connected):
    uk = connected.tenant()
    for _ in range(60):
        assert (await connected.get("/Currencies", uk)).status == 200
    limited = await connected.get("/Currencies", uk)
    assert limited.status == 429
    assert limited.headers["X-Rate-Limit-Problem"] == "minute" and int(limited.headers["Retry-After"]) >= 1
    other_tenant = await connected.get("/Currencies", connected.tenant("Demo Company (US)"))
    assert other_tenant.status == 200
    connected.clock.advance(60)
    assert (await connected.get("/Currencies", uk)).status == 200


async def test_more_than_five_concurrent_calls_are_refused(connected):
    uk = connected.tenant()
    connected.state.rate_limiter.in_flight[uk] = 5  # five calls still being answered
    refused = await connected.get("/Currencies", uk)
    assert refused.status == 429 and refused.headers["X-Rate-Limit-Problem"] == "concurrent"
    connected.state.rate_limiter.release(uk)
    assert (await connected.get("/Currencies", uk)).status == 200


async def test_injected_503_fails_only_the_next_call(connected):
    uk = connected.tenant()
    connected.state.inject_fault(FaultKind.UNAVAILABLE)
    assert (await connected.get("/Organisation", uk)).status == 503
    assert (await connected.get("/Organisation", uk)).status == 200


async def test_injected_429_and_validation_faults_target_a_resource(connected):
    uk = connected.tenant()
    connected.state.inject_fault(FaultKind.RATE_LIMITED, retry_after=7, problem="minute")
    limited = await connected.get("/Contacts", uk)
    assert limited.status == 429 and limited.headers["Retry-After"] == "7"
    connected.state.inject_fault("validation", resource="Invoices", message="Sandbox says no")
    assert (await connected.get("/Contacts", uk)).status == 200  # not an invoice call
    refused = await connected.put("/Invoices", {"Invoices": [invoice("FC-30")]}, uk)
    body = await refused.json()
    assert refused.status == 400 and messages(body) == ["Sandbox says no"]
    assert body["Elements"][0]["InvoiceNumber"] == "FC-30"
    assert connected.state.invoice_by_number(uk, "FC-30") is None


async def test_injected_disconnect_removes_the_connection(connected):
    uk = connected.tenant()
    connected.state.inject_fault(FaultKind.DISCONNECT, tenant_id=uk)
    assert (await connected.get("/Organisation", uk)).status == 403
    connections = await (await connected.client.get("/api/connections", headers=connected.headers())).json()
    assert [c["tenantName"] for c in connections] == ["Demo Company (US)"]


async def test_browse_page_form_makes_the_next_export_fail(connected):
    uk = connected.tenant()
    posted = await connected.client.post("/faults", data={"kind": "unavailable", "count": "1",
                                                         "resource": "Invoices", "tenant_id": ""},
                                         allow_redirects=False)
    assert posted.status == 303
    page = await (await connected.client.get("/")).text()
    assert "data-fault-kind='unavailable'" in page
    assert (await connected.put("/Invoices", {"Invoices": [invoice("FC-40")]}, uk)).status == 503
    assert (await connected.put("/Invoices", {"Invoices": [invoice("FC-40")]}, uk)).status == 200
    page = await (await connected.client.get("/")).text()
    assert "data-invoice-number='FC-40'" in page and 'id="fault-form"' in page
    assert "<li class='muted'>none</li>" in page
    assert page.count("data-connection-id=") == 2


async def test_the_fault_forms_defaults_fail_the_invoice_create_not_the_number_look_up_before_it(connected):
    """The README's fault walk: inject with the defaults, then export; the pre-flight's reads get through."""
    uk = connected.tenant()
    page = await (await connected.client.get("/")).text()
    defaults = {name: re.search(rf"<select name=\"{name}\"[^>]*>\s*<option value='([^']*)'", page).group(1)
                for name in ("kind", "method", "resource")}
    assert defaults == {"kind": "validation", "method": "CREATE", "resource": "Invoices"}
    await connected.client.post("/faults", data={**defaults, "count": "1", "tenant_id": ""}, allow_redirects=False)
    assert (await connected.get("/Invoices", uk)).status == 200  # the number look-up before the export
    assert (await connected.put("/Invoices", {"Invoices": [invoice("FC-41")]}, uk)).status == 400
    assert (await connected.put("/Invoices", {"Invoices": [invoice("FC-41")]}, uk)).status == 200


# Spec check and persistence ---------------------------------------------------------------------------------------
async def test_spec_check_rejects_a_malformed_request(connected):
    assert default_contracts_dir() is not None, "Xero contracts missing from tests/contracts/xero"
    uk = connected.tenant()
    bad_page = await connected.get("/Invoices", uk, params={"page": "first"})
    assert bad_page.status == 400 and "page" in (await bad_page.json())["Message"]
    read_only_total = await connected.put("/Invoices", {"Invoices": [invoice("FC-50", Total="lots")]}, uk)
    assert read_only_total.status == 400
    assert "spec" in (await read_only_total.json())["Message"]
    assert len(connected.state.spec_violations) == 2
    assert (await connected.get("/Contacts", uk, **{"If-Modified-Since": "2025-10-01T00:00:00"})).status == 200
    not_a_uuid = await connected.client.delete("/api/connections/not-a-uuid", headers=connected.headers())
    assert not_a_uuid.status == 400 and "Connections" in (await not_a_uuid.json())["Message"]


async def test_data_survive_recreating_the_app_from_the_same_folder(make_xero, tmp_path):
    first = await make_xero(tmp_path)
    await first.connect()
    uk = first.tenant()
    assert (await first.put("/Invoices", {"Invoices": [invoice("FC-60")]}, uk)).status == 200
    await first.client.close()

    second = await make_xero(tmp_path, clock=first.clock)
    second.tokens = first.tokens
    kept = await second.get("/Invoices", uk, params={"InvoiceNumbers": "FC-60"})
    assert kept.status == 200
    assert [i["InvoiceNumber"] for i in (await kept.json())["Invoices"]] == ["FC-60"]
    assert (tmp_path / "xero.json").is_file()


def test_demo_customers_have_an_address_and_tax_number_that_an_import_carries_into_forecast():
    from sandbox.xero.demo_data import build_organisations
    from services.imports.customers import new_client
    from services.xero.models import XeroContact

    for org in build_organisations(time.time()).values():
        customers = [c for c in org["Contacts"].values() if c["IsCustomer"]]
        for record in customers:
            client = new_client(XeroContact.model_validate(record), record["Name"])
            assert client.street and client.city and client.zip and client.country, record["Name"]
            assert client.vat_number and client.vat_number.startswith(org["CountryCode"])
