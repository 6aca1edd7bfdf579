"""Builds the Slack app and the one aiohttp web application that serves everything."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.acks import ACK_SENT
from bot.blocks.common import error_message
from bot.container import Container
from bot.web import WebRoutes
from handlers import register_all
from handlers.router import CommandRouter

log = logging.getLogger(__name__)


def build_bolt_app(container: Container) -> AsyncApp:
    settings = container.settings
    app = AsyncApp(
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
        client=container.slack,  # carries the bot token and SLACK_API_URL
    )
    register_all(app, container, CommandRouter())

    @app.error
    async def on_error(error, body, respond, logger):
        logger.exception("listener_failed", exc_info=error)
        if respond is not None and body.get("response_url"):
            await respond(response_type="ephemeral", replace_original=False,
                          **error_message("Something went wrong on our side. Nothing was changed.",
                                          "Please try again; if it keeps happening, tell an admin."))

    return app


def build_web_app(container: Container) -> web.Application:
    bolt = build_bolt_app(container)

    async def slack_events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        ack_sent = bolt_request.context[ACK_SENT] = asyncio.Event()
        try:
            return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))
        finally:
            ack_sent.set()  # listeners waiting in bot.acks.after_ack go on

    web_app = web.Application()
    web_app.router.add_post("/slack/events", slack_events)
    WebRoutes(container).add_to(web_app)
    return web_app
