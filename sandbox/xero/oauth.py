"""Xero's login/consent page and token endpoint (authorization code + PKCE, rotating refresh tokens)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from . import pages
from .keys import XERO_STATE
from .state import XeroState

log = logging.getLogger("sandbox.xero")

KNOWN_SCOPES = {
    "openid", "profile", "email", "offline_access",
    "accounting.transactions", "accounting.transactions.read",
    "accounting.contacts", "accounting.contacts.read",
    "accounting.settings", "accounting.settings.read",
    "accounting.reports.read", "accounting.journals.read",
    "accounting.attachments", "accounting.attachments.read",
    "accounting.budgets.read",
    # Granular scopes for apps created from 2026 on.
    "accounting.invoices", "accounting.invoices.read",
    "accounting.payments", "accounting.payments.read",
    "accounting.banktransactions", "accounting.banktransactions.read",
    "accounting.manualjournals", "accounting.manualjournals.read",
}

REFRESH_GRACE_SECONDS = 30 * 60  # Xero accepts the previous refresh token this long after a rotation

AUTHORIZE_FIELDS = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
)


class ConsentRequestError(Exception):
    """A request we must not redirect back with (unknown client, bad redirect_uri): show an error page."""


def _redirect_with(redirect_uri: str, **params: str | None) -> web.Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return web.Response(status=302, headers={"Location": f"{redirect_uri}{separator}{query}"})


def _check_client_and_redirect(state: XeroState, params: dict[str, str]) -> None:
    if params.get("client_id") != state.client_id:
        raise ConsentRequestError("unauthorized_client: this client_id is not a Xero app known to the sandbox.")
    redirect_uri = params.get("redirect_uri", "")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConsentRequestError("invalid_request: redirect_uri must be an absolute http(s) URL.")
    if state.redirect_uris is not None and redirect_uri not in state.redirect_uris:
        raise ConsentRequestError("invalid_request: redirect_uri is not registered for this app.")


def _problem_to_redirect(state: XeroState, params: dict[str, str]) -> tuple[str, str] | None:
    """Problems OAuth reports back to the app: (error, description) or None."""
    if params.get("response_type") != "code":
        return "unsupported_response_type", "response_type must be code"
    scopes = params.get("scope", "").split()
    if not scopes:
        return "invalid_scope", "scope is required"
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    if unknown:
        return "invalid_scope", "unknown scope: " + " ".join(unknown)
    challenge = params.get("code_challenge")
    if challenge:
        if params.get("code_challenge_method") != "S256":
            return "invalid_request", "code_challenge_method must be S256"
    elif state.require_pkce:
        return "invalid_request", "code_challenge is required (PKCE with S256)"
    return None


async def authorize_page(request: web.Request) -> web.StreamResponse:
    state: XeroState = request.app[XERO_STATE]
    params = {name: request.query.get(name, "") for name in AUTHORIZE_FIELDS}
    try:
        _check_client_and_redirect(state, params)
    except ConsentRequestError as error:
        return pages.html_response(pages.consent_error_page(str(error)), status=400)
    problem = _problem_to_redirect(state, params)
    if problem:
        return _redirect_with(params["redirect_uri"], error=problem[0], error_description=problem[1],
                              state=params["state"] or None)
    return pages.html_response(pages.consent_page(request.app, params))


async def authorize_decision(request: web.Request) -> web.StreamResponse:
    state: XeroState = request.app[XERO_STATE]
    form = await request.post()
    params = {name: str(form.get(name, "")) for name in AUTHORIZE_FIELDS}
    try:
        _check_client_and_redirect(state, params)
    except ConsentRequestError as error:
        return pages.html_response(pages.consent_error_page(str(error)), status=400)
    problem = _problem_to_redirect(state, params)
    if problem:
        return _redirect_with(params["redirect_uri"], error=problem[0], error_description=problem[1],
                              state=params["state"] or None)
    if form.get("decision") != "allow":
        return _redirect_with(params["redirect_uri"], error="access_denied", state=params["state"] or None)
    tenant_ids = [str(t) for t in form.getall("tenant", []) if str(t) in state.organisations]
    wants_accounting = any(s.startswith("accounting.") for s in params["scope"].split())
    if wants_accounting and not tenant_ids:
        page = pages.consent_page(request.app, params, error="Select at least one organisation to connect.")
        return pages.html_response(page, status=400)
    auth_event_id = state.record_consent(params["scope"], tenant_ids)
    code = state.issue_code(
        params["client_id"], params["redirect_uri"], params["code_challenge"] or None,
        params["code_challenge_method"] or None, auth_event_id,
    )
    log.info("Xero sandbox: consent given for %d organisation(s)", len(tenant_ids))
    return _redirect_with(params["redirect_uri"], code=code, state=params["state"] or None)


def _oauth_error(error: str, description: str | None = None, status: int = 400) -> web.Response:
    body: dict[str, Any] = {"error": error}
    if description:
        body["error_description"] = description
    return web.json_response(body, status=status)


def _client_credentials(request: web.Request, form) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, client_secret = decoded.partition(":")
        return client_id, client_secret
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


def _pkce_matches(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(expected, challenge)


async def token_endpoint(request: web.Request) -> web.Response:
    state: XeroState = request.app[XERO_STATE]
    form = await request.post()
    grant_type = str(form.get("grant_type", ""))
    state.token_endpoint_calls[grant_type or "(none)"] += 1
    client_id, client_secret = _client_credentials(request, form)
    if client_id != state.client_id or not hmac.compare_digest(client_secret, state.client_secret):
        return _oauth_error("invalid_client")
    if grant_type == "authorization_code":
        return _exchange_code(state, form, client_id)
    if grant_type == "refresh_token":
        return _refresh(state, form)
    return _oauth_error("unsupported_grant_type")


def _exchange_code(state: XeroState, form, client_id: str) -> web.Response:
    code = state.auth_codes.get(str(form.get("code", "")))
    if code is None or code.used or code.expires_at <= state.clock() or code.client_id != client_id:
        return _oauth_error("invalid_grant")
    code.used = True  # single use, even when the rest of the exchange fails
    if str(form.get("redirect_uri", "")) != code.redirect_uri:
        return _oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
    if code.code_challenge is not None:
        verifier = str(form.get("code_verifier", ""))
        if not verifier or not _pkce_matches(verifier, code.code_challenge):
            return _oauth_error("invalid_grant", "code_verifier does not match the code_challenge")
    return web.json_response(state.issue_tokens(code.auth_event_id))


def _refresh(state: XeroState, form) -> web.Response:
    """Each refresh rotates the refresh token; as at Xero, the previous one keeps working for 30 minutes
    (answered with a new pair), so a client that died before saving the new pair is not locked out."""
    record = state.refresh_tokens.get(str(form.get("refresh_token", "")))
    now = state.clock()
    if record is None or record["expires_at"] <= now:
        return _oauth_error("invalid_grant")
    used_at = record.get("used_at")
    if used_at is None and record.get("used"):  # saved before the grace period was modelled
        used_at = 0.0
    if used_at is not None and now - used_at > REFRESH_GRACE_SECONDS:
        return _oauth_error("invalid_grant")
    grant = state.grants.get(record["authEventId"])
    if grant is None or grant["revoked"]:
        return _oauth_error("invalid_grant")
    record["used"] = True
    if used_at is None:
        record["used_at"] = now
    return web.json_response(state.issue_tokens(record["authEventId"]))


async def revocation_endpoint(request: web.Request) -> web.Response:
    """POST /connect/revocation token=<refresh_token>: the user disconnects this grant entirely."""
    state: XeroState = request.app[XERO_STATE]
    form = await request.post()
    client_id, client_secret = _client_credentials(request, form)
    if client_id != state.client_id or not hmac.compare_digest(client_secret, state.client_secret):
        return _oauth_error("invalid_client")
    record = state.refresh_tokens.get(str(form.get("token", "")))
    if record is not None and record["authEventId"] in state.grants:
        state.grants[record["authEventId"]]["revoked"] = True
        for connection in state.connections_for(record["authEventId"]):
            del state.connections[connection["id"]]
        state.save()
    return web.Response(status=200)
