"""Builds the Slack app and the one aiohttp web application that serves everything.

Every request to /slack/events goes through `SlackEndpoint` first: it verifies the signature on the raw
bytes, parses the body itself and validates it into a typed payload (bot/requests/reader.py). Only a valid
payload reaches bolt, which then only routes it to a listener; bolt's own verification and body parser
are not used.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import cast

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.acks import ACK_SENT
from bot.blocks import requests as blocks
from bot.container import Container
from bot.logging_setup import quiet_malformed_http
from bot.requests import (
    CONTEXT_KEY,
    MAX_BODY_BYTES,
    BlockAction,
    BlockSuggestion,
    EventCallback,
    Rejected,
    SlashCommand,
    UnreadablePayload,
    UrlVerification,
    ViewSubmission,
)
from bot.requests.reader import Inbound, RequestReader, response_url_of
from bot.slack_gateway import SlackCallFailed
from bot.web import WebRoutes
from handlers import register_all
from handlers.router import CommandRouter
from services.platform.logfmt import fields

log = logging.getLogger(__name__)


def build_bolt_app(container: Container) -> AsyncApp:
    settings = container.settings
    app = AsyncApp(
        signing_secret=_secret(settings.slack_signing_secret),
        client=container.gateway.bolt_client,  # bolt's own; every call of ours goes through the gateway
        request_verification_enabled=False,  # SlackEndpoint verified the request before bolt sees it
        raise_error_for_unhandled_request=True,  # answered by on_error, not by bolt's warning (it logs bodies)
    )
    answers = ErrorAnswers(container)
    register_all(cast(AsyncApp, GuardedApp(app, answers)), container, CommandRouter())  # duck-typed: same decorators
    app.error(answers.on_error)
    return app


class GuardedApp:
    """What handlers register their listeners on: bolt's app, with each listener wrapped by ErrorAnswers.

    A listener that fails after its ack must not reach bolt: bolt then forgets the ack and keeps Slack
    waiting 3 seconds before answering 404 (slack-bolt 1.30, AsyncioListenerRunner).
    """

    LISTENER_KINDS = ("command", "action", "view", "options", "shortcut", "event")

    def __init__(self, app: AsyncApp, answers: ErrorAnswers):
        self._app = app
        self._answers = answers

    def __getattr__(self, name: str):
        register = getattr(self._app, name)
        if name not in self.LISTENER_KINDS:
            return register

        def listener_decorator(*args, **kwargs):
            decorate = register(*args, **kwargs)
            return lambda listener: decorate(self._answers.guard(listener))

        return listener_decorator


class ErrorAnswers:
    """What Slack and the person get when a listener fails or nothing listens: never a 500, never a hang."""

    def __init__(self, container: Container):
        self.container = container

    def guard(self, listener):
        wanted = set(inspect.signature(listener).parameters)

        async def guarded(ack, context, respond, client, body):
            offered = {"ack": ack, "context": context, "respond": respond, "client": client, "body": body}
            try:
                await listener(**{name: value for name, value in offered.items() if name in wanted})
            except Exception as error:
                try:
                    await self.answer(error, context.get(CONTEXT_KEY), ack, respond)
                except Exception:  # nothing may reach bolt (see GuardedApp)
                    log.exception("slack.error_answer_failed")

        guarded.__name__ = getattr(listener, "__name__", "listener")
        return guarded

    async def answer(self, error: Exception, request, ack, respond) -> None:
        undeliverable = _undeliverable(error)
        if isinstance(error, UnreadablePayload):
            log.info("slack.payload_unusable", **fields(kind=getattr(request, "kind", None), reason=str(error)))
            message, view = blocks.unreadable_request(), blocks.unreadable_view()
        elif undeliverable is not None:
            # Slack could not take the answer (a response_url that is unreachable or used up, a stale trigger):
            # nothing is broken here and the person cannot be told, so one warning line, no traceback.
            log.warning("slack.answer_undeliverable", **fields(kind=getattr(request, "kind", None),
                                                               id=_listener_id(request), error=undeliverable))
            message, view = blocks.unexpected_failure(), blocks.failed_view()
        else:
            log.error("listener_failed", exc_info=error, **fields(kind=getattr(request, "kind", None),
                                                                  id=_listener_id(request)))
            message, view = blocks.unexpected_failure(), blocks.failed_view()
        if ack.response is None:  # failed before its ack: the answer goes into the ack
            if isinstance(request, ViewSubmission):
                await ack(response_action="update", view=view)
                return
            if isinstance(request, BlockSuggestion):
                await ack(options=[])
                return
            await ack()
        await self.tell(request, respond, message, quiet=undeliverable is not None)

    async def tell(self, request, respond, message: dict, *, quiet: bool = False) -> None:
        """Tells the person what happened; a failure to tell is logged and goes no further."""
        try:
            if getattr(request, "response_url", None):
                await respond(response_type="ephemeral", replace_original=False, **message)
            elif isinstance(request, (BlockAction, ViewSubmission)):
                await self.container.gateway.for_team(request.team_id).dm(request.user_id, message)
        except (TimeoutError, SlackApiError, SlackCallFailed, aiohttp.ClientError) as exc:
            if not quiet:  # already said once, as the reason the listener failed
                log.warning("slack.error_answer_failed", **fields(error=type(exc).__name__))
        except Exception:
            log.exception("slack.error_answer_failed")

    async def on_error(self, error, context, response):
        """Bolt's own errors: no listener for the request, or a middleware failed."""
        request = context.get(CONTEXT_KEY)
        if isinstance(error, BoltUnhandledRequestError):
            # Not even the action or callback id: whatever nobody listens for was chosen by the sender.
            log.info("slack.unhandled", **fields(kind=getattr(request, "kind", None)))
        else:
            log.error("slack.dispatch_failed", exc_info=error, **fields(kind=getattr(request, "kind", None)))
        return None if response is None else _quiet_answer(request)


