import pytest

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
        try:
            if attempt == 0:
                await store.tenants.insert_one({"team_id": "T", "tenant_id": "t1", "name": "Kept"})
            else:
                assert (await store.tenants.find_one({"tenant_id": "t1"}))["name"] == "Kept"
        finally:
            await store.close()
            server.stop()
    assert server.process is None  # stopped, not left running
