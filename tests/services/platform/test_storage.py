from datetime import UTC, datetime, timedelta

import pytest
from pymongo import ReturnDocument

from services.exports.batches import Batch, BatchStore
from services.exports.store import ExportRequest, ExportStore
from services.forecast import ForecastCustomer, ForecastInvoice
from services.platform.jobs import JobQueue
from services.platform.storage import Storage, StorageUnavailable, mask_uri
from services.shared.home_viewers import HomeViewerStore
from services.sync.events import XeroEvent, XeroEventStore
from services.sync.notices import SyncNotice, SyncNoticeStore
from services.sync.state import SyncStateStore
from services.xero.client import TenantAuth
from services.xero.reference import OrgReferenceStore
from tests.support.export_flow import CLIENT, INVOICE


async def test_storage_reaches_the_embedded_server_and_creates_indexes(storage):
    assert await storage.ping()
    names = {index["name"] async for index in await storage.tenants.list_indexes()}
    assert any("tenant_id" in name for name in names)


async def test_unreachable_database_names_the_uri_without_password():
    store = Storage("mongodb://bot:hunter2@127.0.0.1:1/xero", "x", timeout_ms=300)
    with pytest.raises(StorageUnavailable) as excinfo:
        await store.connect()
    assert "bot:***@127.0.0.1:1" in str(excinfo.value)
    assert "hunter2" not in str(excinfo.value)
    await store.close()


def test_mask_uri_leaves_uris_without_credentials_alone():
    assert mask_uri("mongodb://127.0.0.1:27017") == "mongodb://127.0.0.1:27017"


async def test_embedded_server_keeps_data_across_a_restart(tmp_path):
    from services.platform.storage import EmbeddedMongo

    path = str(tmp_path / "bot.db")
    for attempt in range(2):
        server = EmbeddedMongo(path)
        await server.start()
        store = Storage(server.uri)
        await store.connect()
        try:
            if attempt == 0:
                await store.tenants.insert_one({"team_id": "T", "tenant_id": "t1", "name": "Kept"})
            else:
                assert (await store.tenants.find_one({"tenant_id": "t1"}))["name"] == "Kept"
        finally:
            await store.close()
            server.stop()
    assert server.process is None  # stopped, not left running


async def test_an_upgrade_finds_the_data_of_the_earlier_default_database():
    """Versions before 0.2 named the database xero_slack_bot; with MONGODB_DB unset the bot still finds its data.
    (A server of its own: the embedded server in memory keeps databases apart, as MongoDB does.)"""
    from services.platform.storage import EmbeddedMongo

    server = EmbeddedMongo("memory")
    await server.start()
    try:
        earlier = Storage(server.uri, "xero_slack_bot")
        await earlier.connect()
        await earlier.tenants.insert_one({"team_id": "T", "tenant_id": "t1", "name": "From 0.1"})
        await earlier.close()
        upgraded = Storage(server.uri)
        await upgraded.connect()
        assert upgraded.db.name == "xero_slack_bot"
        assert (await upgraded.tenants.find_one({"tenant_id": "t1"}))["name"] == "From 0.1"
        await upgraded.close()
        named = Storage(server.uri, "books")  # MONGODB_DB wins
        await named.connect()
        assert named.db.name == "books" and await named.tenants.find_one({}) is None
        await named.close()
    finally:
        server.stop()


async def test_a_new_installation_uses_the_ledgerline_database():
    from services.platform.storage import EmbeddedMongo

    server = EmbeddedMongo("memory")
    await server.start()
    try:
        store = Storage(server.uri)
        await store.connect()
        await store.tenants.insert_one({"team_id": "T", "tenant_id": "t1"})
        assert store.db.name == "ledgerline"
        await store.close()
    finally:
        server.stop()


# Dates: real dates in MongoDB, epoch seconds on the embedded server, real dates to the code either way ------------
async def test_dates_written_any_way_read_back_as_dates_and_compare_in_filters(storage):
    now = datetime.now(UTC).replace(microsecond=0)
    links = storage.links  # declares `claim_until` as a date
    await links.insert_one({"_id": "inserted", "holder": "a", "claim_until": now})
    await links.update_one({"_id": "set"}, {"$set": {"holder": "b", "claim_until": now + timedelta(minutes=1)}},
                           upsert=True)

    assert (await links.find_one({"_id": "inserted"}))["claim_until"] == now
    expired = [doc["_id"] async for doc in links.find({"claim_until": {"$lt": now + timedelta(seconds=30)}})]
    assert expired == ["inserted"]
    taken = await links.find_one_and_update({"_id": "set", "claim_until": {"$gt": now}},
                                            {"$set": {"claim_until": now + timedelta(minutes=2)}},
                                            return_document=ReturnDocument.AFTER)
    assert taken["claim_until"] == now + timedelta(minutes=2)


