"""Start the bot: settings -> storage (embedded or MONGODB_URI) -> Slack app -> web server.

    python app.py            # production settings from the environment (or .env)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from bot.config import Settings
from bot.container import build_container
from bot.logging_setup import configure_logging
from bot.slack_app import build_web_app
from services.crypto import load_or_create_key
from services.storage import EmbeddedMongo, Storage, StorageUnavailable

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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Xero for Slack")
    parser.add_argument("--port", type=int, help="override PORT")
    return parser.parse_args(argv)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "\n".join(f"  {'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        sys.exit(f"Some settings are not valid:\n{problems}")


async def open_storage(settings: Settings) -> tuple[Storage, EmbeddedMongo | None, str]:
    embedded = None
    uri = settings.mongodb_uri
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


async def serve(settings: Settings) -> None:
    storage, embedded, key = await open_storage(settings)
    container = build_container(settings, storage, key)
    runner = web.AppRunner(build_web_app(container), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    log.info("server.started url=http://%s:%s", settings.host, settings.port)
    print(f"Xero for Slack is listening on http://{settings.host}:{settings.port} (Ctrl+C to stop)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
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
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    missing = settings.missing()
    if missing:
        lines = "\n".join(f"  {name}: {meaning}" for name, meaning in missing.items())
        print("Xero for Slack cannot start yet: some settings are missing.\n" + SETUP_HELP.format(missing=lines),
              file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings))
    except StorageUnavailable as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
