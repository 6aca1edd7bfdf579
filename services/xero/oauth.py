"""Xero's OAuth 2.0 authorization-code flow with PKCE: authlib builds the pieces, aiohttp carries them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from pydantic import BaseModel, ValidationError

from services.platform.logfmt import fields
from services.xero.errors import XeroAuthError, XeroError, XeroUnavailable

log = logging.getLogger(__name__)


class TokenGrant(BaseModel):
    """What Xero's token endpoint answers."""

    access_token: str
    refresh_token: str
    expires_in: int = 1800
    token_type: str = "Bearer"
    scope: str | None = None

    def __repr__(self) -> str:  # never show token values, even in a debugger or a traceback
        return f"TokenGrant(expires_in={self.expires_in}, scope={self.scope!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class PkcePair:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> PkcePair:
        verifier = generate_token(64)
        return cls(verifier, create_s256_code_challenge(verifier))


class XeroOAuth:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        client_id: str,
        client_secret: str | None,
        redirect_uri: str,
        authorize_url: str,
        token_url: str,
        scopes: str,
        revocation_url: str | None = None,
        timeout: float = 20,
    ):
        self.session = session
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.authorize_endpoint = authorize_url
        self.token_url = token_url
        # https://identity.xero.com/connect/token -> https://identity.xero.com/connect/revocation
        self.revocation_url = revocation_url or token_url.rstrip("/").rpartition("/")[0] + "/revocation"
        self.scopes = scopes
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    def authorize_url(self, state: str, code_challenge: str) -> str:
        uri: str = prepare_grant_uri(
            self.authorize_endpoint,
            self.client_id,
            "code",
            redirect_uri=self.redirect_uri,
            scope=self.scopes,
            state=state,
            code_challenge=code_challenge,
            code_challenge_method="S256",
        )
        return uri

    async def exchange_code(self, code: str, code_verifier: str) -> TokenGrant:
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=self.redirect_uri, code_verifier=code_verifier
        )
        return await self._token_request(body, "code exchange")

    async def refresh(self, refresh_token: str) -> TokenGrant:
        body = prepare_token_request("refresh_token", refresh_token=refresh_token)
        return await self._token_request(body, "token refresh")

    async def revoke(self, refresh_token: str) -> None:
        """Ends the grant at Xero: the refresh token and every access token issued with it stop working.

        Xero answers 200 for a token it no longer knows too (RFC 7009), so that is done as well.
        """
        body = urlencode({"token": refresh_token, "token_type_hint": "refresh_token"})
        status, payload = await self._post_form(self.revocation_url, body, "token revocation")
        if status == 200 or payload.get("error") == "invalid_grant":
            return
        if status >= 500:
            raise XeroUnavailable(code="sign_in_failed", data={"status": status}, status=status)
        described = payload.get("error_description") or payload.get("error") or f"HTTP {status}"
        raise XeroError(code="sign_in_refused", data={"purpose": "token revocation", "described": described},
                        status=status)

    async def _post_form(self, url: str, body: str, purpose: str) -> tuple[int, dict[str, Any]]:
        """POSTs a form with the client's credentials, as Xero's identity endpoints want them."""
        auth = None
        if self.client_secret:
            auth = aiohttp.BasicAuth(self.client_id, self.client_secret)
        else:
            body += f"&client_id={self.client_id}"
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        try:
            async with self.session.post(url, data=body, headers=headers, auth=auth, timeout=self.timeout) as response:
                payload = await _json_or_empty(response)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("xero.token_request_failed", **fields(purpose=purpose, error=type(exc).__name__))
            raise XeroUnavailable(code="sign_in_silent", data={"purpose": purpose}) from exc
        log.info("xero.token_request", **fields(purpose=purpose, status=status))
        return status, payload

    async def _token_request(self, body: str, purpose: str) -> TokenGrant:
        status, payload = await self._post_form(self.token_url, body, purpose)
        if status == 200:
            try:
                return TokenGrant.model_validate(payload)
            except ValidationError as exc:
                raise XeroError(code="unexpected_body", data={"purpose": purpose}, status=status) from exc
        error = str(payload.get("error") or "")
        if error == "invalid_grant":
            raise XeroAuthError(code="invalid_grant", status=status)
        if status >= 500:
            raise XeroUnavailable(code="sign_in_failed", data={"status": status}, status=status)
        described = payload.get("error_description") or error or f"HTTP {status}"
        raise XeroError(code="sign_in_refused", data={"purpose": purpose, "described": described}, status=status)


async def _json_or_empty(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {}
    return data if isinstance(data, dict) else {}