async def test_in_mongodb_a_date_is_stored_as_a_date_and_only_the_embedded_server_gets_epoch_seconds(storage):
    now = datetime.now(UTC)
    await storage.links.update_one({"_id": "x"}, {"$set": {"claim_until": now}}, upsert=True)
    raw = await storage.db["links"].find_one({"_id": "x"})
    assert isinstance(raw["claim_until"], float if storage.embedded else datetime)


async def test_a_collection_method_the_codec_does_not_wrap_is_refused_rather_than_skipping_it(storage):
    if not storage.embedded:
        pytest.skip("the codec only stands between the stores and the embedded server")
    with pytest.raises(AttributeError, match="storage codec"):
        storage.links.replace_one  # noqa: B018


async def test_dates_an_earlier_version_saved_as_epoch_seconds_read_back_as_dates_and_its_queued_job_runs(storage):
    """Earlier versions saved dates as epoch seconds. On MongoDB, connecting turns them into dates; on either
    server the stores read dates, and a job such a version left queued is still claimed."""
    new_year = datetime(2026, 1, 1, tzinfo=UTC)
    epoch = new_year.timestamp()
    await storage.db["export_jobs"].insert_one({**export_job("old").to_doc(), "requested_at": epoch,
                                                "updated_at": epoch})
    await storage.db["jobs"].insert_one({"_id": "old", "kind": "sync", "payload": {}, "state": "queued", "attempts": 0,
                                         "max_attempts": 5, "due_at": epoch, "created_at": epoch, "rerun": 0})
    await storage.db["tenants"].insert_one({"team_id": "T", "tenant_id": "old", "connected_at": epoch})
    await storage.connect()  # the new version starts

    if not storage.embedded:  # MongoDB holds dates now; the embedded server keeps epoch seconds behind the codec
        for name, field in (("export_jobs", "requested_at"), ("jobs", "due_at"), ("tenants", "connected_at")):
            assert (await storage.db[name].find_one({}))[field] == new_year, name
    old_request = await ExportStore(storage).get("T1", "old")
    assert old_request.requested_at == new_year and old_request.updated_at == new_year
    claimed = await JobQueue(storage.jobs).claim("new-process", ["sync"])
    assert claimed is not None and claimed.id == "old" and claimed.created_at == new_year
    assert claimed.lease_until is not None and claimed.lease_until > datetime.now(UTC)
    assert (await storage.tenants.find_one({"tenant_id": "old"}))["connected_at"] == new_year


