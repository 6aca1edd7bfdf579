"""A local stand-in for Slack's Web API and response_url endpoints, recording every call.

slack_sdk's AsyncWebClient is pointed at it with `base_url`, as bolt-python's own tests do.
Tests wait on `wait_for(...)`, which wakes on each recorded call: no sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.test_utils import TestServer

TEAM_ID = "T0TEST"
BOT_TOKEN = "xoxb-test-bot-token-0000"


@dataclass
class Call:
    method: str
    args: dict

    def __getitem__(self, key):
        return self.args[key]

    def get(self, key, default=None):
        return self.args.get(key, default)


@dataclass
class FakeSlack:
    users: dict[str, dict] = field(default_factory=lambda: {
        "U0ADMIN": {"id": "U0ADMIN", "name": "ada", "is_admin": True, "is_owner": True},
        "U0APPROVER": {"id": "U0APPROVER", "name": "grace", "is_admin": True},
        "U0MEMBER": {"id": "U0MEMBER", "name": "max", "is_admin": False},
        "U0BOT": {"id": "U0BOT", "name": "xero", "is_admin": False, "is_bot": True},
    })
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    channels: set[str] = field(default_factory=lambda: {"C0GENERAL", "C0APPROVALS", "C0ALERTS"})
    not_joined: set[str] = field(default_factory=set)  # channels that exist but the bot is not in
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)  # method -> next answers
    server: TestServer | None = None
    _changed: asyncio.Condition | None = None
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _views: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def api_url(self) -> str:
        return str(self.server.make_url("/api/"))

    def response_url(self, name: str = "cmd") -> str:
        return str(self.server.make_url(f"/response/{name}"))

    async def start(self) -> FakeSlack:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server:
            await self.server.close()

    # Waiting and reading -----------------------------------------------------------
    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, predicate=lambda call: True, timeout: float = 10.0) -> Call:
        async def found():
            async with self._changed:
                while True:
                    for call in self.calls:
                        if call.method == method and predicate(call):
                            return call
                    await self._changed.wait()

        return await asyncio.wait_for(found(), timeout)

    async def _record(self, method: str, args: dict) -> None:
        async with self._changed:
            self.calls.append(Call(method, args))
            self._changed.notify_all()

    # Handlers ----------------------------------------------------------------------
    async def _response(self, request: web.Request) -> web.Response:
        await self._record("response_url", {"name": request.match_info["name"], **await request.json()})
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        args = await _read_args(request)
        await self._record(method, args)
        if self.failures.get(method):
            status, body = self.failures[method].pop(0)
            return web.json_response(body, status=status, headers={"Retry-After": "0"} if status == 429 else None)
        return web.json_response(self._answer(method, args))

    def fail_next(self, method: str, error: str | None = None, *, status: int = 200) -> None:
        """The next call of `method` fails: Slack's `{"ok": false, "error": ...}`, or an HTTP status."""
        self.failures.setdefault(method, []).append((status, {"ok": False, "error": error or f"http_{status}"}))

    def _answer(self, method: str, args: dict) -> dict:
        if method == "auth.test":
            return {"ok": True, "team_id": TEAM_ID, "user_id": "U0BOT", "bot_id": "B0BOT", "team": "Test"}
        if method == "users.info":
            user = self.users.get(args.get("user"))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "usergroups.list":
            return {"ok": True, "usergroups": [{"id": gid, "name": f"{gid} team", "handle": gid.lower()}
                                               for gid in self.usergroups]}
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.usergroups.get(args.get("usergroup"), [])}
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            channel = args.get("channel", "")
            if channel in self.not_joined:
                return {"ok": False, "error": "not_in_channel"}
            if not (channel in self.channels or channel.startswith(("U", "D"))):
                return {"ok": False, "error": "channel_not_found"}
            ts = args.get("ts") or f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": channel, "ts": ts, "message_ts": ts}
        if method == "views.publish":
            view = args.get("view") or {}
            return {"ok": True, "view": {**view, "id": f"VHOME{args.get('user_id')}", "hash": "h"}}
        if method == "chat.getPermalink":
            return {"ok": True, "channel": args.get("channel"),
                    "permalink": f"https://test.slack.com/archives/{args.get('channel')}/p{args.get('message_ts')}"}
        if method in ("views.open", "views.update", "views.push"):
            view = args.get("view") or {}
            view_id = args.get("view_id") or f"V{next(self._views):05d}"
            return {"ok": True, "view": {**view, "id": view_id, "hash": "h"}}
        if method == "conversations.info":
            channel = args.get("channel")
            if channel in self.channels:
                return {"ok": True, "channel": {"id": channel, "name": channel.lower(),
                                                "is_member": channel not in self.not_joined}}
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True}


async def _read_args(request: web.Request) -> dict:
    raw = await request.text()
    if request.method == "GET":
        args = dict(request.query)
    elif request.content_type == "application/json":
        args = json.loads(raw or "{}")
    else:
        args = dict(parse_qsl(raw))
    for key in ("blocks", "view", "attachments"):
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                pass
    return args
