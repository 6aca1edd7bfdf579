from datetime import UTC, datetime, timedelta

import pytest
from pymongo import ReturnDocument

from services.storage import Storage, StorageUnavailable, mask_uri


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
    from services.storage import EmbeddedMongo

    path = str(tmp_path / "bot.db")
    for attempt in range(2):
        server = EmbeddedMongo(path)
        await server.start()
        store = Storage(server.uri, "xero_slack_bot")
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


async def test_connecting_to_mongodb_turns_dates_stored_as_epoch_seconds_by_earlier_versions_into_dates(storage):
    if storage.embedded:
        pytest.skip("runs against MongoDB: set MONGODB_URI (the embedded server keeps epoch seconds)")
    await storage.db["tenants"].insert_one({"team_id": "T", "tenant_id": "old", "connected_at": 1767225600.0})
    await storage.connect()
    raw = await storage.db["tenants"].find_one({"tenant_id": "old"})
    assert raw["connected_at"] == datetime(2026, 1, 1, tzinfo=UTC)
