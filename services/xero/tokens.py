"""Valid access tokens on demand, with refresh that is single-flight and compare-and-swap.

Xero rotates the refresh token on every use. If two bot processes refreshed the same token set at
once, one of them would burn the other's refresh token and the connection would break. So:
- inside a process, one asyncio.Lock per token set lets one coroutine refresh while the others wait;
- across processes, a lease is claimed with find_one_and_update on the document's `version`; whoever
  holds the lease refreshes and writes the new tokens with version + 1; the others wait for the new
  version to appear and then use it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import ReturnDocument

from services.platform.crash_points import crash_point
from services.platform.crypto import SecretBox
from services.platform.logfmt import fields
from services.platform.storage import Storage
from services.xero.errors import XeroAuthError, XeroError
from services.xero.oauth import TokenGrant, XeroOAuth

log = logging.getLogger(__name__)

ACTIVE = "active"
NEEDS_RECONNECT = "needs_reconnect"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class TokenSetNotFound(XeroError):
    pass


class TokenService:
    def __init__(
        self,
        storage: Storage,
        box: SecretBox,
        oauth: XeroOAuth,
        *,
        clock: Callable[[], datetime] = utcnow,
        refresh_margin: timedelta = timedelta(minutes=5),
        lease: timedelta = timedelta(seconds=30),
        poll_interval: float = 0.05,
        on_needs_reconnect: Callable[[str], Awaitable[object]] | None = None,
    ):
        self.storage = storage
        self.box = box
        self.oauth = oauth
        self.clock = clock
        self.refresh_margin = refresh_margin
        self.lease = lease
        self.poll_interval = poll_interval
        # Told the token set's id when Xero refuses its refresh token, so the owner of `tenants` can mark them.
        self.on_needs_reconnect = on_needs_reconnect
        self.process_id = uuid.uuid4().hex
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def save(self, grant: TokenGrant, *, team_id: str, user_id: str) -> str:
        """Store a fresh grant (encrypted) and return its token set id."""
        token_set_id = uuid.uuid4().hex
        now = self.clock()
        await self.storage.token_sets.insert_one(
            {
                "_id": token_set_id,
                "team_id": team_id,
                "connected_by": user_id,
                "status": ACTIVE,
                "version": 1,
                "lease_holder": None,
                "lease_until": now,
                "created_at": now,
                **self._token_fields(grant, now),
            }
        )
        return token_set_id

    async def access_token(self, token_set_id: str) -> str:
        doc = await self._load(token_set_id)
        if self._fresh(doc):
            return self.box.decrypt(doc["access_token"])
        async with self._locks[token_set_id]:
            return await self._refresh_or_wait(token_set_id)

    async def granted_scopes(self, token_set_id: str) -> set[str] | None:
        """The scopes Xero granted this token set (None: Xero did not say)."""
        doc = await self.storage.token_sets.find_one({"_id": token_set_id}, {"scope": 1}) or {}
        return set(doc["scope"].split()) if doc.get("scope") else None

    async def renew_refused(self, token_set_id: str, refused_token: str) -> str:
        """Xero answered 401 to an access token we thought fresh (revoked early, clocks apart): refresh once.
        If another call renewed it meanwhile, that token is used; Xero refusing the refresh raises
        XeroAuthError and marks the token set (only then does the organisation need reconnecting)."""
        async with self._locks[token_set_id]:
            doc = await self._load(token_set_id)
            if self.box.decrypt(doc["access_token"]) == refused_token:
                log.info("xero.access_token_refused", **fields(token_set=token_set_id))
                await self.storage.token_sets.update_one({"_id": token_set_id, "version": doc["version"]},
                                                         {"$set": {"expires_at": self.clock()}})
            return await self._refresh_or_wait(token_set_id)

    async def renewed_at(self, token_set_id: str) -> datetime | None:
        """When Xero last gave this token set new tokens (at consent or at a refresh)."""
        doc = await self.storage.token_sets.find_one({"_id": token_set_id}, {"updated_at": 1}) or {}
        when: datetime | None = doc.get("updated_at")
        return when
    async def of_team(self, team_id: str) -> list[str]:
        """The ids of the token sets a Slack workspace's admins granted."""
        return [str(doc["_id"]) async for doc in self.storage.token_sets.find({"team_id": team_id}, {"_id": 1})]

    async def retire(self, token_set_id: str) -> bool:
        """A token set nothing uses any more: revoke its grant at Xero, then delete it.

        It is deleted even when Xero cannot be told (the tokens are of no use to us, and a secret we do not
        keep cannot leak); the answer says whether Xero confirmed the revocation.
        """
        doc = await self.storage.token_sets.find_one({"_id": token_set_id})
        if doc is None:
            return True
        revoked = True
        try:
            await self.oauth.revoke(self.box.decrypt(doc["refresh_token"]))
        except (XeroError, ValueError) as exc:  # ValueError: stored under another encryption key
            revoked = False
            log.warning("xero.revocation_failed", **fields(token_set=token_set_id, error=str(exc)))
        await self.storage.token_sets.delete_one({"_id": token_set_id})
        self._locks.pop(token_set_id, None)
        log.info("xero.token_set_retired", **fields(token_set=token_set_id, revoked=revoked))
        return revoked

    async def mark_needs_reconnect(self, token_set_id: str) -> None:
        await self.storage.token_sets.update_one({"_id": token_set_id}, {"$set": {"status": NEEDS_RECONNECT}})
        if self.on_needs_reconnect:
            await self.on_needs_reconnect(token_set_id)

    async def _refresh_or_wait(self, token_set_id: str) -> str:
        while True:
            doc = await self._load(token_set_id)
            if self._fresh(doc):
                return self.box.decrypt(doc["access_token"])
            claimed = await self._claim_lease(doc)
            if claimed:
                return await self._refresh(claimed)
            await asyncio.sleep(self.poll_interval)  # another process holds the lease

    async def _claim_lease(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        now = self.clock()
        return await self.storage.token_sets.find_one_and_update(
            {"_id": doc["_id"], "version": doc["version"], "lease_until": {"$lte": now}},
            {"$set": {"lease_holder": self.process_id, "lease_until": now + self.lease}},
            return_document=ReturnDocument.AFTER,
        )

    async def _refresh(self, doc: dict[str, Any]) -> str:
        token_set_id = doc["_id"]
        try:
            grant = await self.oauth.refresh(self.box.decrypt(doc["refresh_token"]))
        except XeroAuthError:
            log.warning("xero.refresh_rejected", **fields(token_set=token_set_id))
            await self.mark_needs_reconnect(token_set_id)
            await self._release_lease(doc)
            raise
        except XeroError:
            await self._release_lease(doc)
            raise
        # A crash here loses the rotated pair: the stored refresh token is then the previous one, which Xero
        # accepts for 30 minutes more, so the next refresh (by any process) still succeeds.
        crash_point("after_refresh_answer")
        now = self.clock()
        updated = await self.storage.token_sets.find_one_and_update(
            {"_id": token_set_id, "version": doc["version"], "lease_holder": self.process_id},
            {"$set": {**self._token_fields(grant, now), "version": doc["version"] + 1,
                      "lease_holder": None, "lease_until": now}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:  # our lease expired and someone else refreshed: theirs wins
            log.warning("xero.refresh_lost_race", **fields(token_set=token_set_id))
            return await self._refresh_or_wait(token_set_id)
        log.info("xero.token_refreshed", **fields(token_set=token_set_id, version=updated["version"]))
        return grant.access_token

    async def _release_lease(self, doc: dict[str, Any]) -> None:
        await self.storage.token_sets.update_one(
            {"_id": doc["_id"], "lease_holder": self.process_id},
            {"$set": {"lease_holder": None, "lease_until": self.clock()}},
        )

    async def _load(self, token_set_id: str) -> dict[str, Any]:
        doc: dict[str, Any] | None = await self.storage.token_sets.find_one({"_id": token_set_id})
        if doc is None:
            raise TokenSetNotFound(code="connection_gone")
        if doc["status"] == NEEDS_RECONNECT:
            raise XeroAuthError(code="expired")
        return doc

    def _fresh(self, doc: dict[str, Any]) -> bool:
        return bool(doc["expires_at"] - self.clock() > self.refresh_margin)

    def _token_fields(self, grant: TokenGrant, now: datetime) -> dict[str, Any]:
        return {
            "access_token": self.box.encrypt(grant.access_token),
            "refresh_token": self.box.encrypt(grant.refresh_token),
            "expires_at": now + timedelta(seconds=grant.expires_in),
            "scope": grant.scope,
            "updated_at": now,
        }
