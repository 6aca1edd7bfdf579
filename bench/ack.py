"""Ack speed: the bot against a bare slack-bolt app that only acks, under the same load, in one run.

Each app runs in its own process; this process only sends: `ROUNDS` signed `/xero list` commands, `CONCURRENCY`
at a time, and times each HTTP answer (Slack's "ack"). Both apps are warmed up first (bolt's auth.test on the
first request), and measured in turns (bare, bot, bare, bot) so a busy moment of the machine hits both.
The p99 of 1,000 answers is their tenth slowest, so one pause of the machine moves it: the measurement is
repeated `REPEATS` times and the run with the median p99 ratio is reported, with the range of the others.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from sandbox.server import SIGNING_SECRET
from sandbox.slack.signing import signed_headers

HOST = "127.0.0.1"
ROUNDS = 1000
CONCURRENCY = 50
WARM_UP = 100
TURNS = 10
REPEATS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    port: int
    ready: str
    log_path: Path

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_server(name: str, *args: str | int, port: int, timeout: float = 90) -> Server:
    """`python -m bench.servers name port args…`; its stderr goes to a log file, its first stdout line means ready."""
    log_path = Path(tempfile.gettempdir()) / f"bench-{name}-{os.getpid()}.log"
    log_file = open(log_path, "wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.servers", name, str(port), *map(str, args),
        stdout=asyncio.subprocess.PIPE, stderr=log_file, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log_file.close()
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
    except TimeoutError:
        process.kill()
        raise RuntimeError(f"bench server {name} did not start; see {log_path}") from None
    if not line:
        raise RuntimeError(f"bench server {name} exited; see {log_path}")
    asyncio.create_task(_drain(process.stdout))
    return Server(name, process, port, line.decode().strip(), log_path)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


def signed_command(text: str, response_url: str, number: int) -> tuple[str, dict]:
    body = urlencode({
        "token": "legacy", "team_id": "T0SANDBOX", "team_domain": "sandbox", "channel_id": "C0GENERAL",
        "channel_name": "general", "user_id": "U0MAX", "user_name": "max", "command": "/xero", "text": text,
        "api_app_id": "A0SANDBOX", "response_url": response_url, "trigger_id": f"bench-trigger-{number}",
    })
    return body, signed_headers(SIGNING_SECRET, body.encode())


async def load(session: aiohttp.ClientSession, port: int, response_base: str, rounds: int) -> list[float]:
    """`rounds` signed `/xero list` at CONCURRENCY at a time; the seconds each took to be answered."""
    url = f"http://{HOST}:{port}/slack/events"
    queue = iter(range(rounds))
    samples: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for number in queue:
            body, headers = signed_command("list", f"{response_base}/r{number}", number)
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    failures += 1
            samples.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    if failures:
        raise RuntimeError(f"{failures} of {rounds} commands were not answered 200")
    return samples


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


Figures = dict[str, dict[str, float]]


async def measure(sandbox_port: int) -> list[Figures]:
    """REPEATS measurements of ROUNDS commands per app, each in turns."""
    bot_port, bare_port = free_port(), free_port()
    bot = await start_server("bot", sandbox_port, port=bot_port)
    bare = await start_server("bare", sandbox_port, port=bare_port)
    response_base = f"http://{HOST}:{sandbox_port}/bench/response"
    runs: list[Figures] = []
    try:
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as session:
            for server in (bare, bot):
                await load(session, server.port, response_base, WARM_UP)
            for _ in range(REPEATS):
                samples: dict[str, list[float]] = {"bare": [], "bot": []}
                for _ in range(TURNS):
                    for server in (bare, bot):
                        samples[server.name] += await load(session, server.port, response_base, ROUNDS // TURNS)
                        await asyncio.sleep(0.5)  # the bot's work after its acks settles before the next turn
                runs.append({name: {"p50": statistics.median(values), "p99": percentile(values, 0.99),
                                    "n": len(values)} for name, values in samples.items()})
    finally:
        await bot.stop()
        await bare.stop()
    return runs


def _p99_ratio(figures: Figures) -> float:
    return figures["bot"]["p99"] / figures["bare"]["p99"]


def report(runs: list[Figures]) -> bool:
    ordered = sorted(runs, key=_p99_ratio)
    figures = ordered[len(ordered) // 2]
    bare, bot = figures["bare"], figures["bot"]
    p50_ratio, p99_ratio = bot["p50"] / bare["p50"], bot["p99"] / bare["p99"]
    spread = f"p99 ratios {_p99_ratio(ordered[0]):.2f}x to {_p99_ratio(ordered[-1]):.2f}x"
    print(f"ack, {bot['n']:.0f} signed /xero list at {CONCURRENCY} concurrent (each app in its own process); "
          f"the median of {len(runs)} runs ({spread})")
    for name, values in (("bare slack-bolt app", bare), ("bot", bot)):
        print(f"  {name:<22} p50 {values['p50'] * 1000:7.1f} ms   p99 {values['p99'] * 1000:7.1f} ms")
    ok = p99_ratio <= 1.3
    print(f"  bot / bare             p50 {p50_ratio:5.2f}x        p99 {p99_ratio:5.2f}x   "
          f"target p99 <= 1.30x  {'ok' if ok else 'MISSED'}")
    return ok


async def run(sandbox_port: int) -> bool:
    return report(await measure(sandbox_port))


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure(int(sys.argv[1])))))
