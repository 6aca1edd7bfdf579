"""The Xero stand-in as an aiohttp application (mounted at /xero in the sandbox server)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from . import accounting, actions, oauth, pages
from .dates import iso_utc_micro
from .keys import PUBLIC_BASE_URL, SPEC_CHECKER, WEBHOOKS, XERO_STATE
from .spec_check import SpecChecker, default_contracts_dir
from .state import ApiCall, Clock, Fault, FaultKind, RateLimiter, XeroState
from .webhooks import WebhookSender

log = logging.getLogger("sandbox.xero")

ACCOUNTING_PREFIX = "/api/api.xro/2.0"
AUTO = "auto"
MAX_IDEMPOTENCY_KEY = 128


def create_xero_app(
    data_dir: Path | None,
    *,
    client_id: str = "sandbox-client",
    client_secret: str = "sandbox-secret",
    public_base_url: str,
    clock: Clock | None = None,
    many_contacts: int = 0,
    contracts_dir: Path | str | None = AUTO,
    redirect_uris: list[str] | None = None,
    require_pkce: bool = True,
    webhook_url: str | None = None,
    webhook_key: str | None = None,
    time_scale: float = 1.0,
) -> web.Application:
    """`public_base_url` is where this app is reachable, e.g. http://127.0.0.1:3001/xero.

    `webhook_url`/`webhook_key`: where bookkeeping changes are sent as signed webhooks (None: not sent).

    `time_scale`: Xero's rate limits (60 a minute, 5 at once, 5,000 a day per organisation) with the minute
    and the day shortened by this factor (the bench uses it; 1 is real time).

    `contracts_dir`: folder holding xero_accounting.yaml; "auto" looks in $CONTRACTS_DIR/xero, else the
    repository's tests/contracts/xero; None switches the spec check off.
    """
    state = XeroState.open(
        data_dir, client_id=client_id, client_secret=client_secret, clock=clock, many_contacts=many_contacts,
        redirect_uris=redirect_uris, require_pkce=require_pkce,
    )
    if time_scale != 1:
        state.rate_limiter = RateLimiter(state.clock, time_scale=time_scale)
    app = web.Application()
    app[XERO_STATE] = state
    app[PUBLIC_BASE_URL] = public_base_url.rstrip("/")
    folder = default_contracts_dir() if contracts_dir == AUTO else (Path(contracts_dir) if contracts_dir else None)
    app[SPEC_CHECKER] = SpecChecker(folder) if folder is not None else None
    if folder is None:
        log.info("Xero sandbox: no Xero contracts folder found, requests are not checked against the spec")
    app[WEBHOOKS] = WebhookSender(webhook_url, webhook_key)
    app.cleanup_ctx.append(_check_intent_to_receive)
    app.router.add_get("/", pages.browse_page)
    actions.add_routes(app)
    app.router.add_get("/app/AccountsReceivable/View.aspx", pages.open_invoice)
    app.router.add_post("/faults", pages.fault_form)
    app.router.add_get("/identity/connect/authorize", oauth.authorize_page)
    app.router.add_post("/identity/connect/authorize", oauth.authorize_decision)
    app.router.add_post("/connect/token", oauth.token_endpoint)
    app.router.add_post("/connect/revocation", oauth.revocation_endpoint)
    app.router.add_get("/api/connections", list_connections)
    app.router.add_delete("/api/connections/{id}", delete_connection)
    app.router.add_route("*", ACCOUNTING_PREFIX + "/{resource}", accounting_endpoint)
    app.router.add_route("*", ACCOUNTING_PREFIX + "/{resource}/{key:.+}", accounting_endpoint)
    return app


async def _check_intent_to_receive(app: web.Application):
    """As Xero does when a webhook is set up: in the background, so the bot may start after the stand-in."""
    check = asyncio.create_task(app[WEBHOOKS].check_intent_to_receive())
    yield
    check.cancel()
    await asyncio.gather(check, return_exceptions=True)


# Errors shaped like Xero's ---------------------------------------------------------------------
def unauthorized() -> web.Response:
    return web.json_response(
        {"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful",
         "Instance": None, "Extensions": {}}, status=401)


def forbidden() -> web.Response:
    return web.json_response(
        {"Type": None, "Title": "Forbidden", "Status": 403, "Detail": "AuthorizationUnsuccessful",
         "Instance": None, "Extensions": {}}, status=403)


def spec_violation(state: XeroState, where: str, violation: str) -> web.Response:
    log.error("XERO SANDBOX: request does not match Xero's OpenAPI spec: %s: %s", where, violation)
    state.spec_violations.append(f"{where}: {violation}")
    return web.json_response(
        {"ErrorNumber": 14, "Type": "PostDataInvalidException",
         "Message": f"Sandbox spec check: {where} does not match Xero's OpenAPI spec: {violation}"}, status=400)


def _bearer_grant(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    return request.app[XERO_STATE].grant_for_access_token(header[7:].strip())


# Identity ------------------------------------------------------------------------------------
def _connection_json(state: XeroState, connection: dict[str, Any]) -> dict[str, Any]:
    org = state.organisations[connection["tenantId"]]
    return {
        "id": connection["id"],
        "authEventId": connection["authEventId"],
        "tenantId": connection["tenantId"],
        "tenantType": "ORGANISATION",
        "tenantName": org["Name"],
        "createdDateUtc": iso_utc_micro(connection["created"]),
        "updatedDateUtc": iso_utc_micro(connection["updated"]),
    }


def _check_identity(request: web.Request, path: str) -> web.Response | None:
    checker: SpecChecker | None = request.app[SPEC_CHECKER]
    if checker is None:
        return None
    violation = checker.check_identity(request.method, path, request.query, request.headers)
    return spec_violation(request.app[XERO_STATE], f"{request.method} {path}", violation) if violation else None


async def list_connections(request: web.Request) -> web.Response:
    state: XeroState = request.app[XERO_STATE]
    auth_event_id = _bearer_grant(request)
    if auth_event_id is None:
        return unauthorized()
    refused = _check_identity(request, "/Connections")
    if refused:
        return refused
    wanted_event = request.query.get("authEventId")
    connections = [
        _connection_json(state, c) for c in state.connections_for(auth_event_id)
        if not wanted_event or c["authEventId"] == wanted_event
    ]
    return web.json_response(connections)


async def delete_connection(request: web.Request) -> web.Response:
    state: XeroState = request.app[XERO_STATE]
    auth_event_id = _bearer_grant(request)
    if auth_event_id is None:
        return unauthorized()
    connection_id = request.match_info["id"]
    refused = _check_identity(request, f"/Connections/{connection_id}")
    if refused:
        return refused
    connection = state.connections.get(connection_id)
    if connection is None or connection["authEventId"] != auth_event_id:
        return web.json_response({"Title": "Not Found", "Status": 404, "Detail": "Connection not found"},
                                 status=404)
    del state.connections[connection_id]
    state.save()
    return web.Response(status=204)


# Accounting ---------------------------------------------------------------------------------------
async def accounting_endpoint(request: web.Request) -> web.StreamResponse:
    state: XeroState = request.app[XERO_STATE]
    tenant_id = request.headers.get("xero-tenant-id")
    response = await _accounting(request, state, tenant_id)
    state.api_calls.append(ApiCall(state.clock(), request.method, request.path_qs, tenant_id, response.status))
    state.call_counts[(tenant_id, response.status)] += 1
    return response


async def _accounting(request: web.Request, state: XeroState, tenant_id: str | None) -> web.StreamResponse:
    auth_event_id = _bearer_grant(request)
    if auth_event_id is None:
        return unauthorized()
    if not tenant_id or tenant_id not in state.reachable_tenants(auth_event_id):
        return forbidden()
    resource = accounting.RESOURCE_NAMES.get(request.match_info["resource"].lower())
    if resource is None:
        return web.json_response(accounting.not_found()[1], status=404)
    handler = _handler_for(request.method, resource, request.match_info.get("key"))
    if handler is None:
        return web.json_response({"Title": "Method Not Allowed", "Status": 405,
                                  "Detail": f"{request.method} is not supported on {resource} by the sandbox"},
                                 status=405)
    if not _has_scope(state.scope_of(auth_event_id), request.method, resource):
        return forbidden()
    fault = state.take_fault(request.method, resource, tenant_id)
    if fault is not None and fault.kind is FaultKind.DISCONNECT:
        log.warning("Xero sandbox: injected fault disconnects the organisation %s", tenant_id)
        state.disconnect_tenant(tenant_id)
        return forbidden()
    decision = state.rate_limiter.acquire(tenant_id)
    if not decision.allowed:
        return _rate_limited(decision.problem or "minute", decision.retry_after, decision)
    try:
        body = await request.read()
        response = await _answer(request, state, tenant_id, resource, handler, body, fault)
    finally:
        state.rate_limiter.release(tenant_id)
    response.headers["X-MinLimit-Remaining"] = str(decision.minute_remaining)
    response.headers["X-DayLimit-Remaining"] = str(decision.day_remaining)
    response.headers["X-AppMinLimit-Remaining"] = "9999"
    return response


def _handler_for(method: str, resource: str, key: str | None):
    if method == "GET":
        return accounting.READERS.get(resource)
    if method in ("PUT", "POST") and key is None:
        return accounting.WRITERS.get(resource)
    if method in ("PUT", "POST") and key and "/" in key:
        return accounting.SUB_WRITERS.get(resource)
    return None


def _has_scope(granted: set[str], method: str, resource: str) -> bool:
    needed = accounting.READ_SCOPES[resource] if method == "GET" else accounting.WRITE_SCOPES[resource]
    return bool(granted & needed)


def _rate_limited(problem: str, retry_after: int, decision=None) -> web.Response:
    response = web.Response(status=429, text="Too many requests. Please wait before retrying.",
                            content_type="text/plain")
    response.headers["Retry-After"] = str(retry_after)
    response.headers["X-Rate-Limit-Problem"] = problem
    if decision is not None:
        response.headers["X-MinLimit-Remaining"] = str(decision.minute_remaining)
        response.headers["X-DayLimit-Remaining"] = str(decision.day_remaining)
    return response


async def _answer(request, state, tenant_id, resource, handler, body: bytes, fault: Fault | None):
    checker: SpecChecker | None = request.app[SPEC_CHECKER]
    key = request.match_info.get("key")
    if checker is not None:
        spec_path = _spec_path(resource, key)
        violation = checker.check_accounting(request.method, spec_path, request.query,
                                             request.headers, body, request.content_type)
        if violation:
            return spec_violation(state, f"{request.method} {spec_path}", violation)
    json_body = None
    if request.method in ("PUT", "POST"):
        try:
            json_body = json.loads(body or b"null")
        except ValueError:
            return web.json_response({"ErrorNumber": 14, "Type": "PostDataInvalidException",
                                      "Message": "The request body is not valid JSON"}, status=400)
    if fault is not None:
        return _fault_response(fault, resource, json_body, state)
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key and request.method in ("PUT", "POST") and resource in accounting.IDEMPOTENT_RESOURCES:
        if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            return web.json_response(accounting.validation_exception(
                [], "Idempotency-Key must be 128 characters or fewer"), status=400)
        remembered = state.idempotency.get(f"{tenant_id}|{idempotency_key}")
        if remembered is not None:
            return web.json_response(remembered["body"], status=remembered["status"])
    api_request = accounting.ApiRequest(
        request.method, resource, key, request.query, request.headers, json_body, state.org(tenant_id),
        state.clock(),
    )
    status, answer = handler(api_request)
    if request.method in ("PUT", "POST"):
        if idempotency_key and resource in accounting.IDEMPOTENT_RESOURCES:
            state.idempotency[f"{tenant_id}|{idempotency_key}"] = {"status": status, "body": answer}
        state.save()
    return web.json_response(answer, status=status)


def _spec_path(resource: str, key: str | None) -> str:
    """The sandbox path as the spec spells it (Xero accepts an ID or a number in the `{id}` slot)."""
    return f"/{resource}" + (f"/{key}" if key else "")


def _fault_response(fault: Fault, resource: str, json_body: Any, state: XeroState) -> web.Response:
    log.warning("Xero sandbox: answering with injected fault %s", fault.kind.value)
    if fault.kind is FaultKind.UNAVAILABLE:
        return web.Response(status=503, text="The Xero API is temporarily unavailable (sandbox fault).",
                            content_type="text/plain")
    if fault.kind is FaultKind.RATE_LIMITED:
        return _rate_limited(fault.problem, fault.retry_after)
    elements = accounting.submitted_elements(resource, json_body) or [{}]
    return web.json_response(accounting.validation_exception(
        [dict(e) | {"ValidationErrors": [{"Message": fault.message}]} for e in elements if isinstance(e, dict)]
    ), status=400)
