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
from datetime import datetime, timedelta, timezone
from typing import Callable

from pymongo import ReturnDocument

from services.crash_points import crash_point
from services.crypto import SecretBox
from services.logfmt import fields
from services.storage import Storage, stamp
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
    ):
        self.storage = storage
        self.box = box
        self.oauth = oauth
        self.clock = clock
        self.refresh_margin = refresh_margin
        self.lease = lease
        self.poll_interval = poll_interval
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
                "lease_until": stamp(now),
                "created_at": stamp(now),
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

    async def mark_needs_reconnect(self, token_set_id: str) -> None:
        await self.storage.token_sets.update_one({"_id": token_set_id}, {"$set": {"status": NEEDS_RECONNECT}})
        await self.storage.tenants.update_many(
            {"token_set_id": token_set_id, "status": "connected"}, {"$set": {"status": NEEDS_RECONNECT}}
        )

    async def _refresh_or_wait(self, token_set_id: str) -> str:
        while True:
            doc = await self._load(token_set_id)
            if self._fresh(doc):
                return self.box.decrypt(doc["access_token"])
            claimed = await self._claim_lease(doc)
            if claimed:
                return await self._refresh(claimed)
            await asyncio.sleep(self.poll_interval)  # another process holds the lease

    async def _claim_lease(self, doc: dict) -> dict | None:
        now = self.clock()
        return await self.storage.token_sets.find_one_and_update(
            {"_id": doc["_id"], "version": doc["version"], "lease_until": {"$lte": stamp(now)}},
            {"$set": {"lease_holder": self.process_id, "lease_until": stamp(now + self.lease)}},
            return_document=ReturnDocument.AFTER,
        )

    async def _refresh(self, doc: dict) -> str:
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
                      "lease_holder": None, "lease_until": stamp(now)}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:  # our lease expired and someone else refreshed: theirs wins
            log.warning("xero.refresh_lost_race", **fields(token_set=token_set_id))
            return await self._refresh_or_wait(token_set_id)
        log.info("xero.token_refreshed", **fields(token_set=token_set_id, version=updated["version"]))
        return grant.access_token

    async def _release_lease(self, doc: dict) -> None:
        await self.storage.token_sets.update_one(
            {"_id": doc["_id"], "lease_holder": self.process_id},
            {"$set": {"lease_holder": None, "lease_until": stamp(self.clock())}},
        )

    async def _load(self, token_set_id: str) -> dict:
        doc = await self.storage.token_sets.find_one({"_id": token_set_id})
        if doc is None:
            raise TokenSetNotFound("This Xero connection no longer exists: reconnect with /xero connect")
        if doc["status"] == NEEDS_RECONNECT:
            raise XeroAuthError("The connection to Xero has expired: an admin must reconnect with /xero connect")
        return doc

    def _fresh(self, doc: dict) -> bool:
        return doc["expires_at"] - stamp(self.clock()) > self.refresh_margin.total_seconds()

    def _token_fields(self, grant: TokenGrant, now: datetime) -> dict:
        return {
            "access_token": self.box.encrypt(grant.access_token),
            "refresh_token": self.box.encrypt(grant.refresh_token),
            "expires_at": stamp(now + timedelta(seconds=grant.expires_in)),
            "scope": grant.scope,
            "updated_at": stamp(now),
        }
