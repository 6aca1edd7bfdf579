"""A Xero contact linked to a Forecast client: its name, address and tax number flow to the client.

Only what changed in Xero is sent (`PUT /clients/{id}` with those fields): the link remembers the contact
as last seen, so a value someone typed in Forecast is overwritten only when Xero's value changes too.
The first time, Forecast's current values are the baseline. An archived contact changes nothing.

Crash safety: the Forecast update comes first, then `before_saving` (the notice is saved), and only then
does the link remember the new values. A run that died in between finds Forecast already holding Xero's
new values while the link still remembers the old ones, and reports those changes again, so the notice is
saved then (its id depends on the new values only, so it is saved once).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel

from services.forecast import ForecastApi, ForecastError
from services.imports.customers import new_client
from services.platform.crash_points import crash_point
from services.platform.logfmt import fields
from services.shared.links import Link, LinkStore
from services.shared.problems import Problem
from services.xero.models import XeroContact

log = logging.getLogger(__name__)

CLIENT_FIELDS = ("name", "street", "zip", "city", "country", "vat_number")


class FieldChange(BaseModel):
    field: str  # one of CLIENT_FIELDS
    before: str | None
    after: str | None


class ContactSynced(BaseModel):
    team_id: str
    tenant_id: str
    forecast_client_id: int
    client_name: str
    changes: list[FieldChange] = []
    problem: Problem | str | None = None  # Forecast refused or failed (a string: stored by older versions)

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.problem)


def contact_values(contact: XeroContact) -> dict[str, str | None]:
    """The contact as a Forecast client would hold it (the same mapping as the customer import)."""
    client = new_client(contact, (contact.name or "").strip() or "?")
    return {name: getattr(client, name) for name in CLIENT_FIELDS}


@dataclass
class ContactSync:
    forecast: ForecastApi
    links: LinkStore

    async def sync(self, link: Link, contact: XeroContact, *, api_key: str,
                   before_saving: Callable[[ContactSynced], Awaitable[None]] | None = None) -> ContactSynced | None:
        """`before_saving` sees the report (when there is one) before the link remembers the new values."""
        if (contact.contact_status or "ACTIVE").upper() != "ACTIVE" or not (contact.name or "").strip():
            return None
        report = await self._apply(link, contact, api_key)
        if before_saving is not None:
            await before_saving(report)
        if report.problem is None:
            await self.links.update_details(link, {**(link.details or {}), "xero_contact": contact_values(contact)})
        return report

    async def _apply(self, link: Link, contact: XeroContact, api_key: str) -> ContactSynced:
        client_id = int(link.forecast_id)
        try:
            client = await self.forecast.get_customer(api_key, client_id)
        except ForecastError as exc:
            return ContactSynced(team_id=link.team_id, tenant_id=link.tenant_id, forecast_client_id=client_id,
                                 client_name=(link.details or {}).get("contact_name") or str(client_id),
                                 problem=Problem.of(exc))
        current = {name: getattr(client, name) or None for name in CLIENT_FIELDS}
        seen = (link.details or {}).get("xero_contact") or current
        values = contact_values(contact)
        changes = [FieldChange(field=name, before=current[name], after=values[name]) for name in CLIENT_FIELDS
                   if values[name] != seen.get(name) and values[name] != current[name] and values[name] is not None]
        # Made by a run that died before its notice was saved: in Forecast already, not yet remembered.
        done_before = {name: FieldChange(field=name, before=seen.get(name), after=values[name])
                       for name in CLIENT_FIELDS
                       if values[name] != seen.get(name) and values[name] == current[name] and values[name] is not None}
        report = ContactSynced(team_id=link.team_id, tenant_id=link.tenant_id, forecast_client_id=client_id,
                               client_name=client.name, changes=changes)
        if changes and not (link.details or {}).get("xero_contact"):  # the baseline, kept for a run after a crash
            link = await self.links.update_details(link, {**(link.details or {}), "xero_contact": seen})
        if changes:
            try:
                await self.forecast.update_customer(api_key, client_id, {c.field: c.after for c in changes})
            except ForecastError as exc:
                report.problem = Problem.of(exc)
                return report  # the snapshot stays, so the next sync tries again
            crash_point("after_forecast_client_updated")
            log.info("sync.client_updated", **fields(team=link.team_id, tenant=link.tenant_id, client=client_id,
                                                     fields=",".join(c.field for c in changes)))
        if done_before:
            made = {c.field: c for c in changes} | done_before
            report.changes = [made[name] for name in CLIENT_FIELDS if name in made]
        return report
