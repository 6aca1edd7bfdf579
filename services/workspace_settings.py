"""Per-Slack-workspace settings, with the environment's values as defaults. The Forecast key is encrypted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from services.crypto import SecretBox
from services.storage import Storage
from services.xero.tokens import utcnow

ExportStatus = Literal["DRAFT", "AUTHORISED"]


@dataclass(frozen=True)
class SettingsDefaults:
    """From the environment: APPROVAL_CHANNEL, NOTIFY_CHANNEL, FORECAST_API_KEY."""

    approval_channel: str | None = None
    notify_channel: str | None = None
    forecast_api_key: str | None = None


class WorkspaceSettings(BaseModel):
    team_id: str
    approval_channel: str | None = None
    notify_channel: str | None = None
    approver_users: list[str] = []
    approver_usergroup: str | None = None
    export_status: ExportStatus = "DRAFT"
    account_code: str | None = None
    tax_type: str | None = None
    has_forecast_key: bool = False


class SettingsChanges(BaseModel):
    """What an admin may change; None leaves a value as it is, except where `clear_*` says otherwise."""

    approval_channel: str | None = None
    notify_channel: str | None = None
    approver_users: list[str] | None = None
    approver_usergroup: str | None = None
    export_status: ExportStatus | None = None
    account_code: str | None = None
    tax_type: str | None = None
    forecast_api_key: str | None = None


class WorkspaceSettingsService:
    def __init__(self, storage: Storage, box: SecretBox, defaults: SettingsDefaults):
        self.storage = storage
        self.box = box
        self.defaults = defaults

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
            has_forecast_key=bool(doc.get("forecast_api_key") or self.defaults.forecast_api_key),
        )

    async def update(self, team_id: str, changes: SettingsChanges, *, updated_by: str) -> WorkspaceSettings:
        values = changes.model_dump(exclude_unset=True)
        if values.get("forecast_api_key"):
            values["forecast_api_key"] = self.box.encrypt(values["forecast_api_key"])
        else:
            values.pop("forecast_api_key", None)  # an empty key field keeps the stored key
        values.update(updated_by=updated_by, updated_at=utcnow())
        await self.storage.workspace_settings.update_one({"_id": team_id}, {"$set": values}, upsert=True)
        return await self.get(team_id)

    async def forecast_api_key(self, team_id: str) -> str | None:
        doc = await self.storage.workspace_settings.find_one({"_id": team_id}, {"forecast_api_key": 1}) or {}
        if doc.get("forecast_api_key"):
            return self.box.decrypt(doc["forecast_api_key"])
        return self.defaults.forecast_api_key