async def test_every_store_saves_its_times_as_dates_and_reads_them_back_as_dates(storage):
    """In MongoDB (and Atlas) the documents show dates; the embedded server keeps epoch seconds behind the codec."""
    now = datetime.now(UTC)
    exports = ExportStore(storage)
    request = await exports.create(export_job("e1"), by="U1")
    await exports.mark_posting(request, "approval")
    await exports.mark_posting(request, "dm:pending")
    approved = await exports.transition(request, "approved", by="U2", approved_by="U2", approved_at=now)
    queue = JobQueue(storage.jobs)
    await queue.enqueue("sync")
    job = await queue.claim("me", ["sync"])
    await queue.complete(job)
    events = XeroEventStore(storage.xero_events)
    await events.add("T1", XeroEvent(tenantId="t1", resourceId="i1", eventDateUtc="2026-12-01T10:00:00"))
    await events.mark_done((await events.pending("T1", "t1")).ids)
    notices = SyncNoticeStore(storage.sync_notices)
    await notices.add([SyncNotice(id="n1", team_id="T1", what="paid", channel="C1", report={})])
    [notice] = await notices.unsent("T1")
    await notices.mark_posting(notice)
    await notices.mark(notice, "sent", ts="1.2")
    batches = BatchStore(storage)
    await batches.create(Batch(batch_id="b1", team_id="T1", requested_by="U1", job_ids=[], lines={}))
    await batches.set(await batches.get("T1", "b1"), waiting_until=now + timedelta(hours=3))
    await batches.mark_posting(await batches.get("T1", "b1"), "approval")
    await HomeViewerStore(storage.home_viewers).opened("T1", "U1")
    reference = OrgReferenceStore(storage, NoReferenceData())
    await reference.get("T1", TenantAuth("t1", "ts1"))
    scans = SyncStateStore(storage.xero_sync)
    asked = await scans.request_scan("T1", "t1", user_id="U1", channel_id=None)
    await scans.scanned("T1", "t1", now)
    await scans.answered(asked)

    read = await exports.get("T1", "e1")
    done = await queue.get(job.id)
    assert all(isinstance(when, datetime) for when in (
        read.requested_at, read.updated_at, read.approved_at, read.posting["approval"], done.due_at, done.created_at,
        done.finished_at, job.lease_until, notice.created_at, (await batches.get("T1", "b1")).waiting_until,
        read.posting["dm:pending"], (await batches.get("T1", "b1")).posting["approval"],
        (await storage.sync_notices.find_one({"_id": "n1"}))["posting_at"],
        (await scans.get("T1", "t1")).last_scan_at, (await scans.get("T1", "t1")).scan_requested_at,
        (await reference.stored("T1", "t1")).fetched_at,
        *[event.at for event in await exports.history(approved.job_id)]))
    assert abs((read.approved_at - now).total_seconds()) < 0.01
    saved = {"export_jobs": ("requested_at", "updated_at", "approved_at"), "job_events": ("at",),
             "jobs": ("due_at", "created_at", "finished_at"), "xero_events": ("received_at", "handled_at"),
             "sync_notices": ("created_at", "finished_at"), "export_batches": ("waiting_until",),
             "home_viewers": ("opened_at",), "xero_reference": ("fetched_at",),
             "xero_sync": ("last_scan_at", "scan_requested_at", "requested_at", "answered_at")}
    saved["sync_notices"] += ("posting_at",)
    for name, fields in saved.items():
        for field in fields:
            raw = await storage.db[name].find_one({field: {"$exists": True}}) or {}
            assert isinstance(raw.get(field), float if storage.embedded else datetime), f"{name}.{field}"
    for name, key in (("export_jobs", "approval"), ("export_jobs", "dm:pending"),
                      ("export_batches", "approval")):  # a map of dates
        raw = await storage.db[name].find_one({"posting": {"$exists": True}}) or {}
        assert isinstance(raw["posting"][key], float if storage.embedded else datetime), f"{name}.posting"


async def test_the_codec_turns_dates_in_update_operators_and_distinct_values_into_what_the_server_compares(storage):
    earlier, later = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    jobs = storage.jobs  # declares `due_at`
    await jobs.insert_one({"_id": "j", "kind": "k", "due_at": later})
    await jobs.update_one({"_id": "j"}, {"$min": {"due_at": earlier}})
    await jobs.update_one({"_id": "j"}, {"$max": {"due_at": earlier - timedelta(days=1)}})  # not later: unchanged
    assert (await jobs.find_one({"_id": "j"}))["due_at"] == earlier
    assert await jobs.distinct("due_at", {"due_at": {"$lte": earlier}}) == [earlier]


class NoReferenceData:
    """Xero's currencies, accounts and tax rates of an organisation that has none."""

    async def get_currencies(self, tenant: TenantAuth) -> list:
        return []

    get_accounts = get_tax_rates = get_currencies


def export_job(job_id: str) -> ExportRequest:
    return ExportRequest(job_id=job_id, team_id="T1", reference="INV-101", forecast_invoice_id=101,
                     invoice=ForecastInvoice.model_validate(INVOICE), customer=ForecastCustomer.model_validate(CLIENT),
                     requested_by="U1", requested_at=datetime.now(UTC))


async def test_someone_who_has_not_opened_home_for_a_month_is_no_longer_redrawn(storage):
    viewers = HomeViewerStore(storage.home_viewers)
    now = datetime.now(UTC)
    await viewers.opened("T1", "U0QUIET", at=now - timedelta(days=31))
    await viewers.opened("T1", "U0LATELY", at=now - timedelta(days=29))
    await viewers.opened("T2", "U0ELSEWHERE", at=now - timedelta(days=31))
    assert await viewers.viewers("T1", now=now) == ["U0LATELY"]
    assert await storage.home_viewers.count_documents({"team_id": "T1"}) == 1  # forgotten, not kept for ever
    await viewers.opened("T1", "U0QUIET", at=now)  # opened Home again: redrawn from now on
    assert await viewers.viewers("T1", now=now) == ["U0LATELY", "U0QUIET"]
