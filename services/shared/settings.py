"""Per-Slack-workspace settings, with the environment's values as defaults. The Forecast key is encrypted."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, model_validator

from services.platform.crypto import SecretBox
from services.platform.storage import Storage
from services.shared.audit import AuditTrail
from services.xero.tokens import utcnow

ExportStatus = Literal["DRAFT", "AUTHORISED"]
ForecastTrigger = Literal["APPROVED", "SENT"]  # a Forecast invoice status that asks for its export by itself


@dataclass(frozen=True)
class SettingsDefaults:
    """From the environment: APPROVAL_CHANNEL, NOTIFY_CHANNEL, FORECAST_API_KEY."""

    approval_channel: str | None = None
    notify_channel: str | None = None
    forecast_api_key: str | None = None


TrackingBy = Literal["project", "client", "fixed"]


class TrackingChoice(BaseModel):
    """Per Xero organisation: the tracking category every exported line carries, and which of its options:
    the Forecast project's name, the client's name (each created in Xero when missing, if allowed), or one
    fixed option."""

    category_id: str
    category_name: str
    by: TrackingBy
    option_name: str | None = None  # `fixed`: the option


class ApprovalRule(BaseModel):
    """Who must approve an export that matches: above an amount in one currency, of one client, or going to
    one organisation (the conditions given all apply). `approvers`: one of them must be among those who
    approved (empty: any approver); `two_approvers`: two different people must approve."""

    currency: str | None = None  # with `above`
    above: Decimal | None = None  # the invoice's total, strictly above, in `currency`
    client_id: int | None = None
    client_name: str | None = None  # for people to read
    tenant_id: str | None = None
    tenant_name: str | None = None
    approvers: list[str] = []
    two_approvers: bool = False

    @model_validator(mode="after")
    def _amount_has_currency(self) -> ApprovalRule:
        if self.above is not None and not self.currency:
            raise ValueError("an amount rule names its currency")
        if self.currency:
            self.currency = self.currency.upper()
        return self


class OrganisationDefaults(BaseModel):
    """Per Xero organisation: the account and tax type of exported invoice lines (None: Xero's own default),
    and the tracking category they carry (None: none)."""

    account_code: str | None = None
    tax_type: str | None = None
    tracking: TrackingChoice | None = None


class WorkspaceSettings(BaseModel):
    team_id: str
    approval_channel: str | None = None
    notify_channel: str | None = None
    approver_users: list[str] = []
    approver_usergroup: str | None = None
    export_status: ExportStatus = "DRAFT"
    account_code: str | None = None  # workspace-wide, from before organisations had their own
    tax_type: str | None = None
    organisation_defaults: dict[str, OrganisationDefaults] = {}  # tenant id -> its own choices
    approval_rules: list[ApprovalRule] = []  # services/exports/rules.py
    has_forecast_key: bool = False
    has_stored_forecast_key: bool = False  # False: the server's default key (if any) is used
    has_default_forecast_key: bool = False
    auto_request_on: list[ForecastTrigger] = []  # empty: invoices wait for someone's /xero export
    digest_hour: int | None = None  # the daily "still waiting" digest, at this hour in `digest_tz`; None: none
    digest_tz: str = "UTC"  # the time zone of the admin who chose the hour
    digest_channel: str | None = None  # None: the approval channel

    def tracking_for(self, tenant_id: str) -> TrackingChoice | None:
        own = self.organisation_defaults.get(tenant_id)
        return own.tracking if own else None

    def line_defaults(self, tenant_id: str) -> tuple[str | None, str | None]:
        """(account code, tax type) for this organisation's invoice lines; the workspace-wide values fill gaps."""
        own = self.organisation_defaults.get(tenant_id) or OrganisationDefaults()
        if own.account_code:
            return own.account_code, own.tax_type
        return self.account_code, own.tax_type or self.tax_type

    def organisation_changes(self, picked: dict[str, OrganisationDefaults],
                             tenant_ids: list[str]) -> dict[str, Any]:
        """The changes that save each organisation's own choice (`picked`) in place of the old workspace-wide
        account and tax type, which are copied first to organisations the form could not show (Xero
        unreadable), so they keep what applied."""
        chosen: dict[str, OrganisationDefaults] = {}
        for tenant_id in tenant_ids:
            if tenant_id in picked:
                chosen[tenant_id] = picked[tenant_id]
            else:
                account_code, tax_type = self.line_defaults(tenant_id)
                chosen[tenant_id] = OrganisationDefaults(account_code=account_code, tax_type=tax_type,
                                                         tracking=self.tracking_for(tenant_id))
        return {"organisation_defaults": chosen, "account_code": None, "tax_type": None}


class SettingsChanges(BaseModel):
    """What an admin may change; None leaves a value as it is, except where `clear_*` says otherwise."""

    approval_channel: str | None = None
    notify_channel: str | None = None
    approver_users: list[str] | None = None
    approver_usergroup: str | None = None
    export_status: ExportStatus | None = None
    account_code: str | None = None
    tax_type: str | None = None
    organisation_defaults: dict[str, OrganisationDefaults] | None = None  # merged into what is stored
    approval_rules: list[ApprovalRule] | None = None  # replaces what is stored
    forecast_api_key: str | None = None
    use_default_forecast_key: bool | None = None  # True: forget the stored key, use the server's
    auto_request_on: list[ForecastTrigger] | None = None
    digest_hour: int | None = None
    digest_tz: str | None = None
    digest_channel: str | None = None


class WorkspaceSettingsService:
    def __init__(self, storage: Storage, box: SecretBox, defaults: SettingsDefaults):
        self.storage = storage
        self.box = box
        self.defaults = defaults
        self.audit = AuditTrail(storage)

    async def get(self, team_id: str) -> WorkspaceSettings:
        doc = await self.storage.workspace_settings.find_one({"_id": team_id}) or {}
        return WorkspaceSettings(
            team_id=team_id,
            approval_channel=doc.get("approval_channel") or self.defaults.approval_channel,
            notify_channel=doc.get("notify_channel") or self.defaults.notify_channel,
            approver_users=doc.get("approver_users") or [],
            approver_usergroup=doc.get("approver_usergroup"),
            export_status=doc.get("export_status") or "DRAFT",
            account_code=doc.get("account_code"),
            tax_type=doc.get("tax_type"),
            organisation_defaults={tenant_id: OrganisationDefaults(**values) for tenant_id, values
                                   in (doc.get("organisation_defaults") or {}).items()},
            approval_rules=[ApprovalRule(**rule) for rule in doc.get("approval_rules") or []],
            has_forecast_key=bool(doc.get("forecast_api_key") or self.defaults.forecast_api_key),
            has_stored_forecast_key=bool(doc.get("forecast_api_key")),
            has_default_forecast_key=bool(self.defaults.forecast_api_key),
            auto_request_on=doc.get("auto_request_on") or [],
            digest_hour=doc.get("digest_hour"),
            digest_tz=doc.get("digest_tz") or "UTC",
            digest_channel=doc.get("digest_channel"),
        )

    async def with_digest(self) -> list[str]:
        """The workspaces that chose an hour for the daily digest of what still waits."""
        found = self.storage.workspace_settings.find({"digest_hour": {"$type": "number"}}, {"_id": 1})
        return [doc["_id"] async for doc in found]

    async def watching_forecast(self) -> list[str]:
        """The workspaces that ask for exports when Forecast approves or sends an invoice."""
        found = self.storage.workspace_settings.find({"auto_request_on": {"$in": ["APPROVED", "SENT"]}}, {"_id": 1})
        return [doc["_id"] async for doc in found]

    async def update(self, team_id: str, changes: SettingsChanges, *, updated_by: str) -> WorkspaceSettings:
        values = changes.model_dump(exclude_unset=True)
        before = await self.get(team_id)
        key_changed = bool(values.get("forecast_api_key") or values.get("use_default_forecast_key"))
        if values.pop("use_default_forecast_key", None):
            values["forecast_api_key"] = None  # stored as None (not unset): `get` falls back to the default
        elif values.get("forecast_api_key"):
            values["forecast_api_key"] = self.box.encrypt(values["forecast_api_key"])
        else:
            values.pop("forecast_api_key", None)  # an empty key field keeps the stored key
        if values.get("organisation_defaults") is not None:
            stored = (await self.get(team_id)).organisation_defaults
            merged = {k: v.model_dump() for k, v in stored.items()} | values["organisation_defaults"]
            values["organisation_defaults"] = merged
        if changes.approval_rules is not None:
            values["approval_rules"] = [rule.model_dump(mode="json") for rule in changes.approval_rules]
        values.update(updated_by=updated_by, updated_at=utcnow())
        await self.storage.workspace_settings.update_one({"_id": team_id}, {"$set": values}, upsert=True)
        after = await self.get(team_id)
        changed = _changed_fields(before, after) + (["forecast_api_key"] if key_changed else [])
        if changed:  # the names of what changed, never a value (the key is a secret)
            await self.audit.record(team_id, "settings_changed", by=updated_by, details={"fields": ",".join(changed)})
        return after

    async def forecast_api_key(self, team_id: str) -> str | None:
        doc = await self.storage.workspace_settings.find_one({"_id": team_id}, {"forecast_api_key": 1}) or {}
        if doc.get("forecast_api_key"):
            return self.box.decrypt(doc["forecast_api_key"])
        return self.defaults.forecast_api_key


_AUDITED_FIELDS = ("approval_channel", "notify_channel", "approver_users", "approver_usergroup", "export_status",
                   "account_code", "tax_type", "organisation_defaults", "auto_request_on", "digest_hour",
                   "digest_channel")


def _changed_fields(before: WorkspaceSettings, after: WorkspaceSettings) -> list[str]:
    return [name for name in _AUDITED_FIELDS if getattr(before, name) != getattr(after, name)]
