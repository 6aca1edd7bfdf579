"""The sandbox's Slack stand-in (sandbox/slack/webapi.py over a SlackState) on a local port, recording every call.

slack_sdk's AsyncWebClient is pointed at it with `base_url`, as bolt-python's own tests do. It answers as the
sandbox does (messages must exist to be updated, a trigger_id lasts 3 s, a response_url takes 5 posts), and
keeps what it answered in each recorded `Call`. Tests wait on `wait_for(...)`, which wakes on each recorded call.

What a test may add to the sandbox's fixed workspace: `users`, `usergroups`, `channels` (and `not_joined`), and
`fail_next` for one failing answer.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.slack.app import Workspace, bearer_token, read_api_args
from sandbox.slack.state import SlackState
from sandbox.slack.webapi import SlackApiFailure, WebApi, decode_json_strings

TEAM_ID = "T0TEST"
BOT_TOKEN = "xoxb-test-bot-token-0000"


@dataclass
class Call:
    method: str
    args: dict
    response: dict = field(default_factory=dict)  # what the stand-in answered
    token: str | None = None  # the bot token it was called with

    def __getitem__(self, key):
        return self.args[key]

    def get(self, key, default=None):
        return self.args.get(key, default)


@dataclass
class SlackStandIn:
    users: dict[str, dict] = field(default_factory=dict)  # more people than the sandbox's, for users.info
    usergroups: dict[str, list[str]] = field(default_factory=dict)  # more user groups: id -> member ids
    channels: set[str] = field(default_factory=set)  # more channels
    not_joined: set[str] = field(default_factory=set)  # channels that exist but the bot is not in
    tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN})  # bot tokens it accepts (one per workspace)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)  # method -> next answers
    state: SlackState = field(default_factory=lambda: SlackState(None))
    server: TestServer | None = None
    _changed: asyncio.Condition | None = None
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def api_url(self) -> str:
        return str(self.server.make_url("/api/"))

    def response_url(self, name: str = "cmd", *, channel: str = "C0GENERAL", user: str = "U0ADMIN",
                     message_ts: str | None = None) -> str:
        """A response_url as Slack issues one with a command or a click (the name is its token)."""
        self.state.response_urls[name] = {"channel": channel, "user": user, "message_ts": message_ts,
                                          "created": self.state.clock(), "uses": 0}
        return str(self.server.make_url(f"/response/{name}"))

    def trigger(self, trigger_id: str, user: str) -> str:
        """A trigger_id as Slack issues one with a command or an interaction: good for 3 seconds."""
        self.state.triggers[trigger_id] = {"user": user, "created": self.state.clock()}
        return trigger_id

    def view_hash(self, view_id: str) -> str | None:
        record = self.state.views.get(view_id)
        return record["view"]["hash"] if record else None

    async def start(self) -> SlackStandIn:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        self.api = WebApi(self.state, base_url=str(self.server.make_url("")).rstrip("/"))
        self.workspace = Workspace(self.state, None, public_base_url=str(self.server.make_url("")))
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

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def fail_next(self, method: str, error: str | None = None, *, status: int = 200) -> None:
        """The next call of `method` fails: Slack's `{"ok": false, "error": ...}`, or an HTTP status."""
        self.failures.setdefault(method, []).append((status, {"ok": False, "error": error or f"http_{status}"}))

    # Handlers ----------------------------------------------------------------------
    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        status, text = self.workspace.respond(request.match_info["name"], body if isinstance(body, dict) else {})
        await self._record(Call("response_url", {"name": request.match_info["name"], **body}, {"status": status}))
        return web.Response(status=status, text=text)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await read_api_args(request)
        token = bearer_token(request, args)
        if token not in self.tokens:
            refusal = {"ok": False, "error": "invalid_auth"}
            await self._record(Call(method, args, refusal, token))
            return web.json_response(refusal)
        args.pop("token", None)
        try:
            args = decode_json_strings(args)
        except SlackApiFailure:
            pass  # the stand-in answers invalid_arguments below; the call is recorded as sent
        if self.failures.get(method):
            status, body = self.failures[method].pop(0)
            await self._record(Call(method, args, body, token))
            return web.json_response(body, status=status, headers={"Retry-After": "0"} if status == 429 else None)
        answer = self._added(method, args) or self.api.call(method, args)
        await self._record(Call(method, args, answer, token))
        return web.json_response(answer)

    def _added(self, method: str, args: dict[str, Any]) -> dict | None:
        """Answers about what a test added to the sandbox's workspace; None to let the sandbox answer."""
        channel = str(args.get("channel", ""))
        if method == "users.info" and args.get("user") in self.users:
            return {"ok": True, "user": {"team_id": TEAM_ID, "deleted": False, "is_bot": False, "is_owner": False,
                                         **self.users[args["user"]]}}
        if method == "usergroups.list" and self.usergroups:
            answer = self.api.call(method, args)
            answer["usergroups"] += [{"id": gid, "name": f"{gid} team", "handle": gid.lower()}
                                     for gid in self.usergroups]
            return answer
        if method == "usergroups.users.list" and args.get("usergroup") in self.usergroups:
            return {"ok": True, "users": self.usergroups[args["usergroup"]]}
        if channel in self.not_joined and method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            return {"ok": False, "error": "not_in_channel"}
        if method == "conversations.info" and channel in self.channels:
            return {"ok": True, "channel": {"id": channel, "name": channel.lower(), "is_channel": True,
                                            "is_member": channel not in self.not_joined}}
        return None
