"""The job store's rules on their own: atomic transitions and the Idempotency-Key generation."""

from __future__ import annotations

import json
import uuid

from bot.blocks.exports import failure_notice
from services.exports.store import ExportRequest, ExportStore
from services.exports.writer import ExportFailure, idempotency_key
from services.forecast import ForecastCustomer, ForecastInvoice
from services.xero.tokens import utcnow
from tests.support.export_flow import CLIENT, INVOICE

TENANT = "b6f1c2d3-0000-4000-8000-00000000000a"


def new_job(**values) -> ExportRequest:
    return ExportRequest(job_id=uuid.uuid4().hex, team_id="T1", reference="INV-101", forecast_invoice_id=101,
                     invoice=ForecastInvoice.model_validate(INVOICE), customer=ForecastCustomer.model_validate(CLIENT),
                     requested_by="U1", requested_at=utcnow(), tenant_id=TENANT, tenant_name="UK", **values)


async def test_a_transition_from_a_stale_read_changes_nothing(storage):
    jobs = ExportStore(storage)
    job = await jobs.create(new_job(), by="U1")
    first = await jobs.transition(job, "approved", by="U2", approved_by="U2")
    second = await jobs.transition(job, "approved", by="U3", approved_by="U3")
    assert first.version == 2 and second is None
    assert (await jobs.get("T1", job.job_id)).approved_by == "U2"
    assert [(e.to_state, e.by) for e in await jobs.history(job.job_id)] == [("pending", "U1"), ("approved", "U2")]


async def test_the_job_and_its_snapshot_survive_the_round_trip(storage):
    jobs = ExportStore(storage)
    job = await jobs.create(new_job(), by="U1")
    loaded = await jobs.get("T1", job.job_id)
    assert loaded.invoice.total == 1140.0 and loaded.customer.name == "Acme Ltd"
    assert abs((loaded.requested_at - job.requested_at).total_seconds()) < 0.01


async def test_generation_starts_fresh_at_one(storage):
    assert await ExportStore(storage).next_generation("T1", TENANT, 101) == (1, True)


async def test_a_crashed_attempt_keeps_its_generation_and_it_is_no_longer_fresh(storage):
    jobs = ExportStore(storage)
    job = await jobs.create(new_job(), by="U1")
    assert await jobs.start_attempt(job) == (1, True)
    assert await jobs.next_generation("T1", TENANT, 101) == (1, False)


async def test_only_an_attempt_that_certainly_created_nothing_moves_to_the_next_generation(storage):
    jobs = ExportStore(storage)
    job = await jobs.create(new_job(), by="U1")
    await jobs.start_attempt(job)
    await jobs.finish_attempt(job, generation=1, created_nothing=False, note="timeout")
    assert await jobs.next_generation("T1", TENANT, 101) == (1, False)
    await jobs.start_attempt(job)
    await jobs.finish_attempt(job, generation=1, created_nothing=True, note="validation error")
    assert await jobs.next_generation("T1", TENANT, 101) == (2, True)
    other_job = await jobs.create(new_job(), by="U1")  # a new request of the same invoice continues the count
    assert await jobs.start_attempt(other_job) == (2, True)


def test_what_counts_as_certainly_nothing_created():
    not_sent = ExportFailure("currency missing")
    assert not_sent.created_nothing(fresh_generation=True) is True
    assert not_sent.created_nothing(fresh_generation=False) is False  # an earlier attempt may have created it
    assert ExportFailure("400", create_sent=True, refused=True).created_nothing(False) is True
    assert ExportFailure("timeout", create_sent=True).created_nothing(True) is False


def test_idempotency_keys_stay_within_xeros_limit():
    key = idempotency_key("T1", TENANT, 101, 3)
    assert key == f"fc-export:T1:{TENANT}:inv101:g3"
    long = idempotency_key("T" * 100, TENANT, 101, 3)
    assert len(long) <= 128 and long != idempotency_key("T" * 100, TENANT, 101, 4)


async def test_a_failure_is_stored_as_its_code_and_data_and_read_back_in_words(storage):
    jobs = ExportStore(storage)
    job = await jobs.create(new_job(state="exporting"), by="U1")  # only an export that ran can fail
    failed = await jobs.transition(job, "failed", by="U1", error_code="currency_missing",
                                   error_data={"tenant_name": "Acme NZ", "currency": "EUR", "currencies": ["NZD"]})
    loaded = await jobs.get("T1", job.job_id)
    assert failed is not None and loaded.error_data["currencies"] == ["NZD"]
    notice = failure_notice(loaded)
    assert notice["text"] == ("Export of INV-101 to UK failed: Acme NZ does not use EUR, the currency of INV-101 "
                              "(its currencies: NZD)")
    assert "Add EUR in Xero (Accounting &gt; Advanced &gt; Currencies), then click Retry." in json.dumps(notice)


async def test_a_job_failed_by_an_older_version_shows_its_stored_sentences_as_they_are(storage):
    jobs = ExportStore(storage)
    job = await jobs.create(new_job(state="exporting"), by="U1")
    await jobs.transition(job, "failed", by="U1", error="Xero said no, in the old words",
                          error_hint="Do the old thing.")
    loaded = await jobs.get("T1", job.job_id)
    assert loaded.error_code is None
    notice = failure_notice(loaded)
    assert notice["text"] == "Export of INV-101 to UK failed: Xero said no, in the old words"
    assert "Do the old thing." in json.dumps(notice)
