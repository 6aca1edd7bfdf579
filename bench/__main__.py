"""Speed targets, measured rather than asserted in unit tests: `make bench`.

- Slack needs an answer to a slash command within 3 s; we aim for the ack at p95 < 300 ms on this
  2-core machine with the embedded database.
- The token fast path (a fresh token, no refresh) runs before every Xero call: p95 < 10 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid

from services.storage import EmbeddedMongo, Storage
from services.xero.oauth import TokenGrant
from tests.support.harness import start_harness, stop_harness

ROUNDS = 200


def report(name: str, samples: list[float], target_ms: float) -> bool:
    samples_ms = sorted(s * 1000 for s in samples)
    p50 = statistics.median(samples_ms)
    p95 = samples_ms[int(len(samples_ms) * 0.95) - 1]
    ok = p95 < target_ms
    print(f"{name:<32} p50={p50:7.2f} ms  p95={p95:7.2f} ms  target p95<{target_ms:g} ms  {'ok' if ok else 'MISSED'}")
    return ok


async def slash_command_ack(storage: Storage) -> bool:
    harness = await start_harness(storage)
    try:
        await harness.command("list")  # warm-up: bolt's auth.test on the first request
        samples = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            await harness.command("list")
            samples.append(time.perf_counter() - started)
        return report("slash command ack (/xero list)", samples, 300)
    finally:
        await stop_harness(harness)


async def token_fast_path(storage: Storage) -> bool:
    harness = await start_harness(storage)
    tokens = harness.container.tokens
    try:
        grant = TokenGrant(access_token="a" * 40, refresh_token="r" * 40, expires_in=1800)
        token_set_id = await tokens.save(grant, team_id="T", user_id="U")
        samples = []
        for _ in range(ROUNDS * 5):
            started = time.perf_counter()
            await tokens.access_token(token_set_id)
            samples.append(time.perf_counter() - started)
        return report("access token (fresh, no refresh)", samples, 10)
    finally:
        await stop_harness(harness)


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
