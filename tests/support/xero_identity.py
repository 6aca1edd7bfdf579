"""The sandbox's Xero identity service answering through aioresponses: the one double of Xero's OAuth.

The token endpoint (code exchange with PKCE, rotating refresh tokens with Xero's 30-minute grace), the
revocation endpoint and `GET`/`DELETE /connections` are the sandbox's own handlers (sandbox/xero/oauth.py,
sandbox/xero/app.py) over a `XeroState` holding the UK and US demo organisations under the tenant ids below.

- Setting up: `identity_for(mocked)` (one per aioresponses mock, installed on first use);
  `connect_organisations(bot, xero, tenants=(UK, US))` runs the whole consent through Slack and the callback;
  `consent(authorize_params, tenants)` is the admin allowing access on Xero's page (returns the code);
  `grant(expires_in=...)` is a token pair issued without the bot, for TokenService tests; `revoke_all` is the
  user revoking the app at Xero, `disconnect(tenant)` an organisation's admin removing it there.
- Failures: `fail_next(method, path, status, payload, exception=...)` answers the next matching call instead.
- What the bot sent and got: `calls`, `sent(method, path)`, `token_calls()`, `revocations()`, `issued`
  (every token answer, oldest first), `connections()`.
"""

from __future__ import annotations

import json
import re
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from aiohttp import web
from aioresponses import CallbackResult
from yarl import URL

from bot.config import DEFAULT_SCOPES
from sandbox.xero import app as sandbox_app
from sandbox.xero import oauth
from sandbox.xero.demo_data import build_organisations
from sandbox.xero.keys import SPEC_CHECKER, XERO_STATE
from sandbox.xero.state import XeroState
from tests.support import in_process
from tests.support.harness import XERO_API, XERO_TOKEN_URL

UK_CONNECTION = "3f6c2b1e-8d4a-4c7e-9b2a-1a2b3c4d5e01"
US_CONNECTION = "3f6c2b1e-8d4a-4c7e-9b2a-1a2b3c4d5e02"
NZ_CONNECTION = "3f6c2b1e-8d4a-4c7e-9b2a-1a2b3c4d5e03"
UK_TENANT = "b6f1c2d3-0000-4000-8000-00000000000a"
US_TENANT = "b6f1c2d3-0000-4000-8000-00000000000b"
NZ_TENANT = "b6f1c2d3-0000-4000-8000-00000000000c"
# The organisations an admin can pick on Xero's consent page: their connection ids once connected.
UK = {"id": UK_CONNECTION, "tenantId": UK_TENANT, "tenantName": "Demo Company (UK)"}
US = {"id": US_CONNECTION, "tenantId": US_TENANT, "tenantName": "Demo Company (US)"}
NZ = {"id": NZ_CONNECTION, "tenantId": NZ_TENANT, "tenantName": "Acme Holdings NZ"}
TENANTS = {"UK": UK_TENANT, "US": US_TENANT, "NZ": NZ_TENANT}  # the demo organisations, by their short name

IDENTITY_URL = XERO_TOKEN_URL.rsplit("/connect/", 1)[0]  # https://identity.xero.test
REVOCATION_URL = f"{IDENTITY_URL}/connect/revocation"
CLIENT_ID, CLIENT_SECRET = "test-client-id", "test-client-secret-0000"  # as in harness.test_settings
_CONNECTION = re.compile(r"^" + re.escape(XERO_API) + r"/connections/[^/?]+$")

_IDENTITIES: weakref.WeakKeyDictionary[Any, XeroIdentity] = weakref.WeakKeyDictionary()


class Call(in_process.Call):
    @property
    def path(self) -> str:
        """The path: /connect/token, /connect/revocation, /connections or /connections/{id}."""
        return URL(self.url).path

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs((self.body or b"").decode())


