"""The job runner: claims, leases, heartbeats, retries, crash loops, keys, and a process killed mid-job."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from services.platform.jobs import DONE, FAILED, QUEUED, RUNNING, GiveUp, Job, JobQueue, JobRunner, RetryLater


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
async def queue(storage, clock):
    jobs = JobQueue(storage.jobs, clock=clock, lease_seconds=15)
    await jobs.ensure_indexes()
    return jobs


async def test_a_job_runs_once_and_is_done(queue):
    seen = []
    runner = JobRunner(queue)

    async def handle(job: Job) -> None:
        seen.append(job.payload["n"])

    runner.register("count", handle)
    job, created = await queue.enqueue("count", {"n": 7})
    await runner.drain()
    assert created and seen == [7]
    assert (await queue.get(job.id)).state == DONE
    assert not await runner.run_once()


async def test_an_enqueue_while_its_keyed_job_runs_makes_it_run_once_more(queue):
    """The outbox's coalescing: a change saved while the job renders the previous one is not lost."""
    runs = []
    runner = JobRunner(queue)

    async def handle(job: Job) -> None:
        runs.append(job.id)
        if len(runs) == 1:  # a state change arrives while the first run is under way
            _, created = await queue.enqueue("sync", {}, key="sync:J1")
            assert not created

    runner.register("sync", handle)
    job, _ = await queue.enqueue("sync", {}, key="sync:J1")
    await runner.drain()
    assert runs == [job.id, job.id]
    assert (await queue.get(job.id)).state == DONE and await queue.open_job("sync:J1") is None


async def test_jobs_done_a_week_ago_are_forgotten_and_failed_ones_kept(queue, clock):
    runner = JobRunner(queue)

    async def handle(job: Job) -> None:
        if job.payload["fail"]:
            raise GiveUp("no")

    runner.register("work", handle)
    done, _ = await queue.enqueue("work", {"fail": False})
    failed, _ = await queue.enqueue("work", {"fail": True})
    await runner.drain()
    assert await queue.purge_done() == 0
    clock.now += 8 * 86400
    assert await queue.purge_done() == 1
    assert await queue.get(done.id) is None and (await queue.get(failed.id)).state == FAILED


async def test_a_key_allows_one_open_job_and_frees_once_done(queue):
    first, created = await queue.enqueue("export", {"i": 1}, key="export:T1:42")
    again, created_again = await queue.enqueue("export", {"i": 2}, key="export:T1:42")
    assert created and not created_again and again.id == first.id

    runner = JobRunner(queue)

    async def handle(job: Job) -> None:
        return None

    runner.register("export", handle)
    await runner.drain()
    later, created_later = await queue.enqueue("export", {"i": 3}, key="export:T1:42")
    assert created_later and later.id != first.id


