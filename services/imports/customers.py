"""Import Xero customer contacts, from every connected organisation, as Forecast clients.

A selected contact becomes a link (Forecast client <-> organisation, ContactID): to the Forecast client with
the same name (case-insensitive) when there is one, else to a client created from the contact's name,
address and tax number. A contact already linked is skipped; a claim per contact stops two submits from
both creating a client.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

from services.connections.service import Tenant
from services.forecast import ForecastCustomer, ForecastError, NewForecastCustomer
from services.imports.common import ImportBase, ImportSummary, OrganisationStatus, Result, organisation_status
from services.imports.xero_lists import CONTACTS
from services.platform.crash_points import crash_point
from services.platform.logfmt import fields
from services.shared.links import LinkKind
from services.xero.models import XeroAddress, XeroContact

log = logging.getLogger(__name__)

CLIENT: LinkKind = "client"
MAX_CHOICES = 100
# Words that do not tell two companies apart at the end of a name: legal forms and a trailing country.
NAME_SUFFIXES = {"ltd", "limited", "inc", "incorporated", "llc", "llp", "gmbh", "pty", "plc", "ag", "sa", "bv",
                 "nv", "co", "corp", "corporation", "company", "srl", "sarl", "ab", "oy", "as", "aps", "kg",
                 "uk", "us", "usa", "gb", "eu", "au", "nz", "de"}
Decision = Literal["ask", "create", "link"]


def similar_name_key(name: str) -> str:
    """`Stark Industries Ltd.`, `stark industries` and `Stark-Industries (UK)` give the same key."""
    words = re.sub(r"[^\w]+", " ", name.casefold().replace("&", " and ")).split()
    while len(words) > 1 and words[-1] in NAME_SUFFIXES:
        words.pop()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(words)


@dataclass(frozen=True)
class CustomerChoice:
    tenant_id: str
    organisation: str
    contact_id: str
    name: str
    linked: bool


@dataclass(frozen=True)
class Selection:
    tenant_id: str
    contact_id: str


class CustomerImportService(ImportBase):
    async def prepare(self, team_id: str) -> list[OrganisationStatus]:
        """Refresh every organisation's customer list; say per organisation how many there are."""
        tenants = await self.tenants(team_id)
        statuses = []
        for refresh in await self.cache.refresh(team_id, tenants, CONTACTS):
            tenant_id = refresh.tenant.tenant_id
            count = await self.cache.count(team_id, tenant_id, CONTACTS)
            linked = len(await self.links.linked_xero_ids(team_id, CLIENT, tenant_id))
            statuses.append(organisation_status(refresh, count, linked))
        return statuses

    async def search(self, team_id: str, text: str, limit: int = MAX_CHOICES) -> list[CustomerChoice]:
        """Cached customers of every connected organisation whose name contains `text`."""
        tenants = {t.tenant_id: t for t in await self.connections.list_tenants(team_id)}
        records = await self.cache.find(team_id, list(tenants), CONTACTS, text=text, limit=limit)
        linked = {tenant_id: await self.links.linked_xero_ids(team_id, CLIENT, tenant_id) for tenant_id in tenants}
        return [
            CustomerChoice(r.tenant_id, tenants[r.tenant_id].name, r.record_id,
                           (r.record.get("Name") or "").strip(), r.record_id in linked[r.tenant_id])
            for r in records
        ]

    async def import_contacts(self, team_id: str, user_id: str, selections: list[Selection], *,
                              decision: Decision = "ask", link_to: int | None = None) -> ImportSummary:
        """`decision` for a contact whose name only resembles a Forecast client's: "ask" holds it back as
        "similar" (nothing created), "create" creates a client anyway, "link" links it to client `link_to`."""
        api_key = await self.forecast_key(team_id)
        tenants = {t.tenant_id: t for t in await self.connections.list_tenants(team_id)}
        clients = await self.forecast.list_customers(api_key)
        by_name = {c.name.strip().casefold(): c for c in clients}
        if decision == "link":
            target = next((c for c in clients if c.id == link_to), None)
            if target is None:
                summary = ImportSummary()
                summary.add("?", "", "failed", "client_gone")
                return summary
            by_name = {**by_name, **{await self._contact_name(team_id, s): target for s in selections}}
        by_similar = {} if decision == "create" else {similar_name_key(c.name): c for c in reversed(clients)}
        summary = ImportSummary()
        for selection in selections:
            await self._import_one(team_id, user_id, api_key, tenants, by_name, selection, summary, by_similar)
        log.info("import.customers", **fields(team=team_id, user=user_id, **dict(summary.counts)))
        return summary

    async def _contact_name(self, team_id: str, selection: Selection) -> str:
        record = await self.cache.get(team_id, selection.tenant_id, CONTACTS, selection.contact_id) or {}
        return (record.get("Name") or "").strip().casefold()

    async def _import_one(self, team_id: str, user_id: str, api_key: str, tenants: dict[str, Tenant],
                          by_name: dict[str, ForecastCustomer], selection: Selection, summary: ImportSummary,
                          by_similar: dict[str, ForecastCustomer]) -> None:
        tenant = tenants.get(selection.tenant_id)
        if tenant is None:
            summary.add(selection.contact_id, "?", "failed", "organisation_gone")
            return
        record = await self.cache.get(team_id, tenant.tenant_id, CONTACTS, selection.contact_id)
        if record is None:
            summary.add(selection.contact_id, tenant.name, "failed", "contact_gone")
            return
        contact = XeroContact.model_validate(record)
        name = (contact.name or "").strip()
        if not name:
            summary.add("(no name)", tenant.name, "failed", "no_name")
            return
        existing = await self.links.by_xero_id(team_id, CLIENT, tenant.tenant_id, selection.contact_id)
        if existing is not None:
            linked_to = {"client_name": existing.details.get("forecast_client_name"), "client_id": existing.forecast_id}
            summary.add(name, tenant.name, "skipped", "already_linked", linked_to)
            return
        claim = f"contact:{selection.contact_id}"
        if not await self.links.claim(team_id, CLIENT, claim, tenant.tenant_id, claimed_by=user_id):
            summary.add(name, tenant.name, "skipped", "another_import_running")
            return
        try:
            similar = by_similar.get(similar_name_key(name)) if name.casefold() not in by_name else None
            if similar is not None:
                summary.add(name, tenant.name, "similar", "similar_name", tenant_id=tenant.tenant_id,
                            record_id=contact.contact_id, similar_client_id=similar.id,
                            similar_client_name=similar.name)
                return
            await self._link_or_create(team_id, user_id, api_key, tenant, contact, name, by_name, summary,
                                       by_similar)
        finally:
            await self.links.release_claim(team_id, CLIENT, claim, tenant.tenant_id)

    async def _link_or_create(self, team_id: str, user_id: str, api_key: str, tenant: Tenant, contact: XeroContact,
                              name: str, by_name: dict[str, ForecastCustomer], summary: ImportSummary,
                              by_similar: dict[str, ForecastCustomer]) -> None:
        client = by_name.get(name.casefold())
        if client is not None:
            taken = await self.links.get(team_id, CLIENT, client.id, tenant.tenant_id)
            if taken is not None and taken.status == "linked" and taken.xero_id != contact.contact_id:
                summary.add(name, tenant.name, "failed", "client_taken", {"client_name": client.name})
                return
            result: Result = "linked"
        else:
            try:
                client = await self.forecast.create_customer(api_key, new_client(contact, name))
            except ForecastError as exc:
                summary.add(name, tenant.name, "failed", "forecast_refused", {"error": exc})
                return
            by_name[name.casefold()] = client
            by_similar.setdefault(similar_name_key(name), client)
            crash_point("after_forecast_client_created")
            result = "created"
        await self.links.link(team_id, CLIENT, client.id, tenant.tenant_id, xero_id=contact.contact_id,
                              linked_by=user_id, details={"contact_name": name, "forecast_client_name": client.name})
        summary.add(name, tenant.name, result, "client", {"client_name": client.name, "client_id": client.id})


def new_client(contact: XeroContact, name: str) -> NewForecastCustomer:
    """Name, address and tax number; Xero's country is passed on as Xero holds it."""
    address = postal_address(contact.addresses or [])
    street = None
    if address:
        lines = [address.address_line1, address.address_line2, address.address_line3, address.address_line4]
        street = ", ".join(line.strip() for line in lines if line and line.strip()) or None
    return NewForecastCustomer(
        name=name,
        street=street,
        zip=_blank_is_none(address.postal_code if address else None),
        city=_blank_is_none(address.city if address else None),
        country=_blank_is_none(address.country if address else None),
        vat_number=_blank_is_none(contact.tax_number),
    )


def postal_address(addresses: list[XeroAddress]) -> XeroAddress | None:
    """The street address when it has anything in it, else the postal (PO box) one."""
    def filled(address: XeroAddress) -> bool:
        return any([address.address_line1, address.city, address.postal_code, address.country])

    for wanted in ("STREET", "POBOX"):
        for address in addresses:
            if address.address_type == wanted and filled(address):
                return address
    return next((a for a in addresses if filled(a)), None)


def _blank_is_none(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None