@dataclass
class XeroIdentity:
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    state: XeroState = field(init=False)
    calls: list[Call] = field(default_factory=list)
    issued: list[dict] = field(default_factory=list)  # every token answer (code exchange or refresh)
    scripted: list[tuple[str, str, int, Any, BaseException | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        organisations = {}
        for org in build_organisations(time.time()).values():
            tenant_id = TENANTS.get(org["Short"], org["TenantID"])
            organisations[tenant_id] = {**org, "TenantID": tenant_id}
        self.state = XeroState(None, time.time, self.client_id, self.client_secret, organisations=organisations)
        self.app = web.Application()
        self.app[XERO_STATE] = self.state
        self.app[SPEC_CHECKER] = None  # tests/contracts/test_bot_contracts.py checks the bot's identity calls
        self.app.router.add_post("/connect/token", oauth.token_endpoint)
        self.app.router.add_post("/connect/revocation", oauth.revocation_endpoint)
        self.app.router.add_get("/connections", sandbox_app.list_connections)
        self.app.router.add_delete("/connections/{id}", sandbox_app.delete_connection)

    def install(self, mocked) -> XeroIdentity:
        mocked.post(XERO_TOKEN_URL, callback=self._callback("POST"), repeat=True)
        mocked.post(REVOCATION_URL, callback=self._callback("POST"), repeat=True)
        mocked.get(f"{XERO_API}/connections", callback=self._callback("GET"), repeat=True)
        mocked.delete(_CONNECTION, callback=self._callback("DELETE"), repeat=True)
        return self

    # What people do at Xero -------------------------------------------------------------------------
    def consent(self, authorize_params: dict[str, str], tenants: Iterable[dict] = ()) -> str:
        """The admin allows access to `tenants` on Xero's consent page; returns the code Xero redirects with.
        A tenant connected before keeps its connection id, now under the new grant (one connection per tenant)."""
        auth_event_id = self.state.record_consent(authorize_params["scope"], [])
        for tenant in tenants:
            self._connect(tenant, auth_event_id)
        return self.state.issue_code(authorize_params["client_id"], authorize_params["redirect_uri"],
                                     authorize_params.get("code_challenge"),
                                     authorize_params.get("code_challenge_method"), auth_event_id)

    def grant(self, tenants: Iterable[dict] = (), *, expires_in: int = 1800, scope: str = DEFAULT_SCOPES) -> dict:
        """A token pair Xero issued (as from a consent the bot did not see), which the bot believes lasts
        `expires_in` seconds more."""
        auth_event_id = self.state.record_consent(scope, [])
        for tenant in tenants:
            self._connect(tenant, auth_event_id)
        answer = {**self.state.issue_tokens(auth_event_id), "expires_in": expires_in}
        self.issued.append(answer)
        return answer

    def disconnect(self, tenant: dict) -> None:
        """The organisation's admin removed the app at Xero: its connection is gone (a DELETE finds nothing)."""
        self.state.disconnect_tenant(tenant["tenantId"])

    def revoke_all(self) -> None:
        """The user revoked the app at Xero: refresh tokens answer invalid_grant, access tokens 401."""
        self.state.revoke_app_access()

    def fail_next(self, method: str, path: str, status: int = 500, payload: Any = None, *,
                  exception: BaseException | None = None) -> None:
        """The next `method` call to `path` ("/connect/token", "/connections") gets this answer instead."""
        self.scripted.append((method, path, status, payload, exception))

    # What the bot sent and what Xero holds ------------------------------------------------------------
    def sent(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def token_calls(self) -> list[Call]:
        return self.sent("POST", "/connect/token")

    def revocations(self) -> list[Call]:
        return self.sent("POST", "/connect/revocation")

    def connections(self) -> list[dict]:
        return list(self.state.connections.values())

    def _connect(self, tenant: dict, auth_event_id: str) -> None:
        for connection_id in [cid for cid, c in self.state.connections.items() if c["tenantId"] == tenant["tenantId"]]:
            del self.state.connections[connection_id]
        now = time.time()
        self.state.connections[tenant["id"]] = {"id": tenant["id"], "authEventId": auth_event_id,
                                                "tenantId": tenant["tenantId"], "created": now, "updated": now}

    # Answering --------------------------------------------------------------------------------------
    def _callback(self, method: str):
        async def callback(url, **kwargs):
            headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
            if kwargs.get("auth") is not None:
                headers["Authorization"] = kwargs["auth"].encode()
            data = kwargs.get("data")
            body = (data.encode() if isinstance(data, str) else urlencode(data).encode()
                    if isinstance(data, dict) else data)
            call = Call(method, str(url), headers, body)
            self.calls.append(call)
            scripted = self._scripted(call)
            if scripted is not None:
                status, payload, exception = scripted
                if exception is not None:
                    raise exception
                return CallbackResult(status=status, payload=payload)
            response = await in_process.answer(self.app, method, URL(str(url)).path_qs, headers, body)
            call.answer = (response.status, response.body or b"")
            if call.path == "/connect/token" and response.status == 200:
                self.issued.append(json.loads(response.body))
            return CallbackResult(status=response.status, body=response.body or b"",
                                  content_type=response.content_type)
        return callback

    def _scripted(self, call: Call) -> tuple[int, Any, BaseException | None] | None:
        for script in self.scripted:
            if script[0] == call.method and script[1] == call.path:
                self.scripted.remove(script)
                return script[2], script[3], script[4]
        return None


def identity_for(mocked) -> XeroIdentity:
    """The sandbox's identity service behind this aioresponses mock (installed on first use)."""
    if mocked not in _IDENTITIES:
        _IDENTITIES[mocked] = XeroIdentity().install(mocked)
    return _IDENTITIES[mocked]


def authorize_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


async def connect_organisations(bot, xero, tenants=(UK, US), user: str = "U0ADMIN", **team) -> None:
    """Runs the whole consent through Slack, Xero's consent page and the callback, as an admin would
    (`team="T0..."`: of that workspace)."""
    reply = await bot.ask("connect", user=user, **team)
    params = authorize_params(reply["blocks"][0]["accessory"]["url"])
    code = identity_for(xero).consent(params, tenants)
    response = await bot.client.get("/xero/callback", params={"code": code, "state": params["state"]})
    assert response.status == 200, await response.text()
