"""Async client for the Xero Accounting API: auth headers, rate limits, retries and plain-words errors."""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar

import aiohttp
from pydantic import BaseModel

from services.platform.chunks import chunks
from services.platform.retry import RetryPolicy
from services.xero.errors import (
    XeroAuthError,
    XeroError,
    XeroRateLimited,
    XeroUnavailable,
    XeroValidationError,
    parse_xero_error,
    validation_messages,
)
from services.xero.limiter import TenantLimiter
from services.xero.models import (
    XeroAccount,
    XeroContact,
    XeroCurrency,
    XeroInvoice,
    XeroPurchaseOrder,
    XeroTaxRate,
    XeroTrackingCategory,
    XeroTrackingOption,
)
from services.xero.sync_models import XeroCreditNote

log = logging.getLogger(__name__)

ACCOUNTING_PATH = "/api.xro/2.0"
PAGE_SIZE = 100
SETTINGS_SCOPE = "accounting.settings"  # write access to settings; accounting.settings.read only reads
NUMBERS_PER_LOOKUP = 50  # InvoiceNumbers= rides in the URL, which Xero caps
NAMES_PER_LOOKUP = 20  # names OR-ed in one `where`, also in the URL
CREDIT_NOTES_PER_LOOKUP = 20  # ids OR-ed in one `where` (about 60 characters each in the URL)
MAX_INVOICES_PER_REQUEST = 50
MAX_IDEMPOTENCY_KEY_LENGTH = 128
XERO_WEB_URL = "https://go.xero.com"

_SUBJECTS = {
    "Invoices": ("invoice", "invoices"),
    "Contacts": ("contact", "contacts"),
    "PurchaseOrders": ("purchase order", "purchase orders"),
    "Organisation": ("organisation", "organisation"),
    "Currencies": ("currencies", "currencies"),
    "Accounts": ("accounts", "accounts"),
    "TaxRates": ("tax rates", "tax rates"),
}
SUCCESS_REPORT_INTERVAL = 60.0  # seconds: `on_success` is told at most this often per organisation

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class TenantAuth:
    tenant_id: str
    token_set_id: str


class AccessTokenProvider(Protocol):
    async def access_token(self, token_set_id: str) -> str: ...


class RenewableTokens(Protocol):
    async def renew_refused(self, token_set_id: str, refused_token: str) -> str: ...


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Any
    body: bytes
    token: str = ""  # the access token the call carried


class XeroClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str,
        tokens: AccessTokenProvider,
        *,
        limiter: TenantLimiter | None = None,
        max_attempts: int = 4,
        timeout: float = 30,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        web_url: str = XERO_WEB_URL,
        on_refused: Callable[[TenantAuth], Awaitable[object]] | None = None,
        on_success: Callable[[TenantAuth], Awaitable[object]] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._session = session
        self._base_url = api_url.rstrip("/") + ACCOUNTING_PATH
        self._tokens = tokens
        self._limiter = limiter or TenantLimiter()
        self._retry = RetryPolicy(max(1, max_attempts), jitter)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._sleep = sleep
        self._web_url = web_url.rstrip("/")
        self._on_refused = on_refused  # told when Xero no longer lets us into an organisation (401/403)
        self._on_success = on_success  # told (throttled) that a call to an organisation succeeded
        self._monotonic = monotonic
        self._success_reported: dict[str, float] = {}

    # ----------------------------------------------------------------- transport

    async def request(
        self,
        tenant: TenantAuth,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        if_modified_since: datetime | None = None,
    ) -> dict[str, Any]:
        """One Xero call with the retry policy; returns the decoded JSON answer ({} when empty)."""
        method = method.upper()
        if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise ValueError(f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
        body = jsonlib.dumps(json).encode() if json is not None else None
        subject = _subject(path, json)
        query = _query_strings(params)

        renewed = False  # a 401 on a token we believed fresh gets one refresh, then counts
        for attempt in range(1, self._retry.max_attempts + 1):
            try:
                answer = await self._attempt(tenant, method, path, query, body, idempotency_key, if_modified_since)
            except TimeoutError:
                self._log(method, path, tenant, "timeout", attempt)
                failure: XeroError = XeroUnavailable(code="timeout", data={"seconds": self._timeout.total})
            except aiohttp.ClientConnectionError as exc:
                self._log(method, path, tenant, f"connection error ({type(exc).__name__})", attempt)
                failure = XeroUnavailable(code="unreachable")
            else:
                self._log(method, path, tenant, answer.status, attempt)
                if answer.status < 300:
                    await self._report_success(tenant)
                    return _decode(answer.body)
                failure = parse_xero_error(answer.status, answer.body, answer.headers, subject=subject)
                renew = getattr(self._tokens, "renew_refused", None)
                if answer.status == 401 and not renewed and renew is not None and attempt < self._retry.max_attempts:
                    renewed = True
                    await renew(tenant.token_set_id, answer.token)  # Xero refusing the refresh raises (and marks it)
                    continue
                if isinstance(failure, XeroAuthError) and self._on_refused:
                    await self._on_refused(tenant)
                if not _retryable(failure):
                    raise failure
            if attempt == self._retry.max_attempts:
                raise _gave_up(failure, attempt)
            delay = self._retry.delay(attempt, failure.retry_after if isinstance(failure, XeroRateLimited) else None)
            if delay is None:
                raise failure  # Xero asks for a wait longer than is worth holding a person for
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self,
        tenant: TenantAuth,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: bytes | None,
        idempotency_key: str | None,
        if_modified_since: datetime | None,
    ) -> _Answer:
        token = await self._tokens.access_token(tenant.token_set_id)
        headers = {
            "Authorization": f"Bearer {token}",
            "xero-tenant-id": tenant.tenant_id,
            "Accept": "application/json",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key and method in ("PUT", "POST"):
            headers["Idempotency-Key"] = idempotency_key  # identical on every retry of this call
        if if_modified_since is not None:
            headers["If-Modified-Since"] = format_if_modified_since(if_modified_since)
        async with self._limiter.slot(tenant.tenant_id):
            async with self._session.request(
                method, self._base_url + path, params=query or None, data=body, headers=headers,
                timeout=self._timeout,
            ) as response:
                self._observe(tenant.tenant_id, response.headers)
                return _Answer(response.status, response.headers, await response.read(), token)

    async def _report_success(self, tenant: TenantAuth) -> None:
        if self._on_success is None:
            return
        now = self._monotonic()
        last = self._success_reported.get(tenant.tenant_id)
        if last is not None and now - last < SUCCESS_REPORT_INTERVAL:
            return
        self._success_reported[tenant.tenant_id] = now
        try:
            await self._on_success(tenant)
        except Exception:  # a bookkeeping write must never fail the call itself
            log.warning("xero.success_report_failed tenant=%s", tenant.tenant_id, exc_info=True)

    def _observe(self, tenant_id: str, headers: Any) -> None:
        observe = getattr(self._limiter, "observe", None)  # a limiter may not read Xero's counts
        if observe is not None:
            observe(tenant_id, headers)

    def _log(self, method: str, path: str, tenant: TenantAuth, status: int | str, attempt: int) -> None:
        ok = isinstance(status, int) and status < 400
        log.log(
            logging.INFO if ok else logging.WARNING,
            "xero call method=%s path=%s tenant=%s status=%s attempt=%d/%d",
            method, path, tenant.tenant_id, status, attempt, self._retry.max_attempts,
            extra={"xero_method": method, "xero_path": path, "xero_tenant": tenant.tenant_id,
                   "xero_status": status, "xero_attempt": attempt},
        )

    # ----------------------------------------------------------------- organisation & settings

    async def get_organisation(self, tenant: TenantAuth) -> dict[str, Any]:
        answer = await self.request(tenant, "GET", "/Organisation")
        organisations = answer.get("Organisations") or []
        if not organisations:
            raise XeroError(code="no_organisation")
        organisation: dict[str, Any] = organisations[0]
        return organisation

    async def get_currencies(self, tenant: TenantAuth) -> list[XeroCurrency]:
        answer = await self.request(tenant, "GET", "/Currencies")
        return _parse_list(XeroCurrency, answer, "Currencies")

    async def get_accounts(self, tenant: TenantAuth, *, where: str | None = None) -> list[XeroAccount]:
        answer = await self.request(tenant, "GET", "/Accounts", params={"where": where})
        return _parse_list(XeroAccount, answer, "Accounts")

    async def get_tax_rates(self, tenant: TenantAuth) -> list[XeroTaxRate]:
        answer = await self.request(tenant, "GET", "/TaxRates")
        return _parse_list(XeroTaxRate, answer, "TaxRates")

    async def may_change_settings(self, tenant: TenantAuth) -> bool:
        """Whether the connection was granted accounting.settings (creating a tracking option needs it)."""
        granted_scopes = getattr(self._tokens, "granted_scopes", None)
        granted = await granted_scopes(tenant.token_set_id) if granted_scopes else None
        return granted is None or SETTINGS_SCOPE in granted

    async def get_tracking_categories(self, tenant: TenantAuth) -> list[XeroTrackingCategory]:
        """Active and archived categories with all their options (an archived option is how a check says so)."""
        answer = await self.request(tenant, "GET", "/TrackingCategories", params={"includeArchived": "true"})
        return _parse_list(XeroTrackingCategory, answer, "TrackingCategories")

    async def create_tracking_option(self, tenant: TenantAuth, category_id: str, name: str, *,
                                     idempotency_key: str | None = None) -> XeroTrackingOption:
        """Needs the accounting.settings scope (not .read)."""
        answer = await self.request(tenant, "PUT", f"/TrackingCategories/{category_id}/Options",
                                    json={"Name": name}, idempotency_key=idempotency_key)
        options = _parse_list(XeroTrackingOption, answer, "Options")
        if not options:
            raise XeroError(code="unexpected_body")
        return options[0]

    def calls_left_today(self, tenant_id: str) -> int:
        """The smaller of our own count and what Xero last said (X-DayLimit-Remaining)."""
        return self._limiter.calls_left_today(tenant_id)

    def calls_left_this_minute(self, tenant_id: str) -> int:
        return self._limiter.calls_left_this_minute(tenant_id)

    def day_resets_in(self, tenant_id: str) -> float:
        """Seconds until the day budget grows again."""
        return self._limiter.day_resets_in(tenant_id)

    # ----------------------------------------------------------------- contacts

    async def find_contacts_by_name(
        self, tenant: TenantAuth, name: str, *, include_archived: bool = False
    ) -> list[XeroContact]:
        params = {"where": f"Name=={where_string(name)}", "includeArchived": include_archived or None}
        answer = await self.request(tenant, "GET", "/Contacts", params=params)
        return _parse_list(XeroContact, answer, "Contacts")

    async def create_contact(
        self, tenant: TenantAuth, contact: XeroContact, *, idempotency_key: str
    ) -> XeroContact:
        answer = await self.request(
            tenant, "PUT", "/Contacts", json={"Contacts": [contact.to_xero()]}, idempotency_key=idempotency_key
        )
        _raise_element_errors(answer, "Contacts", "contact")
        contacts = _parse_list(XeroContact, answer, "Contacts")
        if not contacts:
            raise XeroError(code="no_created_contact")
        return contacts[0]

    async def find_contacts_by_names(self, tenant: TenantAuth, names: list[str]) -> list[XeroContact]:
        """Contacts whose name is exactly one of `names`: one call per 20 names (`Name=="a" OR Name=="b"`)."""
        found: list[XeroContact] = []
        unique = list(dict.fromkeys(n.strip() for n in names if n.strip()))
        for chunk in chunks(unique, NAMES_PER_LOOKUP):
            where = " OR ".join(f"Name=={where_string(name)}" for name in chunk)
            answer = await self.request(tenant, "GET", "/Contacts", params={"where": where, "summaryOnly": True})
            found.extend(_parse_list(XeroContact, answer, "Contacts"))
        return found

    async def create_contacts(
        self, tenant: TenantAuth, contacts: list[XeroContact], *, idempotency_key: str
    ) -> list[XeroContact]:
        """Create several contacts in one call with `summarizeErrors=false`: one answer per contact, in order;
        a refused one carries `has_validation_errors`/`validation_errors` and the others are created."""
        if not contacts:
            return []
        answer = await self.request(
            tenant, "PUT", "/Contacts", params={"summarizeErrors": False},
            json={"Contacts": [contact.to_xero() for contact in contacts]}, idempotency_key=idempotency_key,
        )
        return _parse_list(XeroContact, answer, "Contacts")

    async def list_contacts(
        self, tenant: TenantAuth, *, customers_only: bool = False, if_modified_since: datetime | None = None
    ) -> list[XeroContact]:
        params = {"where": "IsCustomer==true" if customers_only else None}
        rows = await self._all_pages(tenant, "/Contacts", "Contacts", params, if_modified_since)
        return [XeroContact.model_validate(row) for row in rows]

    # ----------------------------------------------------------------- invoices

    async def find_invoice_by_number(self, tenant: TenantAuth, number: str) -> XeroInvoice | None:
        # InvoiceNumbers is a comma-separated list, so a number containing a comma needs the slower `where`.
        params = {"where": f"InvoiceNumber=={where_string(number)}"} if "," in number else {"InvoiceNumbers": number}
        answer = await self.request(tenant, "GET", "/Invoices", params=params)
        matches = [i for i in _parse_list(XeroInvoice, answer, "Invoices") if i.invoice_number == number]
        return matches[0] if matches else None

    async def find_invoices_by_numbers(self, tenant: TenantAuth, numbers: list[str]) -> dict[str, XeroInvoice]:
        """Sales invoices with these numbers, by number: one call per 50 numbers (`InvoiceNumbers=`).

        A number containing a comma cannot ride in that list and costs a call of its own."""
        wanted = list(dict.fromkeys(n for n in numbers if n))
        plain = [n for n in wanted if "," not in n]
        found: dict[str, XeroInvoice] = {}
        for chunk in chunks(plain, NUMBERS_PER_LOOKUP):
            answer = await self.request(tenant, "GET", "/Invoices", params={
                "InvoiceNumbers": ",".join(chunk), "summaryOnly": True, "pageSize": 1000})
            for invoice in _parse_list(XeroInvoice, answer, "Invoices"):
                # A deleted invoice gives its number back; a voided one keeps it (and is linked, not recreated).
                number = invoice.invoice_number
                if invoice.type in (None, "ACCREC") and number in chunk and invoice.status != "DELETED":
                    found.setdefault(number or "", invoice)
        for number in (n for n in wanted if "," in n):
            one = await self.find_invoice_by_number(tenant, number)
            if one is not None:
                found[number] = one
        return found

    async def create_invoice_batch(
        self, tenant: TenantAuth, invoices: list[XeroInvoice], *, idempotency_key: str
    ) -> list[XeroInvoice]:
        """Create up to 50 invoices with `summarizeErrors=false` and `unitdp=4`: one answer per invoice, in
        order. A refused invoice comes back with `has_errors` and `validation_messages`; the others are created.
        Raises only for failures of the whole request (auth, rate limit after retries, Xero down)."""
        if len(invoices) > MAX_INVOICES_PER_REQUEST:
            raise ValueError(f"Xero takes at most {MAX_INVOICES_PER_REQUEST} invoices per request, got {len(invoices)}")
        if not invoices:
            return []
        answer = await self.request(
            tenant, "PUT", "/Invoices", params={"summarizeErrors": False, "unitdp": 4},
            json={"Invoices": [invoice.to_xero() for invoice in invoices]}, idempotency_key=idempotency_key,
        )
        return _parse_list(XeroInvoice, answer, "Invoices")

    async def create_invoices(
        self, tenant: TenantAuth, invoices: list[XeroInvoice], *, idempotency_key: str
    ) -> list[XeroInvoice]:
        """Create up to 50 invoices in one call, all or nothing.

        We keep Xero's default `summarizeErrors=true` (sent explicitly): one invalid invoice fails the whole
        batch with a 400, so a retry with the same Idempotency-Key never leaves half a batch behind. A 200
        whose elements still carry HasErrors/ValidationErrors is treated as the same failure.
        """
        if len(invoices) > MAX_INVOICES_PER_REQUEST:
            raise ValueError(f"Xero takes at most {MAX_INVOICES_PER_REQUEST} invoices per request, got {len(invoices)}")
        if not invoices:
            return []
        answer = await self.request(
            tenant, "PUT", "/Invoices",
            params={"summarizeErrors": True},
            json={"Invoices": [invoice.to_xero() for invoice in invoices]},
            idempotency_key=idempotency_key,
        )
        _raise_element_errors(answer, "Invoices", "invoice" if len(invoices) == 1 else "invoices")
        return _parse_list(XeroInvoice, answer, "Invoices")

    async def get_invoices_by_ids(self, tenant: TenantAuth, invoice_ids: list[str]) -> list[dict[str, Any]]:
        """Up to 50 invoices in one call (`IDs=`), with their lines and payments, as Xero sends them."""
        if len(invoice_ids) > MAX_INVOICES_PER_REQUEST:
            raise ValueError(f"at most {MAX_INVOICES_PER_REQUEST} invoice ids per request, got {len(invoice_ids)}")
        if not invoice_ids:
            return []
        # `page` makes Xero include the line items; 50 ids fit in one page of 100.
        answer = await self.request(tenant, "GET", "/Invoices",
                                    params={"IDs": ",".join(invoice_ids), "page": 1, "pageSize": PAGE_SIZE})
        return list(answer.get("Invoices") or [])

    async def list_sales_invoices_modified_since(self, tenant: TenantAuth, since: datetime) -> list[dict[str, Any]]:
        """Every sales invoice created or changed since `since`, page by page (lines and payments included)."""
        return await self._all_pages(tenant, "/Invoices", "Invoices", {"where": 'Type=="ACCREC"'}, since)

    async def get_credit_notes_by_ids(self, tenant: TenantAuth, credit_note_ids: list[str]) -> list[XeroCreditNote]:
        """Up to CREDIT_NOTES_PER_LOOKUP credit notes with their allocations in one call. The endpoint has no
        `IDs=`, so the ids are OR-ed in a `where` (which rides in the URL, hence the smaller batch)."""
        if len(credit_note_ids) > CREDIT_NOTES_PER_LOOKUP:
            raise ValueError(f"at most {CREDIT_NOTES_PER_LOOKUP} credit note ids per request")
        if not credit_note_ids:
            return []
        where = " OR ".join(f'CreditNoteID==Guid("{credit_id}")' for credit_id in credit_note_ids)
        answer = await self.request(tenant, "GET", "/CreditNotes", params={"where": where, "page": 1,
                                                                            "pageSize": PAGE_SIZE})
        return _parse_list(XeroCreditNote, answer, "CreditNotes")

    async def get_contacts_by_ids(self, tenant: TenantAuth, contact_ids: list[str]) -> list[XeroContact]:
        if not contact_ids:
            return []
        answer = await self.request(tenant, "GET", "/Contacts",
                                    params={"IDs": ",".join(contact_ids), "includeArchived": True})
        return _parse_list(XeroContact, answer, "Contacts")

    def invoice_url(self, invoice_id: str) -> str:
        """Where a person opens the invoice in Xero's web app."""
        return f"{self._web_url}/AccountsReceivable/View.aspx?InvoiceID={invoice_id}"

    # ----------------------------------------------------------------- purchase orders

    async def list_purchase_orders(
        self, tenant: TenantAuth, *, status: str | None = None, if_modified_since: datetime | None = None
    ) -> list[XeroPurchaseOrder]:
        rows = await self._all_pages(tenant, "/PurchaseOrders", "PurchaseOrders", {"Status": status},
                                     if_modified_since)
        return [XeroPurchaseOrder.model_validate(row) for row in rows]

    # ----------------------------------------------------------------- helpers

    async def _all_pages(
        self, tenant: TenantAuth, path: str, key: str, params: dict[str, Any],
        if_modified_since: datetime | None,
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = await self.request(
                tenant, "GET", path, params={**params, "page": page, "pageSize": PAGE_SIZE},
                if_modified_since=if_modified_since,
            )
            batch = answer.get(key) or []
            rows.extend(batch)
            if len(batch) < PAGE_SIZE:
                return rows
            page += 1



def where_string(value: str) -> str:
    """A double-quoted literal for Xero's `where` filter, with backslashes and quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_if_modified_since(moment: datetime) -> str:
    """ISO 8601 in UTC (`2024-01-02T03:04:05Z`); naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query_strings(params: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Drop None values; booleans as Xero spells them."""
    query = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        query.append((key, str(value)))
    return query


def _decode(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        decoded = jsonlib.loads(body)
    except ValueError as exc:
        raise XeroError(code="not_json") from exc
    return decoded if isinstance(decoded, dict) else {"items": decoded}


def _retryable(failure: XeroError) -> bool:
    if isinstance(failure, XeroRateLimited) and failure.problem == "day":
        return False  # the day's budget is gone: waiting a minute changes nothing
    return isinstance(failure, (XeroRateLimited, XeroUnavailable))


def _gave_up(failure: XeroError, attempts: int) -> XeroError:
    if isinstance(failure, XeroRateLimited):
        return XeroRateLimited(code=failure.code, data={**failure.data, "attempts": attempts}, status=failure.status,
                               retry_after=failure.retry_after, problem=failure.problem)
    return XeroUnavailable(code=failure.code, data={**failure.data, "attempts": attempts}, status=failure.status)


def _subject(path: str, json: Any) -> str:
    resource = path.strip("/").split("/")[0]
    singular, plural = _SUBJECTS.get(resource, ("request", "request"))
    items = json.get(resource) if isinstance(json, dict) else None
    return plural if isinstance(items, list) and len(items) > 1 else singular


def _parse_list(model: type[Model], answer: dict[str, Any], key: str) -> list[Model]:
    return [model.model_validate(row) for row in answer.get(key) or []]


def _raise_element_errors(answer: dict[str, Any], key: str, subject: str) -> None:
    """Xero can answer 200 while individual elements carry ValidationErrors; that is still a rejection."""
    failed = [
        row for row in answer.get(key) or []
        if row.get("HasErrors") or row.get("HasValidationErrors") or row.get("ValidationErrors")
    ]
    if failed:
        raise XeroValidationError(code="rejected", data={"subject": subject},
                                  status=200, details=validation_messages(failed))
