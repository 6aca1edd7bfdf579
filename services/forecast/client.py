"""Forecast (forecast.it) REST API client. Knows nothing of Slack.

Auth is the `X-FORECAST-API-KEY` header; errors arrive as `{"status": ..., "message": ...}`.
The v1 list endpoints used here return plain JSON arrays; paged endpoints return
`{pageNumber, pageSize, totalObjectCount, pageContents}` and are followed page by page.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from services.forecast.errors import ForecastError, ForecastNotFound, ForecastUnavailable, error_for, scrub
from services.forecast.models import (
    ForecastCompany,
    ForecastCustomer,
    ForecastExpenseCategory,
    ForecastExpenseItem,
    ForecastInvoice,
    ForecastInvoicePayment,
    ForecastProject,
    NewForecastCustomer,
    NewForecastExpenseItem,
    NewForecastInvoicePayment,
)
from services.platform.retry import RetryPolicy

log = logging.getLogger(__name__)

FORECAST_API_URL = "https://api.forecast.it/api/v1"
API_KEY_HEADER = "X-FORECAST-API-KEY"

Sleep = Callable[[float], Awaitable[None]]
_BARE_NUMBER = re.compile(r"#?(\d+)")


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
        jitter: Callable[[], float] = random.random,
    ):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = RetryPolicy(1 + retries, jitter)  # for reads; a create is never repeated
        self.sleep = sleep

    # Invoices ---------------------------------------------------------------------
    # Company ----------------------------------------------------------------------
    async def get_company(self, api_key: str) -> ForecastCompany:
        return ForecastCompany.model_validate(await self._get(api_key, "/company", what="the company"))

    async def check_key(self, api_key: str, *, timeout: float = 2.5) -> ForecastCompany:
        """One quick call, no retries: a form submit must be answered within Slack's 3 seconds."""
        data = await self._send_once("GET", api_key, "/company", what="the company", params=None, json=None,
                                     timeout=timeout)
        return ForecastCompany.model_validate(data)

    async def find_invoice(self, api_key: str, reference: str) -> ForecastInvoice:
        """"INV-123" matches invoice_reference case-insensitively; a bare "123" is tried as
        reference "INV-123" first, then as the invoice id."""
        wanted = " ".join(reference.split())
        if not wanted:
            raise ForecastNotFound(code="no_reference")
        invoices = await self.list_invoices(api_key)
        by_reference = {invoice.invoice_reference.casefold(): invoice for invoice in reversed(invoices)}
        bare = _BARE_NUMBER.fullmatch(wanted)
        if bare:
            number = int(bare.group(1))
            match = by_reference.get(f"inv-{number}") or next((i for i in invoices if i.id == number), None)
        else:
            match = by_reference.get(wanted.casefold())
        if match is None:
            raise ForecastNotFound(code="no_such_invoice", data={"reference": wanted}, status=404)
        return match

    async def get_invoice(self, api_key: str, invoice_id: int) -> ForecastInvoice:
        data = await self._get(api_key, f"/invoices/{int(invoice_id)}", what=f"invoice {invoice_id}")
        return ForecastInvoice.model_validate(data)

    async def list_invoices(self, api_key: str) -> list[ForecastInvoice]:
        rows = await self._get_all(api_key, "/invoices", what="invoices")
        return [ForecastInvoice.model_validate(row) for row in rows]

    async def list_invoices_with_payments(
            self, api_key: str) -> list[tuple[ForecastInvoice, list[ForecastInvoicePayment]]]:
        """Every invoice with the payments Forecast holds for it, in one paged read (the drift check)."""
        rows = await self._get_all(api_key, "/invoices", what="invoices")
        return [(ForecastInvoice.model_validate(row),
                 [ForecastInvoicePayment.model_validate({"invoice_id": row.get("id"), **payment})
                  for payment in row.get("payments") or []]) for row in rows]

    # Clients ----------------------------------------------------------------------
    async def get_customer(self, api_key: str, client_id: int) -> ForecastCustomer:
        data = await self._get(api_key, f"/clients/{int(client_id)}", what=f"client {client_id}")
        return ForecastCustomer.model_validate(data)

    async def list_customers(self, api_key: str) -> list[ForecastCustomer]:
        rows = await self._get_all(api_key, "/clients", what="clients")
        return [ForecastCustomer.model_validate(row) for row in rows]

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

    async def update_customer(self, api_key: str, client_id: int, changes: dict[str, Any]) -> ForecastCustomer:
        """`PUT /clients/{id}` with only the fields that change."""
        data = await self._request("PUT", api_key, f"/clients/{int(client_id)}", what=f"client {client_id}",
                                   json=changes)
        return ForecastCustomer.model_validate(data)

    async def create_customer(self, api_key: str, customer: NewForecastCustomer) -> ForecastCustomer:
        data = await self._request(
            "POST", api_key, "/clients", what=f"client {customer.name}", json=customer.to_request()
        )
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
    async def _get(self, api_key: str, path: str, *, what: str, params: dict[str, Any] | None = None) -> Any:
        return await self._request("GET", api_key, path, what=what, params=params)

    async def _get_all(self, api_key: str, path: str, *, what: str) -> list[dict[str, Any]]:
        """A plain array is the whole list; a paged object is followed until every page is read."""
        body = await self._get(api_key, path, what=what)
        if isinstance(body, list):
            return body
        if not isinstance(body, dict) or "pageContents" not in body:
            raise ForecastError(code="unexpected_answer", data={"what": what})
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
        self, method: str, api_key: str, path: str, *, what: str, params: dict[str, Any] | None = None, json: Any = None
    ) -> Any:
        attempt = 1
        while True:
            try:
                return await self._send_once(method, api_key, path, what=what, params=params, json=json)
            except ForecastUnavailable as failure:
                delay = self.retry.delay(attempt, failure.retry_after) if method == "GET" else None
                if delay is None:
                    raise
            await self.sleep(delay)
            attempt += 1

    async def _send_once(
        self, method: str, api_key: str, path: str, *, what: str, params: dict[str, Any] | None, json: Any,
        timeout: float | None = None,
    ) -> Any:
        timeout = timeout or self.timeout
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
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                if response.status < 400:
                    if response.status == 204:
                        return None
                    return await response.json(content_type=None)
                text = await response.text()
                raise error_for(response.status, text, what=what, api_key=api_key,
                                retry_after=response.headers.get("Retry-After"))
        except TimeoutError:
            log.warning("Forecast %s %s timed out", method, path)
            raise ForecastUnavailable(code="timeout", data={"seconds": timeout}) from None
        except aiohttp.ClientError as exc:
            log.warning("Forecast %s %s failed: %s", method, path, type(exc).__name__)
            raise ForecastUnavailable(code="unreachable", forecast_message=scrub(str(exc), api_key) or None) from None
