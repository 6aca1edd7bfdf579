"""Add to Slack in the sandbox: Slack's consent page (`/oauth/v2/authorize`), `oauth.v2.access` (codes and,
with token rotation, refresh tokens) and the bot tokens of more workspaces than the sandbox's own, among them
"Globex Finance". The sandbox's own workspace keeps its fixed token.
"""

from __future__ import annotations

import base64
import itertools
import secrets
from html import escape
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from sandbox.slack.state import API_APP_ID, BOT_USER_ID, TEAM

CLIENT_ID = "sandbox-slack-client-id"
CLIENT_SECRET = "sandbox-slack-client-secret"
WORKSPACES = {TEAM["id"]: TEAM["name"], "T0GLOBEX": "Globex Finance"}
INSTALLER = "U0ADMIN"


class Installs:
    """Who may call the sandbox's Web API, and the codes and refresh tokens that make more of them."""

    def __init__(self, bot_token: str, *, rotating: bool = False) -> None:
        self.tokens: dict[str, str] = {bot_token: TEAM["id"]}  # bot token -> its workspace
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.refreshes = 0  # how many times a refresh token was exchanged (token rotation)
        self.rotating = rotating
        self._n = itertools.count(1)

    def team_of(self, token: str | None) -> str | None:
        return self.tokens.get(token or "")

    def grant(self, team_id: str, *, user: str = INSTALLER, scope: str = "") -> str:
        """What Slack's consent page does on Allow: a code for the redirect URL."""
        n = next(self._n)
        code = f"sandbox-code-{secrets.token_hex(8)}"
        answer: dict[str, Any] = {
            "ok": True, "access_token": f"{'xoxe.' if self.rotating else ''}xoxb-{team_id}-{n}", "token_type": "bot",
            "scope": scope, "bot_user_id": BOT_USER_ID, "app_id": API_APP_ID,
            "team": {"id": team_id, "name": WORKSPACES.get(team_id, team_id)}, "enterprise": None,
            "authed_user": {"id": user}, "is_enterprise_install": False}
        if self.rotating:
            refresh = f"xoxe-1-{team_id}-{n}"
            answer.update(refresh_token=refresh, expires_in=43200)
            self.refresh_tokens[refresh] = team_id
        self.codes[code] = answer
        return code

    def uninstall(self, team_id: str) -> None:
        self.tokens = {token: team for token, team in self.tokens.items() if team != team_id}

    def oauth_v2_access(self, args: dict[str, Any], request: web.Request) -> dict[str, Any]:
        client_id, client_secret = _client(args, request)
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            return {"ok": False, "error": "invalid_client_id"}
        if args.get("grant_type") == "refresh_token":
            team_id = self.refresh_tokens.pop(str(args.get("refresh_token")), None)
            if team_id is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            self.refreshes += 1
            n = next(self._n)
            token, refresh = f"xoxe.xoxb-{team_id}-{n}", f"xoxe-1-{team_id}-{n}"
            self.tokens[token] = team_id
            self.refresh_tokens[refresh] = team_id
            return {"ok": True, "access_token": token, "refresh_token": refresh, "expires_in": 43200,
                    "token_type": "bot", "team": {"id": team_id}}
        answer = self.codes.pop(str(args.get("code")), None)
        if answer is None:
            return {"ok": False, "error": "invalid_code"}
        self.tokens[answer["access_token"]] = answer["team"]["id"]
        return answer


def _client(args: dict[str, Any], request: web.Request) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        client_id, _, secret = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        return client_id, secret
    return args.get("client_id"), args.get("client_secret")


CONSENT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Slack (sandbox)</title></head>
<body style="font-family: sans-serif; max-width: 520px; margin: 10vh auto">
<h1>Ledgerline is requesting permission</h1><p>Scopes: <code>{scope}</code></p>
<form method="post">{hidden}<p><label>Workspace <select name="team">{teams}</select></label></p>
<button id="allow" name="decision" value="allow">Allow</button>
<button id="cancel" name="decision" value="cancel">Cancel</button></form></body></html>"""


def consent_routes(installs: Installs) -> list[web.RouteDef]:
    """Slack's consent page: Allow sends the browser back to the redirect URI with a code, Cancel with an error."""

    async def show(request: web.Request) -> web.Response:
        query = request.query
        hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                         for k, v in query.items() if k in ("client_id", "redirect_uri", "state", "scope"))
        teams = "".join(f'<option value="{escape(t)}">{escape(n)}</option>' for t, n in WORKSPACES.items())
        return web.Response(text=CONSENT_PAGE.format(scope=escape(query.get("scope", "")), hidden=hidden,
                                                     teams=teams), content_type="text/html")

    async def decide(request: web.Request) -> web.Response:
        form = await request.post()
        redirect_uri, state = str(form.get("redirect_uri", "")), str(form.get("state", ""))
        if not redirect_uri.startswith(("http://127.0.0.1", "http://localhost")):
            raise web.HTTPBadRequest(text="the sandbox only sends you back to a local bot")
        if form.get("decision") != "allow":
            raise web.HTTPFound(f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}")
        code = installs.grant(str(form.get("team", TEAM["id"])), scope=str(form.get("scope", "")))
        raise web.HTTPFound(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

    return [web.get("/oauth/v2/authorize", show), web.post("/oauth/v2/authorize", decide)]
