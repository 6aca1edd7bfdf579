"""Shared fixtures: a real MongoDB wire-protocol server for the whole run.

With MONGODB_URI set the tests use that server (each test in its own database, dropped afterwards);
otherwise an embedded nx-27017 server in memory.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from services.platform.storage import EmbeddedMongo, Storage


@pytest.fixture(scope="session")
def mongo_uri():
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    server = EmbeddedMongo("memory")
    asyncio.run(server.start())
    yield server.uri
    server.stop()


@pytest.fixture
async def storage(mongo_uri):
    """A fresh database per test, on the shared embedded server."""
    store = Storage(mongo_uri, f"test_{uuid.uuid4().hex[:12]}")
    await store.connect()
    yield store
    await store.client.drop_database(store.db.name)
    await store.close()


@pytest.fixture
async def bot(storage):
    """The whole bot over HTTP: signed Slack requests in, Web API calls out to the sandbox's Slack stand-in."""
    from tests.support.harness import start_harness, stop_harness

    harness = await start_harness(storage)
    yield harness
    await stop_harness(harness)


@pytest.fixture
def xero():
    """Xero (and any other outside HTTP) answered by aioresponses; local servers pass through."""
    from aioresponses import aioresponses

    with aioresponses(passthrough=["http://127.0.0.1"]) as mocked:
        yield mocked


@pytest.fixture
async def stand_ins():
    """The sandbox's stand-ins on local ports, for real bot processes to talk to (tests/support/bot_process.py)."""
    from tests.support.bot_process import start_stand_ins

    running = await start_stand_ins()
    yield running
    await running.close()


@pytest.fixture
def standin(xero):
    """The sandbox's own Xero handlers behind aioresponses (tests/support/xero_standin.py)."""
    from tests.support.xero_standin import XeroStandIn

    return XeroStandIn().install(xero)


@pytest.fixture
async def session():
    """An aiohttp session, closed after the test."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        yield http
