"""The state tables: every move they list works against the database, every other one is refused before it."""

from __future__ import annotations

import itertools
import uuid

import pytest

from services.exports.batches import Batch, BatchStore
from services.exports.states import (
    BATCH_MOVES,
    EXPORT_MOVES,
    OPEN_STATES,
    BatchDecision,
    ExportState,
    ForbiddenMove,
)
from services.exports.store import ExportRequest, ExportStore
from tests.services.exports.test_store import new_job


async def stored_in(store: ExportStore, state: ExportState) -> ExportRequest:
    job = new_job(state=state)
    doc = job.to_doc()
    if state in OPEN_STATES:
        doc["open_key"] = f"{job.team_id}:{uuid.uuid4().hex}"  # one open request per invoice: each its own here
    await store.requests.insert_one(doc)
    return job


async def test_every_listed_move_is_made_and_every_other_is_refused_untouched(storage):
    store = ExportStore(storage)
    for from_state, to_state in itertools.product(ExportState, repeat=2):
        job = await stored_in(store, from_state)
        if to_state in EXPORT_MOVES[from_state]:
            moved = await store.transition(job, to_state, by="U2")
            assert moved is not None and moved.state == to_state, (from_state, to_state)
            assert (await store.get(job.team_id, job.job_id)).state == to_state
        else:
            with pytest.raises(ForbiddenMove, match=f"from '{from_state}' to '{to_state}'"):
                await store.transition(job, to_state, by="U2")
            saved = await store.get(job.team_id, job.job_id)
            assert (saved.state, saved.version) == (from_state, 1), (from_state, to_state)
            assert await store.history(job.job_id) == []


def test_the_table_is_the_lifecycle_people_see():
    reachable = {state: set(EXPORT_MOVES[state]) for state in ExportState}
    assert reachable[ExportState.PENDING] == {"pending", "approved", "rejected"}
    assert reachable[ExportState.FAILED] == {"approved"}  # Retry
    assert reachable[ExportState.EXPORTED] == reachable[ExportState.REJECTED] == set()  # finished for good


def test_a_document_stored_before_the_enum_reads_as_one():
    doc = new_job().to_doc()
    assert doc["state"] == "pending" and type(doc["state"]) is str  # stored as the plain string it always was
    loaded = ExportRequest.from_doc({**doc, "state": "failed"})
    assert loaded.state is ExportState.FAILED


async def test_a_batch_is_decided_once_and_only_from_pending(storage):
    store = BatchStore(storage)
    for decision in BatchDecision:
        batch = Batch(batch_id=uuid.uuid4().hex, team_id="T1", requested_by="U1", job_ids=[], lines={})
        await store.create(batch)
        if decision in BATCH_MOVES[BatchDecision.PENDING]:
            assert await store.decide(batch, decision, "U2") is True
            assert (await store.get("T1", batch.batch_id)).decision == decision
            assert await store.decide(batch, BatchDecision.REJECTED, "U3") is False  # the first decision stands
        else:
            with pytest.raises(ForbiddenMove):
                await store.decide(batch, decision, "U2")
            assert (await store.get("T1", batch.batch_id)).decision == BatchDecision.PENDING
