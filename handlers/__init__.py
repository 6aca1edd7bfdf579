"""Slack listeners, one module per feature; each registers its own."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.container import Container
from handlers import audit, connections, exports, home, imports, installations, settings, sync
from handlers.router import CommandRouter, register_listener
from handlers.router import register as register_router


def register_all(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    register_listener(app, container, router)
    for module in (connections, exports, home, imports, installations, settings, sync, audit):
        module.register(app, container, router)
    register_router(app, container, router)
