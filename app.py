"""Start the bot: settings -> storage (embedded or MONGODB_URI) -> Slack app -> web server.

    python app.py             # production settings from the environment (or .env)
    python app.py --sandbox   # local stand-ins for Slack, Xero and Forecast (the default without Slack settings)
    python app.py --reset     # sandbox, starting afresh
    python app.py --sandbox --socket-mode   # the sandbox's Slack talks to the bot over Socket Mode

With SLACK_APP_TOKEN (xapp-…) set, Slack's requests come over Socket Mode instead of POST /slack/events.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ValidationError

from bot.config import Settings
from bot.container import build_container
from bot.logging_setup import configure_logging
from bot.slack_app import SlackDispatch, build_bolt_app, build_web_app
from bot.socket_mode import build_socket_mode
from services.platform.crypto import load_or_create_key
from services.platform.storage import EmbeddedMongo, Storage, StorageUnavailable

if TYPE_CHECKING:
    from sandbox.server import SandboxPlan

log = logging.getLogger("app")

SETUP_HELP = """
To run against Slack and Xero, set these variables (in the environment or a .env file):
{missing}
How to get them:
  1. Slack: https://api.slack.com/apps > Create New App > From an app manifest, paste manifest.yml
     (replace https://bot.example.com with your public URL), install it, then copy the Signing Secret
     and the Bot User OAuth Token.
  2. Xero: https://developer.xero.com/app/manage > New app (Web app), redirect URI
     <your public URL>/xero/callback, then copy the Client id (and generate a Client secret).
The README walks through both.
"""


SANDBOX_BANNER = """
Ledgerline is running in sandbox mode: the real bot, with local stand-ins for Slack, Xero and Forecast.

    Open {url}

Try /xero connect as Ada, /xero export INV-101 as Max, then approve as Grace.
Sandbox data live in {data}; `make run ARGS=--reset` starts afresh. Ctrl+C stops.
To run against the real Slack and Xero, see README.md (Production setup).
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Ledgerline: Xero and Forecast from Slack")
    parser.add_argument("--port", type=int, help="override PORT")
    parser.add_argument("--sandbox", action="store_true",
                        help="run against local stand-ins of Slack, Xero and Forecast (default without Slack settings)")
    parser.add_argument("--reset", action="store_true", help="sandbox: delete its data and start afresh")
    parser.add_argument("--sandbox-port", type=int, default=3001, help="port of the sandbox stand-ins")
    parser.add_argument("--socket-mode", action="store_true",
                        help="sandbox: Slack's requests over Socket Mode (as with SLACK_APP_TOKEN in production)")
    return parser.parse_args(argv)


def wants_sandbox(args: argparse.Namespace, settings: Settings) -> bool:
    no_slack = not (settings.slack_signing_secret or settings.slack_bot_token)
    return args.sandbox or args.reset or args.socket_mode or no_slack


def import_sandbox() -> type[SandboxPlan]:
    """The sandbox is a development tool from the source checkout, imported only when it is asked for."""
    try:
        from sandbox.server import SandboxPlan
    except ModuleNotFoundError as exc:
        if exc.name in ("sandbox", "sandbox.server"):
            why = "it is part of the source checkout, not of the installed package: run app.py from a clone"
        else:
            why = f"its dependency {exc.name!r} is missing: `make run`, or pip install -e '.[sandbox]'"
        sys.exit(f"Cannot start the sandbox: {why}.\n"
                 "To run against the real Slack and Xero instead, see README.md (Production setup).")
    return SandboxPlan


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "\n".join(f"  {'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        sys.exit(f"Some settings are not valid:\n{problems}")


async def open_storage(settings: Settings) -> tuple[Storage, EmbeddedMongo | None, str]:
    embedded = None
    uri = settings.mongodb_uri or ""
    if settings.embedded_database:
        embedded = EmbeddedMongo(str(settings.data_dir / "bot.db"))
        uri = await embedded.start()
        log.info("storage.embedded_started port=%s data=%s", embedded.port, settings.data_dir)
    if settings.token_encryption_key:
        key = settings.token_encryption_key.get_secret_value()
    else:
        key = load_or_create_key(Path(settings.data_dir) / "token-encryption.key")
    storage = Storage(uri, settings.mongodb_db)
    try:
        await storage.connect()
    except StorageUnavailable:
        if embedded:
            embedded.stop()
        raise
    return storage, embedded, key


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve(settings: Settings, sandbox: SandboxPlan | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    storage, embedded, key = await open_storage(settings)
    container = build_container(settings, storage, key)
    await container.start()
    dispatch = SlackDispatch(build_bolt_app(container)) if settings.socket_mode else None
    runners = [await start_site(build_web_app(container, dispatch), settings.host, settings.port)]
    # Everything built so far lives as long as the process: keep it out of the garbage collector's full
    # passes, which otherwise walk it all and stall the event loop (the ack p99 under load).
    gc.collect()
    gc.freeze()
    log.info("server.started url=http://%s:%s", settings.host, settings.port)
    socket = None
    if dispatch is not None:  # after the web server: the sandbox's stand-ins may be served there
        socket = build_socket_mode(container, dispatch)
    if sandbox:
        from sandbox.server import create_sandbox_app

        runners.append(await start_site(create_sandbox_app(sandbox), sandbox.host, sandbox.sandbox_port))
    if socket is not None:
        await socket.connect_async()
        log.info("slack.socket_mode_connected")
    if sandbox:
        print(SANDBOX_BANNER.format(url=sandbox.sandbox_url + "/", data=sandbox.data_dir), flush=True)
    else:
        how = "Slack over Socket Mode" if socket is not None else "Slack at /slack/events"
        print(f"Ledgerline is listening on http://{settings.host}:{settings.port}, {how} (Ctrl+C to stop)",
              flush=True)
    try:
        await stop.wait()
    finally:
        if socket is not None:
            await socket.close_async()
        for runner in reversed(runners):
            await runner.cleanup()
        await container.close()
        await storage.close()
        if embedded:
            embedded.stop()
        log.info("server.stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings()
    if args.port:
        settings.port = args.port
    sandbox = None
    if wants_sandbox(args, settings):
        plan_type = import_sandbox()
        sandbox_data = Path(settings.data_dir) / "sandbox"
        sandbox = plan_type(data_dir=sandbox_data, bot_port=settings.port, sandbox_port=args.sandbox_port,
                            socket_mode=args.socket_mode)
        if args.reset:
            shutil.rmtree(sandbox_data, ignore_errors=True)
        settings = Settings(_env_file=None, **{**settings.model_dump(), **sandbox.bot_settings(),
                                               "data_dir": sandbox.data_dir, "token_encryption_key": None})
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    missing = settings.missing()
    if missing:
        lines = "\n".join(f"  {name}: {meaning}" for name, meaning in missing.items())
        print("Ledgerline cannot start yet: some settings are missing.\n" + SETUP_HELP.format(missing=lines),
              file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings, sandbox))
    except StorageUnavailable as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
