"""Which Xero tracking option an exported invoice's lines carry, and whether Xero will take it.

An admin picks, per organisation, one tracking category (Xero allows two active) and how Forecast maps to its
options (services/shared/settings.py TrackingChoice): the project's name, the client's name, or one fixed
option. A missing option is created in Xero when the export runs (PUT /TrackingCategories/{id}/Options,
which needs the accounting.settings scope); without that scope, or for a fixed option, a missing or
archived option stops the export before anything is sent, and the pre-flight check says which.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from services.forecast import ForecastApi, ForecastError, ForecastInvoice
from services.shared.settings import TrackingChoice, WorkspaceSettings
from services.xero.client import MAX_IDEMPOTENCY_KEY_LENGTH, TenantAuth, XeroClient
from services.xero.models import XeroLineTracking, XeroTrackingCategory
from services.xero.reference import OrgReference

ACTIVE = "ACTIVE"
MAX_OPTION_NAME = 100  # Xero's TrackingOption.Name

TrackingStatus = Literal[
    "active",  # the option exists and is active
    "will_create",  # missing: created when the invoice is exported
    "cannot_create",  # missing, and the connection lacks accounting.settings
    "missing",  # a fixed option no longer in the category
    "archived",  # the option is archived in Xero
    "category_gone",  # the category was deleted or archived
    "no_name",  # by project, and the invoice has no project (or by client without a name)
]
BLOCKING: frozenset[str] = frozenset({"cannot_create", "missing", "archived", "category_gone", "no_name"})


@dataclass(frozen=True)
class TrackingPlan:
    category_id: str
    category_name: str
    option_name: str | None
    status: TrackingStatus

    @property
    def blocks(self) -> bool:
        return self.status in BLOCKING

    def data(self) -> dict[str, str | None]:
        return {"category": self.category_name, "option": self.option_name, "tracking": self.status}

    def on_line(self) -> list[XeroLineTracking] | None:
        if self.blocks or not self.option_name:
            return None
        return [XeroLineTracking(name=self.category_name, option=self.option_name)]


def wanted_option(choice: TrackingChoice, client_name: str | None, project_name: str | None) -> str | None:
    """The option's name for this invoice, as Xero would store it (trimmed, at most 100 characters)."""
    if choice.by == "fixed":
        name = choice.option_name
    elif choice.by == "client":
        name = client_name
    else:
        name = project_name
    name = " ".join((name or "").split())
    return name[:MAX_OPTION_NAME] or None


def plan(choice: TrackingChoice | None, reference: OrgReference, *, client_name: str | None,
         project_name: str | None, may_create: bool) -> TrackingPlan | None:
    """None when the organisation puts no tracking on lines (or its categories were not read)."""
    if choice is None or reference.tracking_categories is None:
        return None
    option_name = wanted_option(choice, client_name, project_name)
    category = _category(reference.tracking_categories, choice)

    def planned(status: TrackingStatus) -> TrackingPlan:
        return TrackingPlan(choice.category_id, category.name if category and category.name else choice.category_name,
                            option_name, status)

    if category is None or category.status not in (None, ACTIVE):
        return planned("category_gone")
    if option_name is None:
        return planned("no_name")
    option = next((o for o in category.options if (o.name or "").casefold() == option_name.casefold()), None)
    if option is not None:
        option_name = option.name or option_name
        return planned("active" if option.status in (None, ACTIVE) else "archived")
    if choice.by == "fixed":
        return planned("missing")
    return planned("will_create" if may_create else "cannot_create")


def _category(categories: tuple[XeroTrackingCategory, ...], choice: TrackingChoice) -> XeroTrackingCategory | None:
    return next((c for c in categories if c.tracking_category_id == choice.category_id), None)


async def create_missing(xero: XeroClient, team_id: str, tenant: TenantAuth, plans: list[TrackingPlan]) -> set[str]:
    """Creates each option the plans say will be created (once per name); returns the names created. The
    Idempotency-Key derives from the organisation, category and name, so a retry makes none twice."""
    created: set[str] = set()
    for item in plans:
        if item.status != "will_create" or not item.option_name or item.option_name.casefold() in created:
            continue
        await xero.create_tracking_option(tenant, item.category_id, item.option_name,
                                          idempotency_key=option_key(team_id, tenant.tenant_id, item))
        created.add(item.option_name.casefold())
    return created


def option_key(team_id: str, tenant_id: str, item: TrackingPlan) -> str:
    key = f"fc-tracking:{team_id}:{tenant_id}:{item.category_id}:{item.option_name}"
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        key = "fc-tracking:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def follows_project(settings: WorkspaceSettings) -> bool:
    return any(d.tracking is not None and d.tracking.by == "project" for d in settings.organisation_defaults.values())


def project_of(invoice: ForecastInvoice) -> int | None:
    return invoice.project_id or next((e.project_id for e in invoice.entries if e.project_id), None)


async def project_name(forecast: ForecastApi, api_key: str, invoice: ForecastInvoice, settings: WorkspaceSettings,
                       known: dict[int, str | None] | None = None) -> str | None:
    """The name of the invoice's Forecast project, read only when an organisation's tracking follows projects
    (`known`: names already read in this request, by project id). None when it has none or Forecast can't say."""
    project_id = project_of(invoice)
    if project_id is None or not follows_project(settings):
        return None
    known = {} if known is None else known
    if project_id not in known:
        try:
            known[project_id] = (await forecast.get_project(api_key, project_id)).name or None
        except ForecastError:
            known[project_id] = None  # the check says the option has no name; a new request reads again
    return known[project_id]
