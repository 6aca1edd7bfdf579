"""The bench's servers, each in its own process so the load generator does not share their event loop.

    python -m bench.servers sandbox PORT BOT_PORT   Slack (auth.test, response_url), Xero and Forecast stand-ins
    python -m bench.servers xero PORT SCALE         the Xero stand-in with its limits time-scaled, 5 organisations
    python -m bench.servers bot PORT SANDBOX_PORT   the real bot, pointed at the sandbox
    python -m bench.servers bare PORT SANDBOX_PORT  a bare slack-bolt AsyncApp whose /xero only acks

Each prints one JSON line on stdout when it is ready (the xero one: its access token and tenants).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from aiohttp import web

HOST = "127.0.0.1"

EXTRA_ORGANISATIONS = [
    {"name": "Agency North Ltd", "short": "NORTH", "address": ("London", "EC1A 1BB", "United Kingdom"),
     "base_currency": "GBP", "currencies": [("GBP", "British Pound"), ("EUR", "Euro")], "country": "GB",
     "timezone": "GMTSTANDARDTIME", "sales_tax": ("OUTPUT2", "20% (VAT on Income)", 20.0),
     "purchase_tax": ("INPUT2", "20% (VAT on Expenses)", 20.0), "zero_tax": ("NONE", "No VAT", 0.0),
     "customers": ["North Client"], "suppliers": ["North Supplier"], "checked": True},
    {"name": "Agency West Inc", "short": "WEST", "address": ("New York", "10001", "United States"),
     "base_currency": "USD", "currencies": [("USD", "United States Dollar")], "country": "US",
     "timezone": "EASTERNSTANDARDTIME", "sales_tax": ("OUTPUT", "Tax on Sales", 8.5),
     "purchase_tax": ("INPUT", "Tax on Purchases", 0.0), "zero_tax": ("NONE", "Tax Exempt", 0.0),
     "customers": ["West Client"], "suppliers": ["West Supplier"], "checked": True},
]


async def serve(app: web.Application, port: int, ready: dict) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    print(json.dumps(ready), flush=True)
    await asyncio.Event().wait()


async def sandbox(port: int, bot_port: int) -> None:
    from sandbox.server import SandboxPlan, create_sandbox_app

    plan = SandboxPlan(data_dir=None, bot_port=bot_port, sandbox_port=port)  # Xero's consent returns to the bot
    root = create_sandbox_app(plan)

    async def response_url(_request: web.Request) -> web.Response:
        return web.Response(text="ok")  # what Slack answers a response_url post

    root.router.add_post("/bench/response/{token}", response_url)
    await serve(root, port, {"ready": "sandbox"})


async def xero(port: int, time_scale: float) -> None:
    from sandbox.xero import XERO_STATE, create_xero_app
    from sandbox.xero.demo_data import build_organisation

    app = create_xero_app(None, public_base_url=f"http://{HOST}:{port}", time_scale=time_scale)
    state = app[XERO_STATE]
    for spec in EXTRA_ORGANISATIONS:
        org = build_organisation(spec, state.clock())
        state.organisations[org["TenantID"]] = org
    tenants = list(state.organisations)
    grant = state.record_consent("accounting.transactions accounting.contacts accounting.settings", tenants)
    token = state.issue_tokens(grant)["access_token"]

    async def stats(_request: web.Request) -> web.Response:
        numbers: Counter[str] = Counter()
        for org in state.organisations.values():
            for invoice in org["Invoices"].values():
                if invoice.get("Type") == "ACCREC" and str(invoice.get("InvoiceNumber", "")).startswith("ME-"):
                    numbers[invoice["InvoiceNumber"]] += 1
        calls = Counter()
        for (_tenant, status), count in state.call_counts.items():
            calls[str(status)] += count
        return web.json_response({"calls_by_status": calls, "refused": dict(state.rate_limiter.refused),
                                  "month_end_invoices": sum(numbers.values()),
                                  "duplicates": sum(n - 1 for n in numbers.values() if n > 1),
                                  "spec_violations": state.spec_violations[:5]})

    root = web.Application()
    root.router.add_get("/bench/stats", stats)
    root.add_subapp("/xero", app)
    await serve(root, port, {"ready": "xero", "token": token, "tenants": {
        tid: {"name": org["Name"], "currency": org["BaseCurrency"], "tax": org["TaxRates"][0]["EffectiveRate"]}
        for tid, org in state.organisations.items()}})


async def bot(port: int, sandbox_port: int) -> None:
    import app as bot_app
    from bot.config import Settings
    from bot.logging_setup import configure_logging
    from sandbox.server import SandboxPlan

    plan = SandboxPlan(data_dir=None, bot_port=port, sandbox_port=sandbox_port)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    settings = Settings(_env_file=None, **{**plan.bot_settings(), "data_dir": data_dir})
    configure_logging(settings.log_level, settings.log_format, settings.secrets())  # as `make run` does
    await bot_app.serve(settings)  # prints a line once it listens


async def bare(port: int, sandbox_port: int) -> None:
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from sandbox.server import BOT_TOKEN, SIGNING_SECRET

    bolt = AsyncApp(signing_secret=SIGNING_SECRET,
                    client=AsyncWebClient(token=BOT_TOKEN, base_url=f"http://{HOST}:{sandbox_port}/slack/api/"))

    @bolt.command("/xero")
    async def only_ack(ack):
        await ack()

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    await serve(app, port, {"ready": "bare"})


def _profiled(run, path: str) -> None:
    """BENCH_PROFILE=file: the bot under cProfile, stats written when it stops (SIGTERM)."""
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    try:
        run()  # the bot stops cleanly on SIGTERM
    finally:
        profile.disable()
        profile.dump_stats(path)


def main(argv: list[str]) -> None:
    kind, *rest = argv
    if kind != "bot":
        logging.basicConfig(level=logging.WARNING)
    if os.environ.get("BENCH_PROFILE") and kind == "bot":
        _profiled(lambda: asyncio.run(bot(int(rest[0]), int(rest[1]))), os.environ["BENCH_PROFILE"])
        return
    if kind == "sandbox":
        asyncio.run(sandbox(int(rest[0]), int(rest[1])))
    elif kind == "xero":
        asyncio.run(xero(int(rest[0]), float(rest[1])))
    elif kind == "bot":
        asyncio.run(bot(int(rest[0]), int(rest[1])))
    elif kind == "bare":
        asyncio.run(bare(int(rest[0]), int(rest[1])))
    else:
        raise SystemExit(f"unknown server {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
