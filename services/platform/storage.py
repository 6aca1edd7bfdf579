"""MongoDB access: the client, the collections, their indexes, and the embedded server.

Production points MONGODB_URI at MongoDB or Atlas. Without it the app runs the `nx-27017`
wire-protocol server (SQLite underneath) as a child process.

Notes on the embedded server:
- A datetime or a boolean written by `$set` reads back as a string or 1: collections declare their date
  and boolean fields in `services/platform/storage_codec.py`, which stores them as epoch seconds on that server only
  (MongoDB keeps real dates) and hands stores real dates either way.
- `$push` of sub-documents is broken: history goes into its own collection. Upserts use `update_one`.
- Regex objects are not accepted: use `{"$regex": ..., "$options": "i"}`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from services.platform.storage_codec import BOOL_FIELDS, DATE_FIELDS, Codec, CodecCollection

log = logging.getLogger(__name__)

OAUTH_STATE_TTL_SECONDS = 600


class StorageUnavailable(RuntimeError):
    """The database could not be reached; the message names the URI with credentials masked."""


def mask_uri(uri: str) -> str:
    """mongodb://user:secret@host/db -> mongodb://user:***@host/db"""
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", uri)


DEFAULT_DATABASE = "ledgerline"
LEGACY_DATABASE = "xero_slack_bot"  # the default name before 0.2


class Storage:
    """Owns the client and names every collection the bot uses.

    With no database named, it is `ledgerline`, unless only the database of earlier versions (`xero_slack_bot`)
    exists on the server: then that one is used, so an upgrade finds its data."""

    def __init__(self, uri: str, database: str | None = None, *, timeout_ms: int = 5000,
                 embedded: bool | None = None):
        self.uri = uri
        self.embedded = embedded  # None: asked of the server on connect()
        self.client: AsyncMongoClient = AsyncMongoClient(
            uri, tz_aware=True, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
        )
        self.named = database is not None
        self.db: AsyncDatabase = self.client[database or DEFAULT_DATABASE]

    # Collections -----------------------------------------------------------------
    def _collection(self, name: str) -> AsyncCollection:
        """The collection; on the embedded server, behind the codec when it declares fields."""
        collection = self.db[name]
        if self.embedded is None and (name in DATE_FIELDS or name in BOOL_FIELDS):
            raise RuntimeError(f"{name}: call connect() first (it tells whether the storage codec is needed)")
        if self.embedded and (name in DATE_FIELDS or name in BOOL_FIELDS):
            codec = Codec(DATE_FIELDS.get(name, frozenset()), BOOL_FIELDS.get(name, frozenset()))
            return cast(AsyncCollection, CodecCollection(collection, codec))  # the same API, see storage_codec
        return collection

    @property
    def oauth_states(self) -> AsyncCollection:
        return self._collection("oauth_states")

    @property
    def token_sets(self) -> AsyncCollection:
        return self._collection("token_sets")

    @property
    def tenants(self) -> AsyncCollection:
        return self._collection("tenants")

    @property
    def links(self) -> AsyncCollection:
        return self._collection("links")

    @property
    def workspace_settings(self) -> AsyncCollection:
        return self._collection("workspace_settings")

    @property
    def export_jobs(self) -> AsyncCollection:
        return self._collection("export_jobs")

    @property
    def job_events(self) -> AsyncCollection:
        return self._collection("job_events")


    @property
    def xero_cache(self) -> AsyncCollection:
        return self._collection("xero_cache")

    @property
    def jobs(self) -> AsyncCollection:
        return self._collection("jobs")

    @property
    def xero_events(self) -> AsyncCollection:
        return self._collection("xero_events")

    @property
    def xero_sync(self) -> AsyncCollection:
        return self._collection("xero_sync")

    @property
    def sync_notices(self) -> AsyncCollection:
        return self._collection("sync_notices")

    @property
    def xero_reference(self) -> AsyncCollection:
        return self._collection("xero_reference")

    @property
    def export_batches(self) -> AsyncCollection:
        return self._collection("export_batches")

    @property
    def home_viewers(self) -> AsyncCollection:
        return self._collection("home_viewers")

    @property
    def slash_commands(self) -> AsyncCollection:
        return self._collection("slash_commands")

    # Lifecycle -------------------------------------------------------------------
    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
            return True
        except PyMongoError:
            return False

    async def connect(self) -> None:
        """Fail fast, naming the URI, when the server does not answer."""
        try:
            await self.client.admin.command("ping")
            if self.embedded is None:
                build: dict[str, Any] = await self.client.admin.command("buildInfo")
                self.embedded = str(build.get("process", "")).startswith("nx_27017")
            if not self.named:
                await self._find_earlier_database()
        except PyMongoError as exc:
            raise StorageUnavailable(
                f"MongoDB is unreachable at {mask_uri(self.uri)} ({type(exc).__name__})"
            ) from exc
        await self.ensure_indexes()
        if not self.embedded:
            await self._dates_as_dates()

    async def _find_earlier_database(self) -> None:
        names = await self.client.list_database_names()
        if DEFAULT_DATABASE not in names and LEGACY_DATABASE in names:
            self.db = self.client[LEGACY_DATABASE]
            log.info("storage.earlier_database name=%s (set MONGODB_DB to choose another)", LEGACY_DATABASE)

    async def _dates_as_dates(self) -> None:
        """Earlier versions stored every date as epoch seconds: turn those of the declared fields into dates."""
        for name, fields in DATE_FIELDS.items():
            for field in fields:
                await self.db[name].update_many(
                    {field: {"$type": "number"}}, [{"$set": {field: {"$toDate": {"$multiply": [f"${field}", 1000]}}}}])

    async def ensure_indexes(self) -> None:
        await self.oauth_states.create_index("created_at", expireAfterSeconds=OAUTH_STATE_TTL_SECONDS)
        await self.tenants.create_index([("team_id", ASCENDING), ("tenant_id", ASCENDING)], unique=True)
        await self.tenants.create_index("token_set_id")
        await self.links.create_index(
            [("team_id", ASCENDING), ("kind", ASCENDING), ("forecast_id", ASCENDING), ("tenant_id", ASCENDING)],
            unique=True,
        )
        await self.links.create_index([("team_id", ASCENDING), ("tenant_id", ASCENDING), ("status", ASCENDING)])
        await self.links.create_index([("team_id", ASCENDING), ("kind", ASCENDING), ("xero_id", ASCENDING)])
        await self.export_jobs.create_index([("team_id", ASCENDING), ("forecast_invoice_id", ASCENDING)])
        await self.job_events.create_index([("job_id", ASCENDING), ("at", ASCENDING)])
        await self.job_events.create_index(  # the export attempt generation (services/exports/store.py)
            [("team_id", ASCENDING), ("tenant_id", ASCENDING), ("forecast_invoice_id", ASCENDING), ("kind", ASCENDING),
             ("at", ASCENDING)]
        )
        await self.xero_cache.create_index([("team_id", ASCENDING), ("tenant_id", ASCENDING), ("kind", ASCENDING)])
        await self.xero_cache.create_index([("team_id", ASCENDING), ("kind", ASCENDING), ("entry", ASCENDING),
                                            ("sort_key", ASCENDING)])
        await self.xero_events.create_index([("team_id", ASCENDING), ("tenant_id", ASCENDING), ("state", ASCENDING)])
        await self.xero_sync.create_index([("team_id", ASCENDING), ("tenant_id", ASCENDING), ("kind", ASCENDING)])
        await self.sync_notices.create_index([("team_id", ASCENDING), ("state", ASCENDING)])
        await self.home_viewers.create_index([("team_id", ASCENDING), ("user_id", ASCENDING)], unique=True)

    async def close(self) -> None:
        await self.client.close()


