"""Files the bot creates (the generated key, the embedded database) are its owner's only, from the first byte."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from services.platform.crypto import load_or_create_key
from services.platform.storage import EmbeddedMongo, Storage


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The most permissive umask: only the mode the bot asks for at creation can keep files private."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_the_generated_key_is_created_private_in_a_private_folder(tmp_path, open_umask):
    key_file = tmp_path / "data" / "token-encryption.key"
    key = load_or_create_key(key_file)
    assert mode(key_file) == 0o600
    assert mode(key_file.parent) == 0o700
    assert load_or_create_key(key_file) == key  # read back, not regenerated


def test_an_existing_data_folder_is_made_private(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    load_or_create_key(data / "token-encryption.key")
    assert mode(data) == 0o700


async def test_the_embedded_database_and_its_journal_are_private(tmp_path, open_umask):
    db_file = tmp_path / "data" / "bot.db"
    server = EmbeddedMongo(str(db_file))
    await server.start()
    try:
        store = Storage(server.uri, "privacy")
        await store.connect()
        await store.links.insert_one({"team_id": "T1", "kind": "invoice", "forecast_id": "1", "tenant_id": "t"})
        await store.close()
    finally:
        server.stop()
    assert mode(db_file.parent) == 0o700
    created = [p for p in db_file.parent.iterdir()]
    assert db_file in created
    for path in created:
        assert mode(path) == 0o600, path.name
