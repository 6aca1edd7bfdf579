"""Slack installations and bot tokens in MongoDB, one row per install (history kept, the latest wins).

The shapes follow slack_sdk's installation store (python-slack-sdk ships none for MongoDB, #1437), but this
module knows nothing of slack_sdk: the adapter in bot/installations.py turns its rows into slack_sdk's
`Installation` and `Bot`. A workspace is keyed by (enterprise_id, team_id) with "" for a missing part; an
Enterprise Grid org-wide install is keyed by its enterprise id alone (team_id "").

Tokens are encrypted at rest. A bot token that rotates (Slack's token rotation: 12-hour access tokens and a
refresh token used once) is refreshed single-flight across processes, like Xero's (services/xero/tokens.py):
a lease on the latest bot row, claimed by compare-and-swap on its `version`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DESCENDING, ReturnDocument

from services.platform.crypto import SecretBox
from services.platform.logfmt import fields
from services.platform.storage import SLACK_STATE_TTL_SECONDS, Storage

log = logging.getLogger(__name__)

SECRET_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token", "incoming_webhook_url")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Workspace:
    """Who installed: a workspace, or an Enterprise Grid org (org-wide install: team_id is "")."""

    enterprise_id: str
    team_id: str

    @classmethod
    def of(cls, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
           ) -> Workspace:
        return cls(enterprise_id or "", "" if is_enterprise_install else (team_id or ""))

    def filter(self) -> dict[str, str]:
        return {"enterprise_id": self.enterprise_id, "team_id": self.team_id}


@dataclass(frozen=True)
class RefreshedToken:
    access_token: str
    refresh_token: str
    expires_in: int


class RefreshRefused(Exception):
    """Slack refused the refresh token (revoked, uninstalled): the workspace must install again."""


Refresher = Callable[[str], Awaitable[RefreshedToken]]


class InstallationRecords:
    """Owns `slack_installations`, `slack_bots` and `slack_grid_teams` (the Grid org serving each workspace)."""

    def __init__(self, storage: Storage, box: SecretBox, *, clock: Callable[[], datetime] = utcnow,
                 refresh_margin: timedelta = timedelta(hours=2), lease: timedelta = timedelta(seconds=30),
                 poll_interval: float = 0.05):
        self.storage = storage
        self.box = box
        self.clock = clock
        self.refresh_margin = refresh_margin
        self.lease = lease
        self.poll_interval = poll_interval
        self.process_id = uuid.uuid4().hex
        self._locks: dict[Workspace, asyncio.Lock] = {}

    # Save ------------------------------------------------------------------------------
    async def save_installation(self, client_id: str, row: dict[str, Any]) -> None:
        """One more row for this install (history is kept; finding takes the latest)."""
        where = Workspace.of(row.get("enterprise_id"), row.get("team_id"), row.get("is_enterprise_install"))
        await self.storage.slack_installations.insert_one(
            {**self._sealed(row), **where.filter(), "client_id": client_id,
             "installed_team_id": row.get("team_id"), "stored_at": self.clock()})

    async def save_bot(self, client_id: str, row: dict[str, Any]) -> None:
        where = Workspace.of(row.get("enterprise_id"), row.get("team_id"), row.get("is_enterprise_install"))
        await self.storage.slack_bots.insert_one(
            {**self._sealed(row), **where.filter(), "client_id": client_id, "installed_team_id": row.get("team_id"),
             "version": 1, "lease_holder": None, "lease_until": self.clock(), "stored_at": self.clock()})

    # Find ------------------------------------------------------------------------------
    async def find_bot(self, client_id: str, where: Workspace) -> dict[str, Any] | None:
        doc = await self._latest_bot(client_id, where)
        return None if doc is None else self._opened(doc)

    async def find_installation(self, client_id: str, where: Workspace, user_id: str | None = None
                                ) -> dict[str, Any] | None:
        query: dict[str, Any] = {"client_id": client_id, **where.filter()}
        if user_id is not None:
            query["user_id"] = user_id
        cursor = self.storage.slack_installations.find(query).sort([("installed_at", DESCENDING),
                                                                    ("stored_at", DESCENDING)]).limit(1)
        found = await cursor.to_list(1)
        if not found:
            return None
        installation = self._opened(found[0])
        if user_id is not None or not installation.get("bot_token"):
            # The workspace's bot token is its latest, whoever installed last (bolt-python #664).
            bot = await self.find_bot(client_id, where)
            if bot is not None:
                installation.update({name: bot.get(name) for name in (
                    "bot_token", "bot_id", "bot_user_id", "bot_scopes", "bot_refresh_token", "bot_token_expires_at")})
        return installation

    async def remember_team(self, client_id: str, enterprise_id: str, team_id: str) -> None:
        """A workspace of an Enterprise Grid org sent a request: its org's org-wide install serves it, also for
        work that later names only the workspace (jobs, outboxes)."""
        await self.storage.slack_grid_teams.update_one(
            {"_id": f"{client_id}:{team_id}"}, {"$set": {"enterprise_id": enterprise_id}}, upsert=True)

    async def org_of(self, client_id: str, team_id: str) -> str | None:
        """The enterprise whose org-wide install serves this workspace, if one does."""
        doc = await self.storage.slack_grid_teams.find_one({"_id": f"{client_id}:{team_id}"})
        return None if doc is None else str(doc["enterprise_id"])

    async def teams_of(self, client_id: str, enterprise_id: str) -> list[str]:
        """The workspaces an org-wide install of `enterprise_id` has served."""
        prefix = f"{client_id}:"
        cursor = self.storage.slack_grid_teams.find({"enterprise_id": enterprise_id})
        ids = [str(doc["_id"]) async for doc in cursor]
        return sorted(found[len(prefix):] for found in ids if found.startswith(prefix))

    async def installed(self, client_id: str, where: Workspace) -> bool:
        return await self.storage.slack_bots.count_documents({"client_id": client_id, **where.filter()}) > 0

    # Delete ----------------------------------------------------------------------------
    async def delete_bot(self, client_id: str, where: Workspace) -> int:
        result = await self.storage.slack_bots.delete_many({"client_id": client_id, **where.filter()})
        if not where.team_id:  # an org-wide install: its workspaces are no longer served by it
            await self.storage.slack_grid_teams.delete_many({"enterprise_id": where.enterprise_id})
        self._locks.pop(where, None)
        return int(result.deleted_count)

    async def delete_installation(self, client_id: str, where: Workspace, user_id: str | None = None) -> int:
        query: dict[str, Any] = {"client_id": client_id, **where.filter()}
        if user_id is not None:
            query["user_id"] = user_id
        return int((await self.storage.slack_installations.delete_many(query)).deleted_count)

    # Tokens ----------------------------------------------------------------------------
    async def bot_token(self, client_id: str, where: Workspace, refresh: Refresher | None = None) -> str | None:
        """The workspace's bot token, refreshed first (by one process) when it rotates and expires soon.

        None when the workspace has no installation, or Slack refused the refresh."""
        doc = await self._latest_bot(client_id, where)
        if doc is None:
            return None
        if self._fresh(doc) or refresh is None:
            return self.box.decrypt(doc["bot_token"])
        lock = self._locks.setdefault(where, asyncio.Lock())
        async with lock:
            return await self._refresh_or_wait(client_id, where, refresh)

    async def _refresh_or_wait(self, client_id: str, where: Workspace, refresh: Refresher) -> str | None:
        while True:
            doc = await self._latest_bot(client_id, where)
            if doc is None:
                return None
            if self._fresh(doc):
                return self.box.decrypt(doc["bot_token"])
            now = self.clock()
            claimed = await self.storage.slack_bots.find_one_and_update(
                {"_id": doc["_id"], "version": doc["version"], "lease_until": {"$lte": now}},
                {"$set": {"lease_holder": self.process_id, "lease_until": now + self.lease}},
                return_document=ReturnDocument.AFTER)
            if claimed is None:
                await asyncio.sleep(self.poll_interval)  # another process is refreshing
                continue
            return await self._refresh(claimed, refresh)

    async def _refresh(self, doc: dict[str, Any], refresh: Refresher) -> str | None:
        try:
            token = await refresh(self.box.decrypt(doc["bot_refresh_token"]))
        except RefreshRefused:
            log.warning("slack.token_refresh_refused", **fields(team=doc.get("team_id"),
                                                               enterprise=doc.get("enterprise_id")))
            await self._release(doc)
            return None
        except Exception:
            await self._release(doc)
            raise
        now = self.clock()
        updated = await self.storage.slack_bots.find_one_and_update(
            {"_id": doc["_id"], "version": doc["version"], "lease_holder": self.process_id},
            {"$set": {"bot_token": self.box.encrypt(token.access_token),
                      "bot_refresh_token": self.box.encrypt(token.refresh_token),
                      "bot_token_expires_at": now + timedelta(seconds=token.expires_in),
                      "version": doc["version"] + 1, "lease_holder": None, "lease_until": now}},
            return_document=ReturnDocument.AFTER)
        if updated is None:  # our lease ran out and another process refreshed: theirs wins
            return await self.bot_token(doc["client_id"], Workspace(doc["enterprise_id"], doc["team_id"]), refresh)
        log.info("slack.token_refreshed", **fields(team=doc.get("team_id"), version=updated["version"]))
        return token.access_token

    async def _release(self, doc: dict[str, Any]) -> None:
        await self.storage.slack_bots.update_one(
            {"_id": doc["_id"], "lease_holder": self.process_id},
            {"$set": {"lease_holder": None, "lease_until": self.clock()}})

    def _fresh(self, doc: dict[str, Any]) -> bool:
        expires_at = doc.get("bot_token_expires_at")
        if expires_at is None or not doc.get("bot_refresh_token"):
            return True  # a token that does not rotate never expires
        return bool(expires_at - self.clock() > self.refresh_margin)

    async def _latest_bot(self, client_id: str, where: Workspace) -> dict[str, Any] | None:
        cursor = self.storage.slack_bots.find({"client_id": client_id, **where.filter()}).sort(
            [("installed_at", DESCENDING), ("stored_at", DESCENDING)]).limit(1)
        found = await cursor.to_list(1)
        return found[0] if found else None

    # Encryption ------------------------------------------------------------------------
    def _sealed(self, row: dict[str, Any]) -> dict[str, Any]:
        sealed = {name: value for name, value in row.items() if name not in ("_id",)}
        for name in SECRET_FIELDS:
            if sealed.get(name):
                sealed[name] = self.box.encrypt(str(sealed[name]))
        return sealed

    def _opened(self, doc: dict[str, Any]) -> dict[str, Any]:
        opened = {name: value for name, value in doc.items()
                  if name not in ("_id", "client_id", "version", "lease_holder", "lease_until", "stored_at")}
        for name in SECRET_FIELDS:
            if opened.get(name):
                opened[name] = self.box.decrypt(opened[name])
        opened["team_id"] = opened.pop("installed_team_id", None) or opened.get("team_id") or None
        opened["enterprise_id"] = opened.get("enterprise_id") or None
        return opened


class InstallStates:
    """Owns `slack_oauth_states`: the state of an "Add to Slack" click, single use, expiring."""

    def __init__(self, storage: Storage, *, ttl_seconds: int = SLACK_STATE_TTL_SECONDS,
                 clock: Callable[[], datetime] = utcnow):
        self.storage = storage
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    async def issue(self) -> str:
        state = secrets.token_urlsafe(32)
        now = self.clock()
        await self.storage.slack_oauth_states.insert_one(
            {"_id": state, "created_at": now, "expires_at": now + timedelta(seconds=self.ttl_seconds)})
        return state

    async def consume(self, state: str) -> bool:
        """True once for a state issued here within its lifetime; a replayed or expired state is False."""
        if not state:
            return False
        # The delete is the claim; the TTL index cleans up, the filter enforces the lifetime.
        found = await self.storage.slack_oauth_states.find_one_and_delete(
            {"_id": state, "expires_at": {"$gt": self.clock()}})
        return found is not None


class Uninstalls:
    """Owns `slack_uninstalls`: workspaces that uninstalled the app, and since when (their data is kept for a
    reinstall until the retention period ends, then deleted)."""

    def __init__(self, storage: Storage, *, clock: Callable[[], datetime] = utcnow):
        self.storage = storage
        self.clock = clock

    async def uninstalled(self, where: Workspace, *, via_org: bool = False) -> None:
        """Marks the workspace uninstalled; a second event (app_uninstalled after tokens_revoked) keeps the date.
        `via_org`: a workspace served by its Enterprise Grid org's install, which was uninstalled."""
        await self.storage.slack_uninstalls.update_one(
            {"_id": _key(where)},
            {"$setOnInsert": {**where.filter(), "via_org": via_org, "uninstalled_at": self.clock()}}, upsert=True)

    async def reinstalled(self, where: Workspace) -> bool:
        """Unmarks the workspace; an org-wide reinstall unmarks the org's workspaces its uninstall marked too."""
        found = bool((await self.storage.slack_uninstalls.delete_one({"_id": _key(where)})).deleted_count)
        if not where.team_id:
            served = await self.storage.slack_uninstalls.delete_many(
                {"enterprise_id": where.enterprise_id, "via_org": True})
            found = found or bool(served.deleted_count)
        return found

    async def since(self, where: Workspace) -> datetime | None:
        doc = await self.storage.slack_uninstalls.find_one({"_id": _key(where)})
        return None if doc is None else doc["uninstalled_at"]

    async def due(self, retention: timedelta) -> list[Workspace]:
        """Workspaces uninstalled longer ago than `retention`."""
        cursor = self.storage.slack_uninstalls.find({"uninstalled_at": {"$lte": self.clock() - retention}})
        return [Workspace(doc["enterprise_id"], doc["team_id"]) async for doc in cursor]

    async def forgotten(self, where: Workspace) -> None:
        await self.storage.slack_uninstalls.delete_one({"_id": _key(where)})


def _key(where: Workspace) -> str:
    return f"{where.enterprise_id}:{where.team_id}"