def _prepare_child() -> None:
    """Runs in the embedded server's process before it starts: files it creates are the owner's only
    (the database, its journal and WAL), and it dies with the bot."""
    os.umask(0o077)
    _die_with_parent()


def _die_with_parent() -> None:
    """On Linux, the embedded server gets SIGTERM when the bot dies, however it dies."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _create_private_file(path: Path) -> None:
    """The database file exists, mode 0600 in a 0700 folder, before the server writes its first byte."""
    from services.platform.crypto import make_private_dir

    make_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_uid == os.getuid():
            path.chmod(0o600)


@dataclass
class EmbeddedMongo:
    """Runs `nx-27017` as a child process on 127.0.0.1 and stops it on exit.

    `db_path` is a SQLite file, or "memory" for a throwaway database (tests).
    """

    db_path: str
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        exe = shutil.which("nx-27017", path=str(Path(sys.executable).parent)) or shutil.which("nx-27017")
        base = [exe] if exe else [sys.executable, "-m", "nx_27017"]
        # Each server needs its own pid file: nx-27017 refuses to start while another one's pid file exists.
        self._pid_file = Path(tempfile.gettempdir()) / f"nx-27017-{os.getpid()}-{self.port}.pid"
        return base + [
            "--db", self.db_path, "-p", str(self.port), "--host", "127.0.0.1",
            "--log-file", os.devnull, "--pid-file", str(self._pid_file),
        ]

    async def start(self, timeout: float = 20.0) -> str:
        if self.db_path != "memory":
            _create_private_file(Path(self.db_path))
        self.port = self.port or free_port()
        self.process = subprocess.Popen(
            self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            preexec_fn=_prepare_child,
        )
        await self._wait_until_answering(timeout)
        return self.uri

    async def _wait_until_answering(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process and self.process.poll() is not None:
                raise StorageUnavailable(f"the embedded MongoDB server exited with code {self.process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            except OSError:
                await asyncio.sleep(0.05)
        self.stop()
        raise StorageUnavailable(f"the embedded MongoDB server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
        if getattr(self, "_pid_file", None):
            self._pid_file.unlink(missing_ok=True)
