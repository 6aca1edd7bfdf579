"""Connecting, listing and removing Xero organisations for a Slack workspace."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Callable

from pydantic import BaseModel
from pymongo import ReturnDocument

from services.platform.crypto import SecretBox
from services.platform.hooks import Hook
from services.platform.logfmt import fields
from services.platform.storage import OAUTH_STATE_TTL_SECONDS, Storage
from services.shared.audit import AuditTrail
from services.shared.links import LinkKind, LinkStore
from services.xero.errors import XeroAuthError, XeroError, XeroNotFound
from services.xero.identity import XeroIdentity
from services.xero.oauth import PkcePair, XeroOAuth
from services.xero.tokens import TokenService, utcnow

log = logging.getLogger(__name__)

CONNECTED = "connected"
NEEDS_RECONNECT = "needs_reconnect"
REMOVED = "removed"
LINK_KINDS: tuple[LinkKind, ...] = ("invoice", "purchase_order", "client")


class Tenant(BaseModel):
    """A Xero organisation connected to a Slack workspace."""

    team_id: str
    tenant_id: str
    name: str
    tenant_type: str = "ORGANISATION"
    connection_id: str
    token_set_id: str
    connected_by: str
    connected_at: datetime
    status: str = CONNECTED
    last_success_at: datetime | None = None  # the last call Xero answered with success (at most a minute old)

    @classmethod
    def from_doc(cls, doc: dict) -> Tenant:
        return cls.model_validate({k: v for k, v in doc.items() if k != "_id"})


class ConsentStarted(BaseModel):
    authorize_url: str
    expires_in_minutes: int


class ConsentCompleted(BaseModel):
    team_id: str
    user_id: str
    tenants: list[Tenant]
    answer_url: str | None = None  # where the connect command is answered (opaque here), to redraw that answer


class RemovalPreview(BaseModel):
    tenant: Tenant
    linked: dict[str, int]  # kind -> how many links will be marked unlinked


class RemovalResult(BaseModel):
    tenant: Tenant
    unlinked: int  # every link marked unlinked, payments included
    linked: dict[str, int] = {}  # of those, per kind the confirmation modal counted (invoice, purchase_order, client)
    xero_still_listed: bool = False  # Xero could not be told: the app may still be under Connected apps there


class ConsentStateInvalid(Exception):
    """The callback's state is unknown, expired or already used."""


class ConsentFailed(Exception):
    """Xero refused or failed during the consent; nothing was stored. `reason`: "xero_failed" (`error` says how)
    or "no_organisation" (access granted to none)."""

    def __init__(self, team_id: str, user_id: str, reason: str, error: Exception | None = None):
        super().__init__(f"{reason}: {error}" if error else reason)
        self.team_id = team_id
        self.user_id = user_id
        self.reason = reason
        self.error = error


class TenantNotFound(Exception):
    pass


