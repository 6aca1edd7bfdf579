"""Durable jobs in MongoDB, run by workers in every bot process.

A job is one document in `jobs`: a kind, a payload, a state, its attempts, when it is due and a lease
(owner + expiry). Any process's workers claim a due job with one `find_one_and_update`, so exactly one
worker holds it; while it runs, a heartbeat extends the lease. When a process dies, its lease expires and
the job is claimed again, by the same process after a restart or by any other replica.

The numbers (see README, "Crashes and replicas"):
- LEASE_SECONDS = 15: a dead owner's job is claimed again at most 15 s after its last heartbeat;
- HEARTBEAT_SECONDS = 5: three heartbeats fit in a lease, so a slow database call does not lose it;
- POLL_SECONDS = 0.5: how often an idle worker looks for due work (an enqueue in the same process wakes
  the workers at once);
- a job is tried at most `max_attempts` times (default 5); an attempt that dies with its process counts,
  so a crash loop ends as *failed* too, and its kind's `on_give_up` tells people.

A job may carry a `key` (e.g. "export:T1:42"): while it is open (queued or running) no other open job can
have the same key — the unique index on `open_key` says so, not a read-then-insert.

Handlers must be idempotent: a job whose owner died after doing its work but before saying so runs again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.platform.logfmt import fields

log = logging.getLogger(__name__)

LEASE_SECONDS = 15.0
HEARTBEAT_SECONDS = 5.0
POLL_SECONDS = 0.5
MAX_ATTEMPTS = 5
DONE_KEPT_SECONDS = 7 * 86400

JobState = Literal["queued", "running", "done", "failed"]
QUEUED: JobState = "queued"
RUNNING: JobState = "running"
DONE: JobState = "done"
FAILED: JobState = "failed"
OPEN_STATES = (QUEUED, RUNNING)


class Job(BaseModel):
    id: str
    kind: str
    payload: dict[str, Any] = {}
    key: str | None = None
    state: JobState = QUEUED
    attempts: int = 0
    max_attempts: int = MAX_ATTEMPTS
    due_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Job:
        return cls.model_validate({**doc, "id": doc["_id"]})


class RetryLater(Exception):
    """Not a failure: the job cannot go on yet (e.g. Xero's day budget is spent); try again after `delay`."""

    def __init__(self, delay: float, reason: str = ""):
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class GiveUp(Exception):
    """A failure that retrying cannot mend: the job ends as failed at once."""


class JobQueue:
    """The one owner of the `jobs` collection."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], *, clock: Callable[[], float] = time.time,
                 lease_seconds: float = LEASE_SECONDS):
        self.collection = collection
        self.clock = clock  # epoch seconds; the documents hold dates
        self.lease_seconds = lease_seconds
        self._listeners: list[Callable[[], None]] = []

    def now(self, later_by: float = 0.0) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC) + timedelta(seconds=later_by)

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("open_key", unique=True, sparse=True)
        await self.collection.create_index([("state", ASCENDING), ("due_at", ASCENDING)])
        await self.collection.create_index([("kind", ASCENDING), ("state", ASCENDING)])

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def enqueue(self, kind: str, payload: dict[str, Any] | None = None, *, key: str | None = None,
                      delay: float = 0.0, max_attempts: int = MAX_ATTEMPTS) -> tuple[Job, bool]:
        """Adds a job; with a `key` already open, returns that open job instead. (job, created)"""
        now = self.now()
        job = Job(id=uuid.uuid4().hex, kind=kind, payload=payload or {}, key=key,
                  due_at=now + timedelta(seconds=delay), max_attempts=max_attempts, created_at=now)
        doc = {"_id": job.id, **job.model_dump(exclude={"id"}), "rerun": 0}
        if key is not None:
            doc["open_key"] = key
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.open_job(key or "")
            if existing is not None:
                if existing.state == RUNNING:  # it may have read what it works on already: run it once more
                    marked = await self.collection.update_one({"_id": existing.id, "state": RUNNING},
                                                              {"$set": {"rerun": 1}})
                    if marked.matched_count == 0:  # it finished meanwhile: this change needs a run of its own
                        return await self.enqueue(kind, payload, key=key, delay=delay, max_attempts=max_attempts)
                return existing, False
            return await self.enqueue(kind, payload, key=key, delay=delay, max_attempts=max_attempts)
        for listener in self._listeners:
            listener()
        return job, True

    async def get(self, job_id: str) -> Job | None:
        doc = await self.collection.find_one({"_id": job_id})
        return Job.from_doc(doc) if doc else None

    async def open_job(self, key: str) -> Job | None:
        doc = await self.collection.find_one({"open_key": key})
        return Job.from_doc(doc) if doc else None

    async def claim(self, owner: str, kinds: list[str]) -> Job | None:
        """Takes the next due job (or one whose owner's lease ran out) of these kinds."""
        now = self.now()
        due = {"$or": [{"state": QUEUED, "due_at": {"$lte": now}},
                       {"state": RUNNING, "lease_until": {"$lt": now}}],
               "kind": {"$in": kinds}}
        doc = await self.collection.find_one_and_update(
            due, {"$set": {"state": RUNNING, "lease_owner": owner, "lease_until": self.now(self.lease_seconds)},
                  "$inc": {"attempts": 1}},
            sort=[("due_at", ASCENDING)], return_document=ReturnDocument.AFTER)
        return Job.from_doc(doc) if doc else None

    async def claim_key(self, owner: str, key: str, kinds: list[str]) -> Job | None:
        """Takes the queued job open under `key`, due or not (its caller runs it now); None when there is none
        or someone runs it already."""
        doc = await self.collection.find_one_and_update(
            {"open_key": key, "state": QUEUED, "kind": {"$in": kinds}},
            {"$set": {"state": RUNNING, "lease_owner": owner, "lease_until": self.now(self.lease_seconds)},
             "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER)
        return Job.from_doc(doc) if doc else None

    async def heartbeat(self, job: Job) -> bool:
        """Extends the lease; False when the job is no longer ours (someone took it over)."""
        result = await self.collection.update_one(
            self._held(job), {"$set": {"lease_until": self.now(self.lease_seconds)}})
        return result.matched_count == 1

    async def complete(self, job: Job) -> bool:
        """Done, unless an enqueue of its key came while it ran: then it is due again at once.

        Closing requires `rerun` to be unset, so an enqueue that marks the job between the two updates
        is never lost: the loop then takes the first branch."""
        while True:
            again = await self.collection.update_one(
                {**self._held(job), "rerun": 1},
                {"$set": {"state": QUEUED, "due_at": self.now(), "rerun": 0, "attempts": 0, "lease_owner": None,
                          "lease_until": None}})
            if again.matched_count == 1:
                for listener in self._listeners:
                    listener()
                return True
            if await self._close(job, DONE, None, unless_rerun=True):
                return True
            if await self.collection.count_documents(self._held(job)) == 0:
                return False  # no longer ours (its lease ran out and another worker took it)

    async def give_up(self, job: Job, error: str) -> bool:
        return await self._close(job, FAILED, error)

    async def retry(self, job: Job, error: str | None, delay: float, *, count_attempt: bool = True) -> bool:
        changes: dict[str, Any] = {"$set": {"state": QUEUED, "due_at": self.now(delay), "last_error": error,
                                            "lease_owner": None, "lease_until": None}}
        if not count_attempt:
            changes["$inc"] = {"attempts": -1}
        result = await self.collection.update_one(self._held(job), changes)
        return result.matched_count == 1

    async def release(self, job: Job) -> bool:
        """Hands a job back untouched (the process is stopping): due now, the attempt not counted."""
        return await self.retry(job, job.last_error, 0.0, count_attempt=False)

    async def purge_done(self, older_than: float = DONE_KEPT_SECONDS) -> int:
        """Forgets jobs that finished well, a while ago (failed ones stay: they are what someone looks into)."""
        result = await self.collection.delete_many({"state": DONE, "finished_at": {"$lt": self.now(-older_than)}})
        return result.deleted_count

    async def count(self, **query: Any) -> int:
        return await self.collection.count_documents(query)

    async def _close(self, job: Job, state: str, error: str | None, *, unless_rerun: bool = False) -> bool:
        held = {**self._held(job), "rerun": {"$ne": 1}} if unless_rerun else self._held(job)
        result = await self.collection.update_one(held, {
            "$set": {"state": state, "last_error": error, "finished_at": self.now(), "lease_owner": None,
                     "lease_until": None},
            "$unset": {"open_key": ""},
        })
        return result.matched_count == 1

    @staticmethod
    def _held(job: Job) -> dict[str, Any]:
        return {"_id": job.id, "state": RUNNING, "lease_owner": job.lease_owner}


class Periodic:
    """Runs `work` every `period` seconds in this process until `stop()` (the sweep, the sync ticker).

    Stopping sets a flag and waits for the loop to notice; cancelling alone is not enough, because a
    cancellation that arrives while a database call completes can be swallowed on Python 3.11."""

    def __init__(self, name: str, work: Callable[[], Awaitable[object]], period: float, *, first_delay: float = 0.0):
        self.name = name
        self.work = work
        self.period = period
        self.first_delay = first_delay
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        done, _ = await asyncio.wait([self._task], timeout=5)
        if not done:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)
        self._task = None

    async def _loop(self) -> None:
        delay = self.first_delay
        while not await self._stopped_within(delay):
            try:
                await self.work()
            except Exception:  # the database blinked: try again next round
                log.exception(f"{self.name}.failed")
            delay = self.period

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass
        return self._stop.is_set()


Handler = Callable[[Job], Coroutine[Any, Any, None]]
GiveUpHook = Callable[[Job, str], Awaitable[None]]


def backoff(attempt: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential with full jitter: 1 s, 2 s, 4 s … capped, so replicas do not retry in step."""
    delay: float = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(0.5, 1.0) * delay


@dataclass
class JobKind:
    handler: Handler
    on_give_up: GiveUpHook | None = None
    retry_base: float = 1.0


class JobRunner:
    """Workers in this process: claim due jobs, run their handler with a heartbeat, record the outcome."""

    def __init__(self, queue: JobQueue, *, concurrency: int = 4, poll_seconds: float = POLL_SECONDS,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS, owner: str | None = None):
        self.queue = queue
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.owner = owner or f"{uuid.uuid4().hex[:12]}"
        self.kinds: dict[str, JobKind] = {}
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._running_now: set[asyncio.Task[None]] = set()  # run_now's jobs that outlast their caller's wait
        self._stopping = False
        queue.on_enqueue(self._wake.set)

    def register(self, kind: str, handler: Handler, *, on_give_up: GiveUpHook | None = None,
                 retry_base: float = 1.0) -> None:
        self.kinds[kind] = JobKind(handler, on_give_up, retry_base)

    def start(self) -> None:
        self._stopping = False
        self._workers = [asyncio.create_task(self._work(), name=f"jobs-{i}") for i in range(self.concurrency)]

    async def stop(self) -> None:
        """Running jobs are handed back (due at once) so the next process need not wait for the lease."""
        self._stopping = True
        self._wake.set()
        tasks = [*self._workers, *self._running_now]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)  # a worker that swallowed its cancel sees _stopping
        self._workers = []

    async def run_once(self) -> bool:
        """Claims and runs one due job; False when none was due (tests and `make bench` drive it directly)."""
        job = await self.queue.claim(self.owner, list(self.kinds))
        if job is None:
            return False
        await self._run(job)
        return True

    async def run_now(self, key: str, *, within: float | None = None) -> bool:
        """Runs the queued job open under `key` here and now, as a worker would (lease, heartbeat, retries).
        True once it has run; False when there is none, another worker has it, or it takes longer than
        `within` seconds (it then goes on in the background). Whoever waits for its effect need not poll."""
        job = await self.queue.claim_key(self.owner, key, list(self.kinds))
        if job is None:
            return False
        run = asyncio.create_task(self._run(job), name=f"jobs-now-{job.kind}")
        self._running_now.add(run)
        run.add_done_callback(self._running_now.discard)
        done, _ = await asyncio.wait({run}, timeout=within)
        return run in done

    async def drain(self, timeout: float = 10.0) -> None:
        """Runs due jobs until none is left (tests)."""
        deadline = time.monotonic() + timeout
        while await self.run_once():
            if time.monotonic() > deadline:
                raise TimeoutError("jobs kept coming")

    async def _work(self) -> None:
        while not self._stopping:
            try:
                if await self.run_once():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:  # the database blinked: keep the worker alive
                log.exception("jobs.worker_error")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass

    async def _run(self, job: Job) -> None:
        kind = self.kinds[job.kind]
        if job.attempts > job.max_attempts:  # every earlier attempt died with its process
            await self._give_up(job, kind, "abandoned: the bot stopped during every attempt")
            return
        task = asyncio.create_task(kind.handler(job))
        heart = asyncio.create_task(self._beat(job, task))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():  # the process is stopping: hand the job back
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await self.queue.release(job)
                raise
            log.warning("jobs.lease_lost", **fields(job=job.id, kind=job.kind))
        except RetryLater as later:
            await self.queue.retry(job, later.reason or None, later.delay, count_attempt=False)
        except GiveUp as exc:
            await self._give_up(job, kind, str(exc) or type(exc).__name__)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception("jobs.attempt_failed", **fields(job=job.id, kind=job.kind, attempt=job.attempts))
            if job.attempts >= job.max_attempts:
                await self._give_up(job, kind, error)
            else:
                await self.queue.retry(job, error, backoff(job.attempts, base=kind.retry_base))
        else:
            await self.queue.complete(job)
        finally:
            heart.cancel()

    async def _beat(self, job: Job, task: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                if not await self.queue.heartbeat(job):
                    task.cancel()  # another worker owns it now: stop before doing the work twice
                    return
            except Exception:
                log.warning("jobs.heartbeat_failed", **fields(job=job.id))

    async def _give_up(self, job: Job, kind: JobKind, error: str) -> None:
        if not await self.queue.give_up(job, error):
            return
        log.warning("jobs.gave_up", **fields(job=job.id, kind=job.kind, error=error))
        if kind.on_give_up is not None:
            try:
                await kind.on_give_up(job, error)
            except Exception:
                log.exception("jobs.give_up_hook_failed", **fields(job=job.id, kind=job.kind))
