"""Which Forecast invoices a batch request means, read with one listing of invoices and one of clients.

`select_references` resolves what `/xero export` named (services/exports/refs.py); `select_unexported` picks
every invoice that is approved or sent in Forecast and not yet in Xero, optionally of one client. Both
return the invoices to request and what was refused, with a code (and data) per refused reference:
not_found, no_lines, no_client, already_exported, too_many, client_not_found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from services.exports.refs import MAX_BATCH
from services.forecast import ForecastApi, ForecastCustomer, ForecastInvoice
from services.shared.links import LinkStore

UNEXPORTED_STATUSES = frozenset({"APPROVED", "SENT"})
_BARE_NUMBER = re.compile(r"#?(\d+)")


@dataclass(frozen=True)
class Refusal:
    reference: str
    reason: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Selected:
    invoice: ForecastInvoice
    customer: ForecastCustomer


@dataclass(frozen=True)
class Selection:
    selected: list[Selected]
    refused: list[Refusal]


async def select_references(forecast: ForecastApi, api_key: str, links: LinkStore, team_id: str,
                            references: list[str]) -> Selection:
    """Raises services.forecast.ForecastError when Forecast cannot be read at all."""
    invoices = await forecast.list_invoices(api_key)
    by_reference = {invoice.invoice_reference.casefold(): invoice for invoice in reversed(invoices)}
    by_id = {invoice.id: invoice for invoice in invoices}
    found: list[ForecastInvoice] = []
    refused: list[Refusal] = []
    for reference in references:
        invoice = _find(reference, by_reference, by_id)
        if invoice is None:
            refused.append(Refusal(reference, "not_found"))
        elif invoice not in found:
            found.append(invoice)
    return await _checked(forecast, api_key, links, team_id, found, refused)


async def select_unexported(forecast: ForecastApi, api_key: str, links: LinkStore, team_id: str,
                            client_name: str | None = None) -> Selection:
    """Approved or sent invoices without a live link to Xero, oldest first, at most `MAX_BATCH` (the rest
    refused as too_many, with the limit, to ask for again)."""
    invoices = [i for i in await forecast.list_invoices(api_key) if (i.status or "").upper() in UNEXPORTED_STATUSES]
    customers = {c.id: c for c in await forecast.list_customers(api_key)}
    if client_name:
        wanted = _client_ids(client_name, list(customers.values()))
        if not wanted:
            return Selection([], [Refusal(client_name, "client_not_found")])
        invoices = [i for i in invoices if i.client_id in wanted]
    linked = {int(link.forecast_id) for link in await links.linked_many(team_id, "invoice", [i.id for i in invoices])
              if link.xero_id}
    pending = sorted((i for i in invoices if i.id not in linked), key=lambda i: (i.created_date is None,
                                                                                 i.created_date, i.id))
    refused = [Refusal(i.invoice_reference, "too_many", {"limit": MAX_BATCH}) for i in pending[MAX_BATCH:]]
    return await _checked(forecast, api_key, links, team_id, pending[:MAX_BATCH], refused, customers)


async def _checked(forecast: ForecastApi, api_key: str, links: LinkStore, team_id: str,
                   invoices: list[ForecastInvoice], refused: list[Refusal],
                   customers: dict[int, ForecastCustomer] | None = None) -> Selection:
    linked = await links.linked_many(team_id, "invoice", [i.id for i in invoices])
    live = {int(link.forecast_id): link for link in linked if link.xero_id}
    if customers is None and invoices:
        customers = {c.id: c for c in await forecast.list_customers(api_key)}
    selected: list[Selected] = []
    for invoice in invoices:
        reference = invoice.invoice_reference
        customer = (customers or {}).get(invoice.client_id) if invoice.client_id is not None else None
        if invoice.id in live:
            link = live[invoice.id]
            refused.append(Refusal(reference, "already_exported",
                                   {"tenant_id": link.tenant_id, "xero_number": link.xero_number}))
        elif not invoice.entries:
            refused.append(Refusal(reference, "no_lines"))
        elif customer is None:
            refused.append(Refusal(reference, "no_client"))
        else:
            selected.append(Selected(invoice, customer))
    return Selection(selected, refused)


def _find(reference: str, by_reference: dict[str, ForecastInvoice],
          by_id: dict[int, ForecastInvoice]) -> ForecastInvoice | None:
    """As ForecastApi.find_invoice: the reference case-insensitively; a bare number as INV-n, then as an id."""
    wanted = " ".join(reference.split())
    bare = _BARE_NUMBER.fullmatch(wanted)
    if bare:
        number = int(bare.group(1))
        return by_reference.get(f"inv-{number}") or by_id.get(number)
    return by_reference.get(wanted.casefold())


def _client_ids(name: str, customers: list[ForecastCustomer]) -> set[int]:
    """The client named exactly (any case); else every client whose name contains the words."""
    wanted = " ".join(name.split()).casefold()
    exact = {c.id for c in customers if " ".join(c.name.split()).casefold() == wanted}
    return exact or {c.id for c in customers if wanted in c.name.casefold()}
