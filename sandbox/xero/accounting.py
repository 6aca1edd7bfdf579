"""The Accounting API resources: each handler gets the organisation and the parsed request, returns
(HTTP status, JSON body) shaped as Xero answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable

from multidict import MultiDictProxy

from . import credits, tracking
from .dates import ms_date, parse_if_modified_since
from .query import QueryParseError, paginate, public, updated_at, where_filter
from .validation import (
    MAX_ELEMENTS_PER_REQUEST,
    Plan,
    commit_contact,
    commit_invoice,
    find_contact,
    find_invoice,
    plan_contact,
    plan_invoice,
)

PROVIDER_NAME = "Ledgerline (sandbox)"
Answer = tuple[int, Any]


@dataclass
class ApiRequest:
    method: str
    resource: str  # canonical: "Invoices"
    key: str | None  # the `{id}` path segment, if any
    query: MultiDictProxy
    headers: Any
    json_body: Any
    org: dict[str, Any]
    now: float


def envelope(now: float, key: str, items: list[Any], pagination: dict | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": PROVIDER_NAME,
        "DateTimeUTC": ms_date(now).replace("+0000", ""),
    }
    if pagination is not None:
        body["pagination"] = pagination
    body[key] = items
    return body


def validation_exception(elements: list[dict[str, Any]], message: str = "A validation exception occurred") -> dict:
    return {"ErrorNumber": 10, "Type": "ValidationException", "Message": message, "Elements": elements}


def not_found() -> Answer:
    return 404, {"Title": "Not Found", "Status": 404,
                 "Detail": "The resource you're looking for cannot be found"}


def query_parse_error(message: str) -> Answer:
    return 400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": message}


def _int_param(query, name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _list_param(query, name: str) -> list[str]:
    values = []
    for raw in query.getall(name, []):
        values.extend(v.strip().strip('"') for v in raw.split(",") if v.strip())
    return values


def _modified_since(request: ApiRequest) -> Callable[[dict[str, Any]], bool]:
    since = parse_if_modified_since(request.headers.get("If-Modified-Since"))
    if since is None:
        return lambda _doc: True
    return lambda doc: updated_at(doc) >= since


def _listing(request: ApiRequest, key: str, documents: list[dict[str, Any]], *, default_page_size: int,
             extra: Callable[[dict[str, Any]], bool] = lambda _d: True) -> Answer:
    try:
        matches_where = where_filter(request.query.get("where"))
    except QueryParseError as error:
        return query_parse_error(str(error))
    modified = _modified_since(request)
    shown = []
    for document in documents:
        if not (modified(document) and extra(document)):
            continue
        rendered = public(document, request.org)
        if matches_where(rendered):
            shown.append(rendered)
    page_size = min(max(_int_param(request.query, "pageSize") or default_page_size, 1), 1000)
    items, pagination = paginate(shown, _int_param(request.query, "page"), page_size)
    return 200, envelope(request.now, key, items, pagination)


# Settings ------------------------------------------------------------------------------------
def get_organisation(request: ApiRequest) -> Answer:
    org = request.org
    organisation = {
        "OrganisationID": org["TenantID"],
        "APIKey": "",
        "Name": org["Name"],
        "LegalName": org["Name"],
        "PaysTax": True,
        "Version": {"GB": "UK", "US": "US", "NZ": "NZ"}.get(org["CountryCode"], "GLOBAL"),
        "OrganisationType": "COMPANY",
        "BaseCurrency": org["BaseCurrency"],
        "CountryCode": org["CountryCode"],
        "IsDemoCompany": True,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 3 if org["CountryCode"] == "GB" else 12,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": ms_date(org["CreatedDateUTC"]),
        "OrganisationEntityType": "COMPANY",
        "Timezone": org["Timezone"],
        "ShortCode": "!" + org["TenantID"][:5],
        "Edition": "BUSINESS",
        "Class": "DEMO",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }
    return 200, envelope(request.now, "Organisations", [organisation])


def get_currencies(request: ApiRequest) -> Answer:
    return 200, envelope(request.now, "Currencies", list(request.org["Currencies"]))


def get_accounts(request: ApiRequest) -> Answer:
    if request.key:
        account = next((a for a in request.org["Accounts"] if a["AccountID"] == request.key), None)
        return (200, envelope(request.now, "Accounts", [account])) if account else not_found()
    return _listing(request, "Accounts", request.org["Accounts"], default_page_size=1000)


def get_tax_rates(request: ApiRequest) -> Answer:
    return _listing(request, "TaxRates", request.org["TaxRates"], default_page_size=1000)


def get_tracking_categories(request: ApiRequest) -> Answer:
    include_archived = (request.query.get("includeArchived") or "").lower() == "true"
    shown = tracking.listed(request.org, include_archived)
    if request.key:
        shown = [c for c in shown if c["TrackingCategoryID"] == request.key]
        if not shown:
            return not_found()
    return 200, envelope(request.now, "TrackingCategories", shown)


def save_tracking_option(request: ApiRequest) -> Answer:
    """PUT /TrackingCategories/{id}/Options (a new option) or POST .../Options/{optionId} (rename or archive)."""
    category_id, _, rest = (request.key or "").partition("/")
    sub, _, option_id = rest.partition("/")
    body = request.json_body if isinstance(request.json_body, dict) else {}
    if sub != "Options" or tracking.category(request.org, category_id) is None:
        return not_found()
    if option_id:
        if body.get("Status") not in (None, tracking.ACTIVE, tracking.ARCHIVED):
            return 400, validation_exception([], "Status must be ACTIVE or ARCHIVED")
        option = tracking.set_option_status(request.org, category_id, option_id, body.get("Status") or tracking.ACTIVE)
        if option is None:
            return not_found()
        if body.get("Name"):
            option["Name"] = str(body["Name"]).strip()[:tracking.MAX_NAME]
        return 200, envelope(request.now, "Options", [option])
    option, problems = tracking.add_option(request.org, category_id, body.get("Name"))
    if option is None:
        return 400, validation_exception([{**body, "ValidationErrors": [{"Message": m} for m in problems]}],
                                         problems[0])
    return 200, envelope(request.now, "Options", [option])


# Contacts --------------------------------------------------------------------------------------
def get_contacts(request: ApiRequest) -> Answer:
    org = request.org
    if request.key:
        contact = org["Contacts"].get(request.key) or find_contact(org, {"ContactNumber": request.key})
        return (200, envelope(request.now, "Contacts", [public(contact)])) if contact else not_found()
    ids = {i.lower() for i in _list_param(request.query, "IDs")}
    include_archived = request.query.get("includeArchived", "false").lower() == "true"
    search = (request.query.get("searchTerm") or "").lower()

    def wanted(contact: dict[str, Any]) -> bool:
        searchable = " ".join(str(contact.get(k, "")) for k in ("Name", "FirstName", "LastName", "EmailAddress"))
        return ((not ids or contact["ContactID"] in ids)
                and (include_archived or contact["ContactStatus"] != "ARCHIVED")
                and (not search or search in searchable.lower()))

    contacts = sorted(org["Contacts"].values(), key=lambda c: c["Name"].lower())
    return _listing(request, "Contacts", contacts, default_page_size=100, extra=wanted)


def save_contacts(request: ApiRequest) -> Answer:
    return _save_batch(request, "Contacts", plan_contact, lambda org, plan, _now: commit_contact(org, plan),
                       batch_key="names_in_batch")


# Invoices ----------------------------------------------------------------------------------------
def get_invoices(request: ApiRequest) -> Answer:
    org = request.org
    if request.key:
        invoice = find_invoice(org, request.key)
        return (200, envelope(request.now, "Invoices", [public(invoice, org)])) if invoice else not_found()
    ids = {i.lower() for i in _list_param(request.query, "IDs")}
    numbers = set(_list_param(request.query, "InvoiceNumbers"))
    contact_ids = {i.lower() for i in _list_param(request.query, "ContactIDs")}
    statuses = {s.upper() for s in _list_param(request.query, "Statuses")}

    def wanted(invoice: dict[str, Any]) -> bool:
        return ((not ids or invoice["InvoiceID"] in ids)
                and (not numbers or invoice.get("InvoiceNumber") in numbers)
                and (not contact_ids or invoice["Contact"]["ContactID"] in contact_ids)
                and (not statuses or invoice["Status"] in statuses))

    invoices = sorted(org["Invoices"].values(), key=lambda i: i.get("_created", 0))
    return _listing(request, "Invoices", invoices, default_page_size=100, extra=wanted)


def save_invoices(request: ApiRequest) -> Answer:
    return _save_batch(request, "Invoices", plan_invoice, commit_invoice, batch_key="numbers_in_batch")


# Purchase orders ----------------------------------------------------------------------------------
def get_purchase_orders(request: ApiRequest) -> Answer:
    org = request.org
    if request.key:
        order = org["PurchaseOrders"].get(request.key) or next(
            (p for p in org["PurchaseOrders"].values() if p["PurchaseOrderNumber"] == request.key), None)
        return (200, envelope(request.now, "PurchaseOrders", [public(order, org)])) if order else not_found()
    status = (request.query.get("status") or request.query.get("Status") or "").upper()
    orders = sorted(org["PurchaseOrders"].values(), key=lambda p: p["PurchaseOrderNumber"])
    return _listing(request, "PurchaseOrders", orders, default_page_size=100,
                    extra=lambda order: not status or order["Status"] == status)


# Credit notes, overpayments, prepayments ------------------------------------------------------------
def _credit_reader(kind: str) -> Callable[[ApiRequest], Answer]:
    collection, id_field, _, _ = credits.KINDS[kind]

    def read(request: ApiRequest) -> Answer:
        stored = credits.documents(request.org, kind)
        if request.key:
            document = stored.get(request.key) or next(
                (d for d in stored.values() if d.get("CreditNoteNumber") == request.key), None)
            return (200, envelope(request.now, collection, [public(document, request.org)])) if document \
                else not_found()
        documents = sorted(stored.values(), key=lambda d: d.get("_created", 0))
        return _listing(request, collection, documents, default_page_size=100)
    return read


# Batches ------------------------------------------------------------------------------------------
def submitted_elements(resource: str, body: Any) -> list[Any] | None:
    """Xero takes `{"Invoices": [...]}` or a single bare object."""
    if isinstance(body, dict) and isinstance(body.get(resource), list):
        return body[resource]
    if isinstance(body, dict) and resource not in body:
        return [body]
    return None


def _save_batch(request: ApiRequest, resource: str, plan_one, commit_one, *, batch_key: str) -> Answer:
    elements = submitted_elements(resource, request.json_body)
    if elements is None or not elements:
        return 400, validation_exception([], f"No {resource} were found in the request body")
    if len(elements) > MAX_ELEMENTS_PER_REQUEST:
        return 400, validation_exception(
            [], f"A maximum of {MAX_ELEMENTS_PER_REQUEST} {resource} can be saved in a single request")
    summarize = request.query.get("summarizeErrors", "true").lower() != "false"
    in_batch: set[str] = set()
    plans: list[Plan] = [
        plan_one(request.org, element, request.now, **{batch_key: in_batch}, allow_update=request.method == "POST")
        for element in elements
    ]
    failed = [plan for plan in plans if plan.errors]
    if failed and summarize:
        return 400, validation_exception([_error_element(plan) for plan in failed])
    shown = []
    for plan in plans:
        if plan.errors:
            shown.append(_error_element(plan) | {"StatusAttributeString": "ERROR"})
            continue
        document = commit_one(request.org, plan, request.now)
        rendered = public(document, request.org)
        if not summarize:
            rendered["StatusAttributeString"] = "OK"
        shown.append(rendered)
    return 200, envelope(request.now, resource, shown)


def _error_element(plan: Plan) -> dict[str, Any]:
    element = dict(plan.submitted)
    element["HasErrors"] = True
    element["ValidationErrors"] = [{"Message": message} for message in plan.errors]
    return element


READERS: dict[str, Callable[[ApiRequest], Answer]] = {
    "Organisation": get_organisation,
    "Currencies": get_currencies,
    "Accounts": get_accounts,
    "TaxRates": get_tax_rates,
    "Contacts": get_contacts,
    "Invoices": get_invoices,
    "PurchaseOrders": get_purchase_orders,
    "TrackingCategories": get_tracking_categories,
    "CreditNotes": _credit_reader("credit_note"),
    "Overpayments": _credit_reader("overpayment"),
    "Prepayments": _credit_reader("prepayment"),
}
WRITERS: dict[str, Callable[[ApiRequest], Answer]] = {
    "Contacts": save_contacts,
    "Invoices": save_invoices,
}
SUB_WRITERS: dict[str, Callable[[ApiRequest], Answer]] = {  # writes to a path below one object
    "TrackingCategories": save_tracking_option,
}
IDEMPOTENT_RESOURCES = ("Invoices", "Contacts", "PurchaseOrders", "TrackingCategories")
RESOURCE_NAMES = {name.lower(): name for name in READERS}

# Scopes that reach each resource (broad scopes, and the granular ones newer apps get).
READ_SCOPES = {
    "Organisation": {"accounting.settings", "accounting.settings.read"},
    "Currencies": {"accounting.settings", "accounting.settings.read"},
    "Accounts": {"accounting.settings", "accounting.settings.read"},
    "TaxRates": {"accounting.settings", "accounting.settings.read"},
    "TrackingCategories": {"accounting.settings", "accounting.settings.read"},
    "Contacts": {"accounting.contacts", "accounting.contacts.read"},
    "Invoices": {"accounting.transactions", "accounting.transactions.read", "accounting.invoices",
                 "accounting.invoices.read"},
    "PurchaseOrders": {"accounting.transactions", "accounting.transactions.read", "accounting.invoices",
                       "accounting.invoices.read"},
    "CreditNotes": {"accounting.transactions", "accounting.transactions.read", "accounting.invoices",
                    "accounting.invoices.read"},
    **dict.fromkeys(("Overpayments", "Prepayments"), {
        "accounting.transactions", "accounting.transactions.read", "accounting.payments",
        "accounting.payments.read"}),
}
WRITE_SCOPES = {
    "Contacts": {"accounting.contacts"},
    "Invoices": {"accounting.transactions", "accounting.invoices"},
    "TrackingCategories": {"accounting.settings"},
}
