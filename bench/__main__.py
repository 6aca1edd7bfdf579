"""Speed targets, measured rather than asserted in unit tests: `make bench`.

- Slack needs an answer to a slash command within 3 s; we aim for the ack at p95 < 300 ms on this
  2-core machine with the embedded database.
- The token fast path (a fresh token, no refresh) runs before every Xero call: p95 < 10 ms.

The bot runs as `make run` starts it: the real app, with the sandbox's Slack stand-in sending the commands
(signed, as Slack does) and answering the Web API. Nothing here imports tests/.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app import start_site
from bot.config import Settings
from bot.container import Container, build_container
from bot.slack_app import build_web_app
from sandbox.server import STAND_INS, SandboxPlan, create_sandbox_app
from sandbox.slack.app import WORKSPACE, Workspace
from services.crypto import generate_key
from services.storage import EmbeddedMongo, Storage, free_port
from services.xero.oauth import TokenGrant

ROUNDS = 200


def report(name: str, samples: list[float], target_ms: float) -> bool:
    samples_ms = sorted(s * 1000 for s in samples)
    p50 = statistics.median(samples_ms)
    p95 = samples_ms[int(len(samples_ms) * 0.95) - 1]
    ok = p95 < target_ms
    print(f"{name:<32} p50={p50:7.2f} ms  p95={p95:7.2f} ms  target p95<{target_ms:g} ms  {'ok' if ok else 'MISSED'}")
    return ok


@asynccontextmanager
async def sandbox_bot(storage: Storage) -> AsyncIterator[tuple[Container, Workspace]]:
    plan = SandboxPlan(data_dir=None, bot_port=free_port(), sandbox_port=free_port())
    container = build_container(Settings(_env_file=None, **plan.bot_settings()), storage, generate_key())
    sandbox_app = create_sandbox_app(plan)
    runners = [await start_site(build_web_app(container), plan.host, plan.bot_port),
               await start_site(sandbox_app, plan.host, plan.sandbox_port)]
    try:
        yield container, sandbox_app[STAND_INS].slack[WORKSPACE]
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        await container.close()


async def slash_command_ack(storage: Storage) -> bool:
    async with sandbox_bot(storage) as (_, workspace):
        await workspace.slash_command("C0GENERAL", "U0ADMIN", "/xero", "list")  # warm-up: bolt's auth.test
        samples = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            answer = await workspace.slash_command("C0GENERAL", "U0ADMIN", "/xero", "list")
            samples.append(time.perf_counter() - started)
            assert answer["ok"], answer
        return report("slash command ack (/xero list)", samples, 300)


async def token_fast_path(storage: Storage) -> bool:
    async with sandbox_bot(storage) as (container, _):
        grant = TokenGrant(access_token="a" * 40, refresh_token="r" * 40, expires_in=1800)
        token_set_id = await container.tokens.save(grant, team_id="T", user_id="U")
        samples = []
        for _ in range(ROUNDS * 5):
            started = time.perf_counter()
            await container.tokens.access_token(token_set_id)
            samples.append(time.perf_counter() - started)
        return report("access token (fresh, no refresh)", samples, 10)


async def main() -> int:
    server = EmbeddedMongo("memory")
    await server.start()
    storage = Storage(server.uri, f"bench_{uuid.uuid4().hex[:8]}")
    try:
        await storage.connect()
        results = [await slash_command_ack(storage), await token_fast_path(storage)]
    finally:
        await storage.close()
        server.stop()
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
