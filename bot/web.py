"""Routes that are not Slack's: Xero's OAuth callback, Xero's webhooks and the health check."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.acks import SharedRespond
from bot.blocks import connections as blocks
from bot.blocks import pages
from bot.container import Container
from bot.xero_webhooks import XeroWebhookRoute
from services.connections.service import ConsentFailed, ConsentStateInvalid
from services.platform.logfmt import fields

log = logging.getLogger(__name__)


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html")


class WebRoutes:
    def __init__(self, container: Container):
        self.container = container

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/xero/callback", self.xero_callback)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/", self.front_page)
        key = self.container.settings.xero_webhook_key
        XeroWebhookRoute(self.container.xero_sync, key.get_secret_value() if key else None).add_to(app)

    async def front_page(self, request: web.Request) -> web.Response:
        return html(pages.front_page())

    async def healthz(self, request: web.Request) -> web.Response:
        if await self.container.storage.ping():
            return web.json_response({"status": "ok", "database": "reachable"})
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)

    async def xero_callback(self, request: web.Request) -> web.Response:
        query = request.query
        state = query.get("state", "")
        connections = self.container.connections
        try:
            if "error" in query:
                team_id, user_id = await connections.decline_consent(state)
                log.info("consent.declined", **fields(team=team_id, user=user_id, error=query.get("error")))
                await self.tell(team_id, user_id, blocks.consent_declined())
                return html(pages.declined_page(), status=200)
            result = await connections.complete_consent(state, query.get("code", ""))
        except ConsentStateInvalid:
            log.info("consent.invalid_state")
            return html(pages.invalid_state_page(), status=400)
        except ConsentFailed as failure:
            await self.tell(failure.team_id, failure.user_id, blocks.consent_failed(failure))
            # 4xx, not 502: the browser's request was answered fully (the page says what Xero did), and a refused
            # code is the request's own problem; nothing here is a failure of this server.
            return html(pages.failed_page(blocks.consent_failure_words(failure)), status=400)
        await self.tell(result.team_id, result.user_id, blocks.consent_succeeded(result.tenants))
        await self.redraw_connect_answer(result)
        await self.container.exports.redraw_pending(result.team_id)  # a reconnected organisation is offered again
        await self.container.home.refresh(result.team_id)
        return html(pages.connected_page([t.name for t in result.tenants]))

    async def redraw_connect_answer(self, result) -> None:
        """The `/xero connect` answer ("sign in there…") now says what was connected (one of its 5 posts)."""
        if not result.answer_url:
            return
        try:
            await SharedRespond(result.answer_url, self.container.http)(
                response_type="ephemeral", replace_original=True, **blocks.connect_answer_done(result.tenants))
        except Exception as exc:  # expired (30 minutes) or unreachable: the DM says it anyway
            log.warning("consent.answer_not_redrawn", **fields(team=result.team_id, error=type(exc).__name__))

    async def tell(self, team_id: str, user_id: str, payload: dict) -> None:
        """A DM from the bot; a Slack hiccup must not spoil the browser page (the gateway logs it)."""
        await self.container.gateway.for_team(team_id).notify_user(user_id, None, payload)
