"""A stand-in for Forecast's REST API (v1), for demos and end-to-end tests.

Serves the documented paths relative to its own root; the sandbox server mounts it at
`/forecast/api/v1`. Every API route wants the `X-FORECAST-API-KEY` header; errors are
`{"status", "message"}` like Forecast's. Created clients and expense items are kept in
`data_dir/forecast.json` (in memory when data_dir is None), and so are invoice payments and client
updates. `GET /` is an HTML overview.
"""

from __future__ import annotations

import argparse
import copy
import hmac
import html
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiohttp import web

from sandbox.forecast_demo import PERSON_ID, PERSONS, demo_state

API_KEY_HEADER = "X-FORECAST-API-KEY"
DEFAULT_API_KEY = "sandbox-forecast-key"
CLIENT_FIELDS = ("name", "street", "zip", "city", "country", "vat_number", "notes")
EXPENSE_FIELDS = ("name", "expense_date", "cost", "price", "quantity", "approved", "billable", "notes",
                  "person_id", "expense_category", "phase_id", "part_of_fixed_price")
FIXED_PRICE_BUDGETS = {"FIXED_PRICE", "RETAINER"}


class ForecastStore:
    """The stand-in's company data; written to `forecast.json` after every change when it has a home."""

    def __init__(self, data_dir: Path | None):
        self.path = Path(data_dir) / "forecast.json" if data_dir else None
        if self.path and self.path.exists():
            self.data: dict[str, list[dict[str, Any]]] = json.loads(self.path.read_text("utf-8"))
        else:
            self.data = demo_state()
        self.data.setdefault("persons", copy.deepcopy(PERSONS))  # saved before the stand-in had people

    def rows(self, kind: str) -> list[dict[str, Any]]:
        return self.data[kind]

    def find(self, kind: str, row_id: int) -> dict[str, Any] | None:
        return next((row for row in self.data[kind] if row["id"] == row_id), None)

    def add(self, kind: str, row: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        new_id = max((existing["id"] for existing in self.data[kind]), default=0) + 1
        stored = {"id": new_id, **row, "created_by": PERSON_ID, "updated_by": PERSON_ID,
                  "created_at": now, "updated_at": now}
        self.data[kind].append(stored)
        self.save()
        return stored

    def save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_suffix(".json.tmp")
        scratch.write_text(json.dumps(self.data, indent=2, ensure_ascii=False), "utf-8")
        os.replace(scratch, self.path)


FORECAST_STORE = web.AppKey("forecast_store", ForecastStore)


# Responses ----------------------------------------------------------------------


class ForecastHttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"status": status, "message": message}, status=status)


def _not_found(what: str, row_id: int) -> ForecastHttpError:
    return ForecastHttpError(404, f"{what} with id {row_id} does not exist")


def _store(request: web.Request) -> ForecastStore:
    return request.app[FORECAST_STORE]


def _id(request: web.Request, name: str = "id") -> int:
    return int(request.match_info[name])


