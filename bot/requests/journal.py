"""Slash commands that ack before their answer are saved before that ack, so a process that dies after the ack
and before the answer leaves a trace (a command answered in the ack itself needs none: Slack shows the answer or
its own error): after a restart (or on any replica) the sweep tells the person their command was
interrupted and that typing it again is safe (every command is idempotent: an export already requested is
answered as such). Owner of `slash_commands`.

A command being handled holds a lease, extended while it runs; one whose lease ran out without being
finished belonged to a process that died. The response_url is kept encrypted (it lets anyone post as the bot
to that person for 30 minutes) and the record is deleted once the command is answered or the person told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from pymongo import ReturnDocument

from bot.requests.reader import SlashCommand
from services.platform.crypto import SecretBox
from services.platform.logfmt import fields
from services.platform.storage import Storage
from services.xero.tokens import utcnow

log = logging.getLogger(__name__)

RECEIVED, TELLING = "received", "telling"
KEPT_FOR = timedelta(minutes=30)  # a response_url works for 30 minutes: after that nobody can be told there


class CommandJournal:
    def __init__(self, storage: Storage, box: SecretBox, *, lease_seconds: float,
                 clock: Callable[[], datetime] = utcnow):
        self.commands = storage.slash_commands
        self.box = box
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock

    def entry(self, command: SlashCommand) -> JournalEntry:
        """The command's place in the journal, written only if it acks before answering (`JournalEntry.save`)."""
        return JournalEntry(self, command)

    async def received(self, command: SlashCommand) -> str | None:
        """Saved before the ack. None when the database cannot take it: the command still runs."""
        record_id = uuid.uuid4().hex
        now = self.clock()
        try:
            await self.commands.insert_one({
                "_id": record_id, "state": RECEIVED, "team_id": command.team_id, "user_id": command.user_id,
                "channel_id": command.channel_id, "text": f"{command.command} {command.text}".strip(),
                "response_url": self.box.encrypt(command.response_url), "received_at": now,
                "lease_until": now + self.lease})
        except Exception as exc:  # a command must never fail for its journal
            log.warning("command.journal_failed", **fields(error=type(exc).__name__))
            return None
        return record_id

    async def _beat(self, record_id: str) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            with contextlib.suppress(Exception):
                await self.commands.update_one({"_id": record_id, "state": RECEIVED},
                                               {"$set": {"lease_until": self.clock() + self.lease}})

    async def interrupted(self) -> AsyncIterator[dict]:
        """Commands whose process died before answering, each claimed once (across processes)."""
        while True:
            now = self.clock()
            doc = await self.commands.find_one_and_update(
                {"state": {"$in": [RECEIVED, TELLING]}, "lease_until": {"$lt": now}},  # TELLING: its teller died
                {"$set": {"state": TELLING, "lease_until": now + self.lease}}, return_document=ReturnDocument.AFTER)
            if doc is None:
                return
            if doc["received_at"] < now - KEPT_FOR:
                await self.forget(doc["_id"])
                continue
            yield {**doc, "response_url": self._decrypted(doc.get("response_url"))}

    def _decrypted(self, value: str | None) -> str | None:
        try:
            return self.box.decrypt(value) if value else None
        except ValueError:  # stored under another encryption key
            return None

    async def forget(self, record_id: str) -> None:
        await self.commands.delete_one({"_id": record_id})


class JournalEntry:
    """One command: saved (once) right before an ack that leaves its answer for later, its lease kept while it
    runs, and forgotten when it is done."""

    def __init__(self, journal: CommandJournal, command: SlashCommand):
        self.journal = journal
        self.command = command
        self.record_id: str | None = None
        self._saved = False
        self._beat: asyncio.Task | None = None

    async def save(self) -> None:
        if self._saved:
            return
        self._saved = True
        self.record_id = await self.journal.received(self.command)
        if self.record_id:
            self._beat = asyncio.create_task(self.journal._beat(self.record_id))

    async def close(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
        if self.record_id:
            with contextlib.suppress(Exception):
                await self.journal.forget(self.record_id)