def _undeliverable(error: Exception) -> str | None:
    """Why Slack could not take what a listener sent (its words, e.g. expired_trigger_id), or None."""
    if isinstance(error, SlackApiError):
        said = error.response.get("error") if error.response is not None else None
        return str(said or "slack_api_error")
    if isinstance(error, (TimeoutError, aiohttp.ClientError)):
        return type(error).__name__
    return None


def _listener_id(request) -> str | None:
    if request is None or isinstance(request, SlashCommand):
        return getattr(request, "command", None)
    if isinstance(request, EventCallback):
        return request.event.type
    if isinstance(request, BlockSuggestion):
        return request.action_id
    if isinstance(request, ViewSubmission):
        return request.view.callback_id
    return request.action.action_id


def _quiet_answer(request) -> BoltResponse:
    if isinstance(request, BlockSuggestion):
        return _json_answer({"options": []})
    return BoltResponse(status=200, body="")


def _json_answer(body: dict) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(body), headers={"content-type": "application/json"})


class SlackEndpoint:
    """POST /slack/events: verify, parse, validate, then let bolt route the typed payload."""

    def __init__(self, bolt: AsyncApp, reader: RequestReader):
        self.bolt = bolt
        self.reader = reader
        self._background: set[asyncio.Task] = set()

    async def handle(self, request: web.Request) -> web.Response:
        try:
            inbound = self.reader.read(await read_capped(request), request.headers)
        except Rejected as rejected:
            log.warning("slack.request_rejected", **fields(reason=rejected.reason, status=rejected.status))
            return web.Response(status=rejected.status)
        if inbound.payload is None:
            return self.unreadable(inbound)
        if isinstance(inbound.payload, UrlVerification):
            return web.json_response({"challenge": inbound.payload.challenge})
        ack_sent = asyncio.Event()
        bolt_request = AsyncBoltRequest(body=json.dumps(inbound.bolt_body()),
                                        headers={"content-type": "application/json"},
                                        context={CONTEXT_KEY: inbound.payload, ACK_SENT: ack_sent})
        try:
            return await to_aiohttp_response(await self.bolt.async_dispatch(bolt_request))
        finally:
            ack_sent.set()  # listeners waiting in bot.acks.after_ack go on

    def unreadable(self, inbound: Inbound) -> web.Response:
        """Signed, but not something the bot can read: a polite answer where Slack shows one."""
        log.info("slack.payload_unreadable", **fields(kind=inbound.kind))
        if inbound.kind == "command":
            return web.json_response({"response_type": "ephemeral", **blocks.unreadable_request()})
        if inbound.kind == "view_submission":
            return web.json_response({"response_action": "update", "view": blocks.unreadable_view()})
        if inbound.kind == "block_suggestion":
            return web.json_response({"options": []})
        if inbound.kind == "event":
            return web.Response(status=200)  # not 4xx: Slack would retry an event that can never be read
        if inbound.kind == "block_actions":
            response_url = response_url_of(inbound.raw)
            if response_url is None:
                return web.Response(status=400)
            self._in_background(_post_ephemeral(response_url, blocks.unreadable_request()))
        return web.Response(status=200)  # other interactions (shortcuts, closed views): nothing to do

    def _in_background(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def read_capped(request: web.Request) -> bytes:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise Rejected(413, "too_large")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Rejected(413, "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _post_ephemeral(response_url: str, message: dict) -> None:
    try:
        await AsyncWebhookClient(response_url).send_dict(
            {"response_type": "ephemeral", "replace_original": False, **message})
    except Exception as exc:  # the answer is a courtesy; Slack already has its 200
        log.info("slack.response_url_failed", **fields(error=type(exc).__name__))


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value else ""


def build_web_app(container: Container) -> web.Application:
    quiet_malformed_http()
    endpoint = SlackEndpoint(build_bolt_app(container),
                             RequestReader(_secret(container.settings.slack_signing_secret)))
    web_app = web.Application(client_max_size=MAX_BODY_BYTES + 1024)
    web_app.router.add_post("/slack/events", endpoint.handle)
    WebRoutes(container).add_to(web_app)
    return web_app