class ConnectionsService:
    def __init__(
        self,
        storage: Storage,
        box: SecretBox,
        oauth: XeroOAuth,
        identity: XeroIdentity,
        tokens: TokenService,
        *,
        links: LinkStore,
        needs_reconnect: Hook[[str]] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.storage = storage
        self.box = box
        self.oauth = oauth
        self.identity = identity
        self.tokens = tokens
        self.links = links
        self.audit = AuditTrail(storage, clock=clock)
        self.clock = clock
        if needs_reconnect is not None:  # TokenService announces it: Xero refused a refresh token
            needs_reconnect.listen(self.token_set_needs_reconnect)

    # Connect ------------------------------------------------------------------------
    async def start_consent(self, team_id: str, user_id: str, *, channel_id: str | None = None,
                            answer_url: str | None = None) -> ConsentStarted:
        state = secrets.token_urlsafe(32)
        pkce = PkcePair.new()
        now = self.clock()
        await self.storage.oauth_states.insert_one(
            {
                "_id": state,
                "team_id": team_id,
                "user_id": user_id,
                "channel_id": channel_id,
                "code_verifier": self.box.encrypt(pkce.verifier),
                "answer_url": self.box.encrypt(answer_url) if answer_url else None,  # it lets anyone post as the bot
                "created_at": now,  # a real date: the TTL index reads it
                "expires_at": now + timedelta(seconds=OAUTH_STATE_TTL_SECONDS),
            }
        )
        log.info("consent.started", **fields(team=team_id, user=user_id))
        return ConsentStarted(
            authorize_url=self.oauth.authorize_url(state, pkce.challenge),
            expires_in_minutes=OAUTH_STATE_TTL_SECONDS // 60,
        )

    async def complete_consent(self, state: str, code: str) -> ConsentCompleted:
        pending = await self._consume_state(state)
        team_id, user_id = pending["team_id"], pending["user_id"]
        try:
            grant = await self.oauth.exchange_code(code, self.box.decrypt(pending["code_verifier"]))
            granted = await self.identity.connections(grant.access_token)
        except XeroError as exc:
            log.warning("consent.failed", **fields(team=team_id, user=user_id, error=str(exc)))
            raise ConsentFailed(team_id, user_id, "xero_failed", exc) from exc
        if not granted:
            raise ConsentFailed(team_id, user_id, "no_organisation")
        # Only now, with everything Xero said in hand, is anything stored.
        replaced = await self._token_sets_of(team_id, [c.tenant_id for c in granted])
        token_set_id = await self.tokens.save(grant, team_id=team_id, user_id=user_id)
        tenants = [await self._upsert_tenant(team_id, user_id, token_set_id, c) for c in granted]
        log.info("consent.completed", **fields(team=team_id, user=user_id, tenants=len(tenants)))
        for tenant in tenants:
            await self.audit.record(team_id, "connected", by=user_id, tenant_id=tenant.tenant_id,
                                    tenant_name=tenant.name)
        for old_token_set_id in replaced - {token_set_id}:
            await self._retire_if_unused(old_token_set_id)
        answer_url = self.box.decrypt(pending["answer_url"]) if pending.get("answer_url") else None
        return ConsentCompleted(team_id=team_id, user_id=user_id, tenants=tenants, answer_url=answer_url)

    async def decline_consent(self, state: str) -> tuple[str, str]:
        """The admin clicked Cancel at Xero: forget the state, store nothing; who was it?"""
        pending = await self._consume_state(state)
        return pending["team_id"], pending["user_id"]

    async def _consume_state(self, state: str) -> dict:
        if not state:
            raise ConsentStateInvalid()
        # Single use: the delete is the claim. The TTL index cleans up, the filter enforces the 10 minutes.
        pending = await self.storage.oauth_states.find_one_and_delete(
            {"_id": state, "expires_at": {"$gt": self.clock()}}
        )
        if pending is None:
            raise ConsentStateInvalid()
        return pending

    async def _upsert_tenant(self, team_id, user_id, token_set_id, connection) -> Tenant:
        now = self.clock()
        before = await self.storage.tenants.find_one({"team_id": team_id, "tenant_id": connection.tenant_id},
                                                     {"status": 1})
        tenant = Tenant(
            team_id=team_id,
            tenant_id=connection.tenant_id,
            name=connection.tenant_name or connection.tenant_id,
            tenant_type=connection.tenant_type,
            connection_id=connection.id,
            token_set_id=token_set_id,
            connected_by=user_id,
            connected_at=now,
        )
        await self.storage.tenants.update_one(
            {"team_id": team_id, "tenant_id": connection.tenant_id},
            {"$set": tenant.model_dump()},
            upsert=True,
        )
        if before is not None and before.get("status") == REMOVED:
            relinked = await self.links.relink_organisation(team_id, connection.tenant_id, at=now)
            log.info("tenant.reconnected", **fields(team=team_id, tenant=connection.tenant_id, relinked=relinked))
        return tenant

    async def _token_sets_of(self, team_id: str, tenant_ids: list[str]) -> set[str]:
        cursor = self.storage.tenants.find({"team_id": team_id, "tenant_id": {"$in": tenant_ids}})
        return {doc["token_set_id"] async for doc in cursor if doc.get("token_set_id")}

    async def _retire_if_unused(self, token_set_id: str) -> None:
        """Revoke and delete a token set once no connected organisation uses it (a reconnect, a removal)."""
        in_use = await self.storage.tenants.count_documents({"token_set_id": token_set_id, "status": {"$ne": REMOVED}})
        if not in_use:
            await self.tokens.retire(token_set_id)

    async def mark_needs_reconnect(self, tenant) -> None:
        """Xero refused us this organisation: `/xero list` says so until an admin reconnects it."""
        await self._needs_reconnect({"tenant_id": tenant.tenant_id, "token_set_id": tenant.token_set_id})

    async def token_set_needs_reconnect(self, token_set_id: str) -> None:
        """Xero refused the refresh token: every organisation it reached needs reconnecting."""
        await self._needs_reconnect({"token_set_id": token_set_id})

    async def _needs_reconnect(self, which: dict) -> None:
        result = await self.storage.tenants.update_many({**which, "status": CONNECTED},
                                                        {"$set": {"status": NEEDS_RECONNECT}})
        if result.modified_count:
            log.warning("tenant.needs_reconnect", **fields(**which))

    async def record_success(self, tenant) -> None:
        """A call to this organisation just succeeded (the Xero client reports it at most once a minute)."""
        await self.storage.tenants.update_many({"tenant_id": tenant.tenant_id, "token_set_id": tenant.token_set_id},
                                               {"$set": {"last_success_at": utcnow()}})

    async def forget_xero_tokens(self, team_id: str) -> int:
        """The workspace uninstalled the app: revoke and delete its Xero token sets now. Its organisations and
        links stay (needing a reconnect) for a reinstall; another workspace's connection to the same
        organisation has its own token set and is untouched. How many token sets were retired."""
        cursor = self.storage.tenants.find({"team_id": team_id, "status": {"$ne": REMOVED}})
        token_sets = {doc["token_set_id"] async for doc in cursor if doc.get("token_set_id")}
        await self.storage.tenants.update_many({"team_id": team_id, "status": CONNECTED},
                                               {"$set": {"status": NEEDS_RECONNECT}})
        token_sets |= set(await self.tokens.of_team(team_id))
        for token_set_id in token_sets:
            await self.tokens.retire(token_set_id)
        return len(token_sets)

    # List ---------------------------------------------------------------------------
    async def list_tenants(self, team_id: str) -> list[Tenant]:
        cursor = self.storage.tenants.find({"team_id": team_id, "status": {"$ne": REMOVED}}).sort("name", 1)
        return [Tenant.from_doc(doc) async for doc in cursor]

    async def get_tenant(self, team_id: str, tenant_id: str) -> Tenant:
        doc = await self.storage.tenants.find_one(
            {"team_id": team_id, "tenant_id": tenant_id, "status": {"$ne": REMOVED}}
        )
        if doc is None:
            raise TenantNotFound(tenant_id)
        return Tenant.from_doc(doc)

    async def connected_everywhere(self, tenant_id: str) -> list[Tenant]:
        """Every workspace's connection to a Xero organisation (Xero webhooks name only the organisation; the
        same organisation connected from two workspaces is two connections)."""
        cursor = self.storage.tenants.find({"tenant_id": tenant_id, "status": CONNECTED})
        return [Tenant.from_doc(doc) async for doc in cursor]

    async def all_connected(self) -> list[Tenant]:
        return [Tenant.from_doc(doc) async for doc in self.storage.tenants.find({"status": CONNECTED})]

    async def find_by_name(self, team_id: str, query: str) -> list[Tenant]:
        """Exact (case-insensitive) name first; otherwise every organisation whose name contains the query."""
        query = query.strip().lower()
        tenants = await self.list_tenants(team_id)
        exact = [t for t in tenants if t.name.lower() == query]
        return exact or [t for t in tenants if query in t.name.lower()]

    # Remove -------------------------------------------------------------------------
    async def preview_removal(self, team_id: str, tenant_id: str) -> RemovalPreview:
        tenant = await self.get_tenant(team_id, tenant_id)
        linked = {kind: await self.links.count_linked(team_id, tenant_id, kind) for kind in LINK_KINDS}
        return RemovalPreview(tenant=tenant, linked=linked)

    async def remove(self, team_id: str, tenant_id: str, *, removed_by: str) -> RemovalResult:
        tenant = await self.get_tenant(team_id, tenant_id)
        xero_still_listed = not await self._disconnect_at_xero(tenant)
        linked = {kind: await self.links.count_linked(team_id, tenant_id, kind) for kind in LINK_KINDS}
        now = self.clock()
        claimed = await self.storage.tenants.find_one_and_update(
            {"team_id": team_id, "tenant_id": tenant_id, "status": {"$ne": REMOVED}},
            {"$set": {"status": REMOVED, "removed_by": removed_by, "removed_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if claimed is None:
            raise TenantNotFound(tenant_id)
        unlinked = await self.links.unlink_organisation(team_id, tenant_id, by=removed_by, at=now)
        log.info("tenant.removed", **fields(team=team_id, user=removed_by, tenant=tenant_id, unlinked=unlinked))
        await self.audit.record(team_id, "removed", by=removed_by, tenant_id=tenant_id, tenant_name=tenant.name,
                                details={"unlinked": unlinked})
        await self._retire_if_unused(tenant.token_set_id)
        return RemovalResult(tenant=tenant, unlinked=unlinked, linked=linked, xero_still_listed=xero_still_listed)

    async def _disconnect_at_xero(self, tenant: Tenant) -> bool:
        """False when Xero no longer accepts the connection's credentials, so it could not be told."""
        try:
            token = await self.tokens.access_token(tenant.token_set_id)
            await self.identity.delete_connection(token, tenant.connection_id)
        except XeroNotFound:
            return True  # already gone at Xero: nothing more to do
        except XeroAuthError:
            return False
        return True