async def test_concurrent_enqueues_with_one_key_make_one_job(queue):
    results = await asyncio.gather(*[queue.enqueue("export", key="k") for _ in range(20)])
    assert len({job.id for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1


async def test_a_failing_job_is_retried_with_backoff_then_fails_and_tells_someone(queue, clock):
    told = []
    runner = JobRunner(queue)

    async def handle(job: Job) -> None:
        raise RuntimeError("Xero is down")

    async def give_up(job: Job, error: str) -> None:
        told.append((job.id, error))

    runner.register("export", handle, on_give_up=give_up)
    job, _ = await queue.enqueue("export", max_attempts=3)
    for attempt in range(1, 4):
        assert await runner.run_once()
        stored = await queue.get(job.id)
        assert stored.attempts == attempt
        if attempt < 3:
            assert stored.state == QUEUED and "Xero is down" in stored.last_error
            assert stored.due_at.timestamp() > clock.now
            assert not await runner.run_once()  # not due yet
            clock.now = stored.due_at.timestamp()
    assert (await queue.get(job.id)).state == FAILED
    assert told == [(job.id, "RuntimeError: Xero is down")]


async def test_give_up_fails_at_once(queue):
    runner = JobRunner(queue)

    async def handle(job: Job) -> None:
        raise GiveUp("Xero refused the invoice")

    runner.register("export", handle)
    job, _ = await queue.enqueue("export")
    await runner.run_once()
    stored = await queue.get(job.id)
    assert stored.state == FAILED and stored.attempts == 1 and stored.last_error == "Xero refused the invoice"


async def test_retry_later_waits_without_spending_an_attempt(queue, clock):
    runner = JobRunner(queue)

    async def handle(job: Job) -> None:
        raise RetryLater(3600, "day budget spent")

    runner.register("export", handle)
    job, _ = await queue.enqueue("export", max_attempts=1)
    for _ in range(3):
        clock.now += 3600
        assert await runner.run_once()
    stored = await queue.get(job.id)
    assert stored.state == QUEUED and stored.attempts == 0 and stored.last_error == "day budget spent"


async def test_a_dead_owners_job_is_claimed_again_when_its_lease_expires(queue, clock):
    job, _ = await queue.enqueue("export")
    claimed = await queue.claim("dead-process", ["export"])
    assert claimed.state == RUNNING and claimed.lease_owner == "dead-process"
    assert await queue.claim("other", ["export"]) is None  # leased
    clock.now += 16
    again = await queue.claim("other", ["export"])
    assert again.id == job.id and again.lease_owner == "other" and again.attempts == 2
    assert not await queue.complete(claimed)  # the dead owner cannot close what is no longer its own
    assert await queue.complete(again)


async def test_a_heartbeat_keeps_the_lease(queue, clock):
    await queue.enqueue("export")
    claimed = await queue.claim("me", ["export"])
    for _ in range(5):
        clock.now += 10
        assert await queue.heartbeat(claimed)
        assert await queue.claim("other", ["export"]) is None


async def test_a_crash_loop_ends_as_failed_and_tells_someone(queue, clock):
    told = []
    runner = JobRunner(queue)

    async def handle(job: Job) -> None:
        raise AssertionError("never runs: the job was abandoned")

    async def give_up(job: Job, error: str) -> None:
        told.append(error)

    runner.register("export", handle, on_give_up=give_up)
    job, _ = await queue.enqueue("export", max_attempts=3)
    for _ in range(3):  # three processes die holding it
        assert await queue.claim("crashing", ["export"])
        clock.now += 16
    assert await runner.run_once()
    assert (await queue.get(job.id)).state == FAILED
    assert told and "abandoned" in told[0]


async def test_workers_in_two_runners_run_each_job_exactly_once(storage):
    queue = JobQueue(storage.jobs)
    await queue.ensure_indexes()
    runs: list[int] = []

    async def handle(job: Job) -> None:
        await asyncio.sleep(0.001)
        runs.append(job.payload["n"])

    runners = [JobRunner(queue, concurrency=3, poll_seconds=0.05) for _ in range(2)]
    for runner in runners:
        runner.register("count", handle)
        runner.start()
    for n in range(60):
        await queue.enqueue("count", {"n": n})
    deadline = time.monotonic() + 20
    while await queue.count(state=DONE) < 60 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for runner in runners:
        await runner.stop()
    assert sorted(runs) == list(range(60))


async def test_stopping_hands_a_running_job_back_at_once(queue, clock):
    started = asyncio.Event()
    runner = JobRunner(queue, poll_seconds=0.01)

    async def handle(job: Job) -> None:
        started.set()
        await asyncio.sleep(60)

    runner.register("slow", handle)
    job, _ = await queue.enqueue("slow")
    runner.start()
    await asyncio.wait_for(started.wait(), 5)
    await runner.stop()
    stored = await queue.get(job.id)
    assert stored.state == QUEUED and stored.attempts == 0 and stored.due_at.timestamp() <= clock.now


WORKER = textwrap.dedent("""
    import asyncio, sys, time
    from services.platform.jobs import JobQueue, JobRunner
    from services.platform.storage import Storage

    async def main(uri, db):
        storage = Storage(uri, db)
        await storage.connect()
        queue = JobQueue(storage.jobs, lease_seconds=1.0)
        runner = JobRunner(queue, heartbeat_seconds=0.3, poll_seconds=0.05)

        async def slow(job):
            print("started", flush=True)
            await asyncio.sleep(60)

        runner.register("slow", slow)
        runner.start()
        await asyncio.sleep(120)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


async def test_a_job_whose_process_was_killed_is_finished_by_another_process(storage, mongo_uri):
    """kill -9 mid-job: the lease runs out and a live process finishes the job."""
    queue = JobQueue(storage.jobs, lease_seconds=1.0)
    await queue.ensure_indexes()
    job, _ = await queue.enqueue("slow")
    process = subprocess.Popen([sys.executable, "-c", WORKER, mongo_uri, storage.db.name],
                               stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 20)
        assert line.strip() == "started"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(5)
    finally:
        if process.poll() is None:
            process.kill()
    finished = []
    runner = JobRunner(queue, poll_seconds=0.05)

    async def fast(job: Job) -> None:
        finished.append(job.id)

    runner.register("slow", fast)
    runner.start()
    deadline = time.monotonic() + 10
    while (await queue.get(job.id)).state != DONE and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # until it is recorded done, not only run: stopping earlier hands it back
    await runner.stop()
    assert finished == [job.id]
    stored = await queue.get(job.id)
    assert stored.state == DONE and stored.attempts == 2


class Interleaved:
    """The jobs collection, with `step` run just before the first update that `when(update)` picks."""

    def __init__(self, collection, when, step):
        self.collection, self.when, self.step = collection, when, step

    def __getattr__(self, name):
        return getattr(self.collection, name)

    async def update_one(self, query, update, **kwargs):
        if self.when is not None and self.when(update):
            self.when, step = None, self.step
            await step()
        return await self.collection.update_one(query, update, **kwargs)


async def test_a_change_enqueued_as_its_running_job_finishes_gets_a_run(storage, clock):
    """The outbox coalesces by key: the job finishes between the enqueue's look and its 'run again' mark."""
    plain = JobQueue(storage.jobs, clock=clock)
    await plain.ensure_indexes()
    await plain.enqueue("sync", key="sync:j1")
    running = await plain.claim("me", ["sync"])
    racing = JobQueue(Interleaved(storage.jobs, lambda u: u.get("$set") == {"rerun": 1},
                                  lambda: plain.complete(running)), clock=clock)
    await racing.enqueue("sync", key="sync:j1")
    assert await plain.open_job("sync:j1") is not None  # someone will run it


async def test_a_change_enqueued_while_its_job_closes_gets_a_run(storage, clock):
    """The enqueue marks the job between `complete`'s two updates."""
    plain = JobQueue(storage.jobs, clock=clock)
    await plain.ensure_indexes()
    await plain.enqueue("sync", key="sync:j1")
    running = await plain.claim("me", ["sync"])
    closing = JobQueue(Interleaved(storage.jobs, lambda u: "open_key" in u.get("$unset", {}),
                                   lambda: plain.enqueue("sync", key="sync:j1")), clock=clock)
    await closing.complete(running)
    stored = await plain.get(running.id)
    assert stored.state == QUEUED  # due again at once, not closed


async def test_a_keyed_job_not_due_yet_is_run_now_by_whoever_waits_for_it_and_only_once(queue):
    seen = []
    runner = JobRunner(queue)

    async def handle(job: Job) -> None:
        seen.append(job.key)

    runner.register("post", handle)
    job, _ = await queue.enqueue("post", key="redraw:j1", delay=5)
    assert not await runner.run_once()  # not due: a worker leaves it
    assert await runner.run_now("redraw:j1")
    assert seen == ["redraw:j1"] and (await queue.get(job.id)).state == DONE
    assert not await runner.run_now("redraw:j1")  # done: nothing left to run
    assert not await runner.run_now("redraw:none")


async def test_run_now_leaves_a_job_another_worker_is_running_and_kinds_it_does_not_run(queue):
    runner = JobRunner(queue)
    runner.register("post", lambda job: asyncio.sleep(0))
    await queue.enqueue("post", key="redraw:j2")
    assert await queue.claim("other-process", ["post"]) is not None
    assert not await runner.run_now("redraw:j2")  # the other process has it
    await queue.enqueue("import", key="import:1")
    assert not await runner.run_now("import:1")  # not a kind this runner runs
    assert (await queue.open_job("import:1")).state == QUEUED


async def test_a_job_run_now_that_outlasts_the_wait_goes_on_to_the_end(queue):
    runner = JobRunner(queue)
    release = asyncio.Event()

    async def slow(job: Job) -> None:
        await release.wait()

    runner.register("post", slow)
    job, _ = await queue.enqueue("post", key="redraw:j3", delay=5)
    assert not await runner.run_now("redraw:j3", within=0)  # the caller answers without it
    assert (await queue.get(job.id)).state == RUNNING
    release.set()
    for _ in range(500):  # it finishes in the background, on its own
        if (await queue.get(job.id)).state == DONE:
            break
        await asyncio.sleep(0.01)
    assert (await queue.get(job.id)).state == DONE
