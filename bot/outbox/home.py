"""Publishes each person's App Home tab (views.publish), and redraws it when what it shows changes.

Who to redraw: everyone who opened the Home tab in the workspace in the last 30 days, kept in MongoDB (`home_viewers`)
so any process, after a restart or on another replica, redraws them all. Call `refresh(team_id)` after a change
that everyone sees (organisations, settings, an export's state), or with `user_ids` for a few people.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from bot.blocks.home import home_view
from bot.slack_gateway import SlackCallFailed, SlackGateway
from services.connections.service import ConnectionsService, Tenant
from services.exports.service import ExportService
from services.exports.store import PENDING, ExportRequest
from services.platform.logfmt import fields
from services.shared.home_viewers import HomeViewerStore
from services.shared.permissions import Permissions
from services.shared.settings import WorkspaceSettings, WorkspaceSettingsService
from services.xero.tokens import TokenService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrganisationHealth:
    tenant: Tenant
    token_renewed_at: datetime | None


@dataclass(frozen=True)
class HomeData:
    user_id: str
    is_admin: bool
    is_approver: bool
    organisations: list[OrganisationHealth]
    pending: list[ExportRequest]  # requests this person may approve
    recent: list[ExportRequest]
    settings: WorkspaceSettings | None  # admins only


class HomeTab:
    def __init__(self, gateway: SlackGateway, connections: ConnectionsService, tokens: TokenService,
                 exports: ExportService, permissions: Permissions, workspace_settings: WorkspaceSettingsService,
                 viewers: HomeViewerStore):
        self.gateway = gateway
        self.connections = connections
        self.tokens = tokens
        self.exports = exports
        self.permissions = permissions
        self.workspace_settings = workspace_settings
        self.viewers = viewers

    async def opened(self, team_id: str, user_id: str) -> None:
        try:
            await self.viewers.opened(team_id, user_id)
        except Exception:  # the Home tab still shows; only later redraws miss this person
            log.exception("home.viewer_not_saved", **fields(team=team_id, user=user_id))
        await self.publish(team_id, user_id)

    async def refresh(self, team_id: str, user_ids: list[str] | None = None) -> None:
        """Redraw the Home tab of these people (default: everyone who has opened it). Never raises."""
        try:
            targets = list(user_ids) if user_ids is not None else await self.viewers.viewers(team_id)
        except Exception:
            log.exception("home.viewers_unreadable", **fields(team=team_id))
            return
        await asyncio.gather(*(self.publish(team_id, user_id) for user_id in targets))

    async def publish(self, team_id: str, user_id: str) -> None:
        try:
            view = home_view(await self.gather(team_id, user_id))
            await self.gateway.for_team(team_id).publish_home(user_id, view)
        except SlackCallFailed as exc:
            log.warning("home.publish_failed", **fields(team=team_id, user=user_id, error=exc.error))
        except Exception:
            log.exception("home.publish_failed", **fields(team=team_id, user=user_id))

    async def gather(self, team_id: str, user_id: str) -> HomeData:
        is_admin = await self.permissions.is_admin(team_id, user_id)
        is_approver = await self.exports.is_approver(team_id, user_id)
        tenants = await self.connections.list_tenants(team_id)
        renewed = await asyncio.gather(*(self.tokens.renewed_at(t.token_set_id) for t in tenants))
        jobs = self.exports.requests
        pending = []
        if is_approver:
            pending = [j for j in await jobs.recent(team_id, states=(PENDING,), limit=20) if j.requested_by != user_id]
        recent = await jobs.recent(team_id, requested_by=None if is_approver else user_id)
        settings = await self.workspace_settings.get(team_id) if is_admin else None
        health = [OrganisationHealth(t, r) for t, r in zip(tenants, renewed, strict=True)]
        return HomeData(user_id, is_admin, is_approver, health, pending, recent, settings)