def _without(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in keys}


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ForecastHttpError(415, "Content-Type must be application/json")
    try:
        body = await request.json()
    except ValueError:
        raise ForecastHttpError(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ForecastHttpError(400, "The request body must be a JSON object")
    return body


def _key_middleware(api_key: str):
    @web.middleware
    async def middleware(request: web.Request, handler):
        is_page = request.method == "POST" and request.path.endswith("/page-action")  # the overview's buttons
        is_overview = (request.method == "GET" and request.match_info.route.name == "overview") or is_page
        sent = request.headers.get(API_KEY_HEADER, "")
        if not is_overview and not hmac.compare_digest(sent.encode(), api_key.encode()):
            return _error(401, "Server failed to authenticate the request.")
        try:
            return await handler(request)
        except ForecastHttpError as exc:
            return _error(exc.status, exc.message)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return _error(exc.status, exc.reason)
            raise

    return middleware


# Company ------------------------------------------------------------------------

DEMO_COMPANY = {"name": "Sandbox Agency Ltd", "street": "1 Demo Street", "zip": "EC1A 1AA", "city": "London",
                "country": "United Kingdom", "vat_number": None, "currency": "GBP", "monday": 450, "tuesday": 450,
                "wednesday": 450, "thursday": 450, "friday": 450, "saturday": 0, "sunday": 0,
                "timezone": "Europe/London"}


async def get_company(request: web.Request) -> web.Response:
    return web.json_response(DEMO_COMPANY)


# Clients ------------------------------------------------------------------------


async def list_clients(request: web.Request) -> web.Response:
    return web.json_response(_store(request).rows("clients"))


async def get_client(request: web.Request) -> web.Response:
    client = _store(request).find("clients", _id(request))
    if client is None:
        raise _not_found("Client", _id(request))
    return web.json_response(client)


async def create_client(request: web.Request) -> web.Response:
    body = await _json_body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ForecastHttpError(400, "name is required")
    fields = {field: body.get(field) for field in CLIENT_FIELDS}
    fields["name"] = name.strip()
    return web.json_response(_store(request).add("clients", fields), status=201)


async def update_client(request: web.Request) -> web.Response:
    client = _store(request).find("clients", _id(request))
    if client is None:
        raise _not_found("Client", _id(request))
    body = await _json_body(request)
    if "name" in body and not (isinstance(body["name"], str) and body["name"].strip()):
        raise ForecastHttpError(400, "name cannot be empty")
    client.update({field: body[field] for field in CLIENT_FIELDS if field in body})
    client["updated_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    _store(request).save()
    return web.json_response(client)


# Projects -----------------------------------------------------------------------


def _project(request: web.Request, name: str = "id") -> dict[str, Any]:
    project = _store(request).find("projects", _id(request, name))
    if project is None:
        raise _not_found("Project", _id(request, name))
    return project


async def list_projects(request: web.Request) -> web.Response:
    return web.json_response(_store(request).rows("projects"))


async def get_project(request: web.Request) -> web.Response:
    return web.json_response(_project(request))


# Invoices -----------------------------------------------------------------------


async def list_invoices(request: web.Request) -> web.Response:
    return web.json_response(_store(request).rows("invoices"))


async def list_invoices_with_status(request: web.Request) -> web.Response:
    status = request.match_info["status"].upper()
    if status not in {"DRAFT", "APPROVED", "SENT"}:
        raise ForecastHttpError(400, "invoiceStatus must be DRAFT, APPROVED or SENT")
    return web.json_response([row for row in _store(request).rows("invoices") if row["status"] == status])


async def get_invoice(request: web.Request) -> web.Response:
    invoice = _store(request).find("invoices", _id(request))
    if invoice is None:
        raise _not_found("Invoice", _id(request))
    return web.json_response(invoice)


async def list_project_invoices(request: web.Request) -> web.Response:
    project = _project(request)
    invoices = _store(request).rows("invoices")
    return web.json_response([row for row in invoices if row["project_id"] == project["id"]])


INVOICE_STATUSES = ("DRAFT", "APPROVED", "SENT")


def _stamp(row: dict[str, Any], person_id: int) -> None:
    row["updated_by"] = person_id
    row["updated_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def update_invoice(request: web.Request) -> web.Response:
    """PUT /invoices/{id}: the fields given (here: status, name, notes, due_date) change."""
    store = _store(request)
    invoice = store.find("invoices", _id(request))
    if invoice is None:
        raise _not_found("Invoice", _id(request))
    body = await _json_body(request)
    if "status" in body and body["status"] not in INVOICE_STATUSES:
        raise ForecastHttpError(400, "status must be DRAFT, APPROVED or SENT")
    invoice.update({key: body[key] for key in ("status", "name", "notes", "due_date") if key in body})
    _stamp(invoice, PERSON_ID)
    store.save()
    return web.json_response(invoice)


async def delete_invoice(request: web.Request) -> web.Response:
    store = _store(request)
    invoice = store.find("invoices", _id(request))
    if invoice is None:
        raise _not_found("Invoice", _id(request))
    store.rows("invoices").remove(invoice)
    store.save()
    return web.Response(status=204)


async def page_invoice_action(request: web.Request) -> web.Response:
    """The overview page's buttons: approve, send, back to draft or delete an invoice, as a person of the company."""
    store = _store(request)
    invoice = store.find("invoices", _id(request))
    form = await request.post()
    if invoice is not None:
        action = str(form.get("action", ""))
        person = int(str(form.get("person") or PERSON_ID)) if str(form.get("person") or "").isdigit() else PERSON_ID
        if action == "delete":
            store.rows("invoices").remove(invoice)
        elif action.upper() in INVOICE_STATUSES:
            invoice["status"] = action.upper()
            _stamp(invoice, person)
        store.save()
    raise web.HTTPSeeOther(location=str(request.url.parent.parent.parent) + "/")


# People -------------------------------------------------------------------------


async def get_person(request: web.Request) -> web.Response:
    person = _store(request).find("persons", _id(request))
    if person is None:
        raise _not_found("Person", _id(request))
    return web.json_response(person)


# Invoice payments ---------------------------------------------------------------


def _payment(store: ForecastStore, payment_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    for invoice in store.rows("invoices"):
        for payment in invoice.setdefault("payments", []):
            if payment["id"] == payment_id:
                return invoice, payment
    raise _not_found("Invoice payment", payment_id)


def _payment_fields(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    fields = {key: body[key] for key in ("notes", "amount", "date") if key in body}
    amount = fields.get("amount")
    if (not partial or "amount" in fields) and (isinstance(amount, bool) or not isinstance(amount, (int, float))):
        raise ForecastHttpError(400, "amount must be a number")
    if "date" in fields:
        try:
            datetime.strptime(str(fields["date"]), "%Y-%m-%d")
        except ValueError:
            raise ForecastHttpError(400, "date must be YYYY-MM-DD") from None
    return fields


async def create_invoice_payment(request: web.Request) -> web.Response:
    store = _store(request)
    invoice = store.find("invoices", _id(request))
    if invoice is None:
        raise _not_found("Invoice", _id(request))
    fields = _payment_fields(await _json_body(request), partial=False)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    new_id = max((p["id"] for i in store.rows("invoices") for p in i.get("payments") or []), default=0) + 1
    payment = {"id": new_id, "invoice_id": invoice["id"], "notes": fields.get("notes"), "amount": fields["amount"],
               "date": fields.get("date"), "created_by": PERSON_ID, "created_at": now}
    invoice.setdefault("payments", []).append(payment)
    store.save()
    return web.json_response(payment, status=201)


async def update_invoice_payment(request: web.Request) -> web.Response:
    store = _store(request)
    _, payment = _payment(store, _id(request))
    payment.update(_payment_fields(await _json_body(request), partial=True))
    store.save()
    return web.json_response(payment)


async def delete_invoice_payment(request: web.Request) -> web.Response:
    store = _store(request)
    invoice, payment = _payment(store, _id(request))
    invoice["payments"].remove(payment)
    store.save()
    return web.Response(status=204)


# Expenses -----------------------------------------------------------------------


async def list_expense_categories(request: web.Request) -> web.Response:
    return web.json_response(_store(request).rows("expense_categories"))


async def get_expense_category(request: web.Request) -> web.Response:
    category = _store(request).find("expense_categories", _id(request))
    if category is None:
        raise _not_found("Expense category", _id(request))
    return web.json_response(category)


async def list_expense_items(request: web.Request) -> web.Response:
    return web.json_response(_store(request).rows("expense_items"))


async def get_expense_item(request: web.Request) -> web.Response:
    item = _store(request).find("expense_items", _id(request))
    if item is None:
        raise _not_found("Expense item", _id(request))
    return web.json_response(item)


async def list_project_expense_items(request: web.Request) -> web.Response:
    project = _project(request)
    items = [row for row in _store(request).rows("expense_items") if row["project_id"] == project["id"]]
    # The project-scoped endpoints leave project_id out, as documented.
    return web.json_response([_without(row, "project_id") for row in items])


async def get_project_expense_item(request: web.Request) -> web.Response:
    project = _project(request, "project_id")
    item = _store(request).find("expense_items", _id(request))
    if item is None or item["project_id"] != project["id"]:
        raise _not_found("Expense item", _id(request))
    return web.json_response(_without(item, "project_id"))


def _validated_expense(store: ForecastStore, project: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ForecastHttpError(400, "name is required")
    if not isinstance(body.get("cost"), (int, float)) or isinstance(body.get("cost"), bool):
        raise ForecastHttpError(400, "cost is required and must be a number")
    category_id = body.get("expense_category")
    if not isinstance(category_id, int) or store.find("expense_categories", category_id) is None:
        raise ForecastHttpError(400, f"expense_category {category_id} does not exist")
    billable_project = project.get("budget_type") != "NON_BILLABLE"
    if body.get("billable") and not billable_project:
        raise ForecastHttpError(400, "billable cannot be true on a non-billable project")
    if body.get("part_of_fixed_price") is not None and project.get("budget_type") not in FIXED_PRICE_BUDGETS:
        raise ForecastHttpError(400, "part_of_fixed_price can only be set on fixed price and retainer projects")
    item = {field: body.get(field) for field in EXPENSE_FIELDS}
    item.update(
        name=name.strip(),
        quantity=body.get("quantity") if body.get("quantity") is not None else 1,
        approved=bool(body.get("approved", False)),
        billable=bool(body.get("billable", billable_project)),
    )
    return item


async def create_project_expense_item(request: web.Request) -> web.Response:
    project = _project(request)
    body = await _json_body(request)
    store = _store(request)
    item = _validated_expense(store, project, body)
    created = store.add("expense_items", {"project_id": project["id"], **item})
    return web.json_response(_without(created, "project_id"), status=201)


# Overview page ------------------------------------------------------------------


def _table(title: str, headings: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headings)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if cell is None else str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _invoice_total(invoice: dict[str, Any]) -> str:
    total = 0.0
    for entry in invoice["entries"]:
        net = entry["quantity"] * entry["unit_price"] * (1 - (entry.get("discount") or 0) / 100)
        total += net * (1 + (entry.get("tax") or 0) / 100)
    return f"{total:,.2f}"


def _invoice_table(store: ForecastStore, clients: dict[Any, Any]) -> str:
    """The invoices, each with buttons that do what Forecast's invoice page does: approve, send, draft, delete."""
    people = "".join(f'<option value="{p["id"]}">{html.escape(p["first_name"] + " " + p["last_name"])}</option>'
                     for p in store.rows("persons"))
    rows = []
    for i in store.rows("invoices"):
        reference = i["invoice_reference"] or f"INV-{i['company_invoice_id']}"
        cells = [i["id"], reference, clients.get(i["client_id"]), i["currency"], i["status"], i["due_date"],
                 len(i["entries"]), _invoice_total(i)]
        buttons = "".join(f'<button name="action" value="{value}">{label}</button>' for value, label in
                          (("approved", "Approve"), ("sent", "Send"), ("draft", "Back to draft"),
                           ("delete", "Delete")))
        form = (f'<form method="post" action="invoices/{i["id"]}/page-action" class="invoice-actions" '
                f'data-reference="{html.escape(reference)}"><select name="person" aria-label="as">{people}</select>'
                f'{buttons}</form>')
        rows.append("<tr>" + "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in cells)
                    + f"<td>{form}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("id", "reference", "client", "currency", "status", "due", "lines",
                                             "total", "in Forecast"))
    return f"<h2>Invoices</h2><table><tr>{head}</tr>{''.join(rows)}</table>"


async def overview(request: web.Request) -> web.Response:
    store = _store(request)
    clients = {row["id"]: row["name"] for row in store.rows("clients")}
    projects = {row["id"]: row["name"] for row in store.rows("projects")}
    categories = {row["id"]: row["name"] for row in store.rows("expense_categories")}
    sections = [
        _table("Clients", ["id", "name", "address", "country", "VAT number"], [
            [c["id"], c["name"], ", ".join(filter(None, [c.get("street"), c.get("zip"), c.get("city")])),
             c.get("country"), c.get("vat_number")]
            for c in store.rows("clients")
        ]),
        _table("Projects", ["id", "name", "client", "stage", "budget type"], [
            [p["id"], p["name"], clients.get(p.get("client")), p.get("stage"), p.get("budget_type")]
            for p in store.rows("projects")
        ]),
        _invoice_table(store, clients),
        _table("Invoice payments", ["id", "invoice", "date", "amount", "notes"], [
            [p["id"], i["invoice_reference"] or f"INV-{i['company_invoice_id']}", p.get("date"), p.get("amount"),
             p.get("notes")]
            for i in store.rows("invoices") for p in i.get("payments") or []
        ]),
        _table("Expense items", ["id", "project", "name", "category", "date", "cost", "price", "quantity"], [
            [e["id"], projects.get(e["project_id"]), e["name"], categories.get(e.get("expense_category")),
             e.get("expense_date"), e.get("cost"), e.get("price"), e.get("quantity")]
            for e in store.rows("expense_items")
        ]),
    ]
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Forecast sandbox</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse;margin-bottom:1.5rem}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}th{{background:#f4f4f4}}</style></head>
<body><h1>Forecast sandbox</h1>
<p>A stand-in for the Forecast REST API (v1). API calls under this address need the
<code>{API_KEY_HEADER}</code> header set to the sandbox key.</p>
{''.join(sections)}</body></html>"""
    return web.Response(text=page, content_type="text/html")


# App ----------------------------------------------------------------------------


def create_forecast_app(data_dir: Path | None, *, api_key: str = DEFAULT_API_KEY) -> web.Application:
    app = web.Application(middlewares=[_key_middleware(api_key)])
    app[FORECAST_STORE] = ForecastStore(data_dir)
    number = r"{id:\d+}"
    app.router.add_get("/", overview, name="overview")
    app.router.add_get("/company", get_company)
    app.router.add_get("/clients", list_clients)
    app.router.add_post("/clients", create_client)
    app.router.add_get(f"/clients/{number}", get_client)
    app.router.add_put(f"/clients/{number}", update_client)
    app.router.add_get("/projects", list_projects)
    app.router.add_get(f"/projects/{number}", get_project)
    app.router.add_get(f"/projects/{number}/invoices", list_project_invoices)
    app.router.add_get(f"/projects/{number}/expense_items", list_project_expense_items)
    app.router.add_post(f"/projects/{number}/expense_items", create_project_expense_item)
    app.router.add_get(r"/projects/{project_id:\d+}/expense_items/{id:\d+}", get_project_expense_item)
    app.router.add_get("/invoices", list_invoices)
    app.router.add_get("/invoices/status/{status}", list_invoices_with_status)
    app.router.add_get(f"/invoices/{number}", get_invoice)
    app.router.add_put(f"/invoices/{number}", update_invoice)
    app.router.add_delete(f"/invoices/{number}", delete_invoice)
    app.router.add_post(f"/invoices/{number}/page-action", page_invoice_action, name="page_invoice_action")
    app.router.add_get(f"/persons/{number}", get_person)
    app.router.add_post(f"/invoices/{number}/invoice_payments", create_invoice_payment)
    app.router.add_put(f"/invoice_payments/{number}", update_invoice_payment)
    app.router.add_delete(f"/invoice_payments/{number}", delete_invoice_payment)
    app.router.add_get("/expense_categories", list_expense_categories)
    app.router.add_get(f"/expense_categories/{number}", get_expense_category)
    app.router.add_get("/expense_items", list_expense_items)
    app.router.add_get(f"/expense_items/{number}", get_expense_item)
    return app


def main() -> None:
    """Run the stand-in alone: `python -m sandbox.forecast --port 8090` serves it at /api/v1."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    root = web.Application()
    root.add_subapp("/api/v1", create_forecast_app(args.data_dir))
    web.run_app(root, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
