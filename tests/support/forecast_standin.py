"""The sandbox's Forecast company answering through aioresponses: the one Forecast double of the tests.

Every call to `FORECAST_API` goes to the sandbox's own aiohttp handlers (sandbox/forecast.py), key check
and `{"status", "message"}` errors included, over a company held in memory: the sandbox's demo company
unless a test says what Forecast holds.

- Setting up: `ForecastStandIn(key=...).install(mocked)`; `holding(invoices=..., clients=..., projects=...,
  expense_categories=..., expense_items=...)` replaces those records with exactly what a test gives, and
  `delete(kind, id)` removes one as someone in Forecast would;
  `use_key` makes Forecast accept another key only (the one the bot has is then refused with a 401).
- Failures and timing: `fail_next` (the next matching call: a status and Forecast's message, with headers such
  as Retry-After, or an HTML page, or an exception such as TimeoutError), `refuse` (any call, by a function),
  `before` (holds a call, async), `whole_payment_amounts` (Forecast keeps a payment's amount without its cents).
- What the bot sent and what Forecast holds: `calls`, `sent(method, path)`, `bodies(method, path)`,
  `invoice(id)`, `payments(invoice_id)`, `client(id)`, `clients()`, `expense_items(project_id)`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aioresponses import CallbackResult
from yarl import URL

from sandbox.forecast import FORECAST_STORE, ForecastStore, create_forecast_app
from tests.support import in_process
from tests.support.harness import FORECAST_API

FORECAST_KEY = "fc-key-very-secret-123"
_PATTERN = re.compile(r"^" + re.escape(FORECAST_API) + r"(?P<path>/[^?]*)?(?:\?.*)?$")
_KINDS = ("invoices", "clients", "projects", "expense_categories", "expense_items")


class Call(in_process.Call):
    @property
    def path(self) -> str:
        """The path under the API's root, without the query: "/invoices/101"."""
        return _PATTERN.match(self.url).group("path") or "/"


@dataclass
class Failure:
    """An answer Forecast gives instead of the sandbox's (see `ForecastStandIn.fail_next`)."""

    status: int
    message: str = "Failed"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # a page that is not Forecast's JSON error (a proxy's HTML)
    exception: BaseException | None = None  # raised instead of answering (a timeout)

    def result(self) -> CallbackResult:
        if self.exception is not None:
            raise self.exception
        if self.body is not None:
            return CallbackResult(status=self.status, body=self.body, headers=self.headers, content_type="text/html")
        return CallbackResult(status=self.status, payload={"status": self.status, "message": self.message},
                              headers=self.headers)


@dataclass
class ForecastStandIn:
    key: str = FORECAST_KEY
    store: ForecastStore = field(default_factory=lambda: ForecastStore(None))
    calls: list[Call] = field(default_factory=list)
    refuse: Callable[[Call], tuple[int, str] | None] | None = None  # (status, Forecast's message) instead
    before: Callable[[Call], Awaitable[None]] | None = None
    scripted: list[tuple[str, str, Failure]] = field(default_factory=list)  # see fail_next
    whole_payment_amounts: bool = False  # Forecast keeping only whole amounts, as one part of its docs says

    def __post_init__(self) -> None:
        self.use_key(self.key)

    def install(self, mocked) -> ForecastStandIn:
        for method in ("get", "put", "post", "delete"):
            getattr(mocked, method)(_PATTERN, callback=self._callback(method.upper()), repeat=True)
        return self

    def use_key(self, key: str) -> None:
        """Forecast accepts this API key only from now on."""
        self.key = key
        self.app = create_forecast_app(None, api_key=key)
        self.app[FORECAST_STORE] = self.store

    # Setting up --------------------------------------------------------------------------------------
    def holding(self, *, invoices: Iterable[dict] | None = None, clients: Iterable[dict] | None = None,
                projects: Iterable[dict] | None = None, expense_categories: Iterable[dict] | None = None,
                expense_items: Iterable[dict] | None = None) -> ForecastStandIn:
        """Forecast holds exactly these records of each kind given (copied); the other kinds stay the demo's."""
        given = dict(zip(_KINDS, (invoices, clients, projects, expense_categories, expense_items), strict=True))
        for kind, rows in given.items():
            if rows is not None:
                self.store.data[kind] = [copy.deepcopy(row) for row in rows]
        for invoice in self.store.rows("invoices"):
            invoice.setdefault("payments", [])
        return self

    def delete(self, kind: str, row_id: int) -> None:
        """Someone deletes this record in Forecast ("projects", 12): reading it is then a 404."""
        self.store.data[kind].remove(self._found(kind, row_id))

    def fail_next(self, method: str, path: str, status: int = 500, message: str = "Failed", *,
                  headers: dict[str, str] | None = None, body: str | None = None,
                  exception: BaseException | None = None) -> None:
        """The next `method` call to `path` ("/invoices") is answered with this Forecast error instead."""
        self.scripted.append((method, path, Failure(status, message, headers or {}, body, exception)))

    # What Forecast holds and what the bot sent ----------------------------------------------------------
    def invoice(self, invoice_id: int) -> dict:
        return self._found("invoices", invoice_id)

    def payments(self, invoice_id: int) -> list[dict]:
        return list(self.invoice(invoice_id).get("payments") or [])

    def client(self, client_id: int) -> dict:
        return self._found("clients", client_id)

    def clients(self) -> list[dict]:
        return list(self.store.rows("clients"))

    def expense_items(self, project_id: int) -> list[dict]:
        return [row for row in self.store.rows("expense_items") if row["project_id"] == project_id]

    def sent(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def bodies(self, method: str, path: str) -> list[Any]:
        return [c.json for c in self.sent(method, path)]

    def _found(self, kind: str, row_id: int) -> dict:
        row = self.store.find(kind, row_id)
        assert row is not None, f"Forecast holds no {kind} {row_id}"
        return row

    # Answering ----------------------------------------------------------------------------------------
    def _callback(self, method: str):
        async def callback(url, **kwargs):
            headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
            sent = kwargs.get("json")
            body = json.dumps(sent).encode() if sent is not None else kwargs.get("data")
            call = Call(method, str(url), headers, body)
            self.calls.append(call)
            if self.before is not None:
                await self.before(call)
            scripted = self._scripted(call)
            if scripted is not None:
                return scripted.result()
            refused = self.refuse(call) if self.refuse is not None else None
            if refused is not None:
                return Failure(*refused).result()
            response = await self._answer(call, URL(str(url)))
            return CallbackResult(status=response.status, body=response.body or b"",
                                  content_type=response.content_type)
        return callback

    def _scripted(self, call: Call) -> Failure | None:
        for script in self.scripted:
            if script[0] == call.method and script[1] == call.path:
                self.scripted.remove(script)
                return script[2]
        return None

    async def _answer(self, call: Call, url: URL) -> web.Response:
        """The sandbox app's own routing, key middleware and handler, called in process."""
        target = str(URL.build(path=call.path, query=url.query))
        return await in_process.answer(self.app, call.method, target, call.headers, self._as_stored(call))

    def _as_stored(self, call: Call) -> bytes | None:
        if not (self.whole_payment_amounts and call.method == "POST" and call.path.endswith("/invoice_payments")):
            return call.body
        sent = dict(call.json)
        if isinstance(sent.get("amount"), (int, float)):
            sent["amount"] = int(sent["amount"])
        return json.dumps(sent).encode()
