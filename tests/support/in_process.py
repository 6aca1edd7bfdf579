"""A sandbox aiohttp app answering one request in process: its own routing, middlewares and handlers, without
a server. The test adapters (forecast_standin.py, xero_identity.py) call it from aioresponses callbacks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict


@dataclass
class Call:
    """One request an adapter answered (each adapter adds what its tests read: path, resource, tenant)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    answer: tuple[int, bytes] = (0, b"")

    def __iter__(self):
        """Unpacks as (method, url, headers, body)."""
        return iter((self.method, self.url, self.headers, self.body))

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _Body:
    """A request body the handlers read as aiohttp would give it to them."""

    def __init__(self, data: bytes):
        self._chunks = [data, b""] if data else [b""]

    async def readany(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


async def answer(app: web.Application, method: str, path_qs: str, headers: dict[str, str],
                 body: bytes | None) -> web.Response:
    """The app's answer to `method path_qs`; an unknown path or method is answered as aiohttp would (404/405),
    as `{"status", "message"}`."""

    def request(match_info=None) -> web.Request:
        extra = {} if match_info is None else {"match_info": match_info}
        return make_mocked_request(method, path_qs, headers=CIMultiDict(headers), app=app,
                                   payload=_Body(body or b""), **extra)

    match = await app.router.resolve(request())
    if match.http_exception is not None:
        status = match.http_exception.status
        return web.json_response({"status": status, "message": match.http_exception.reason}, status=status)
    handler = match.handler
    for middleware in reversed(app.middlewares):
        handler = _wrapped(middleware, handler)
    return await handler(request(dict(match)))


def _wrapped(middleware, handler):
    async def call(request: web.Request) -> web.StreamResponse:
        return await middleware(request, handler)
    return call
