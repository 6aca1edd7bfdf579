"""Canned answers of Xero's identity service for aioresponses."""

from __future__ import annotations

import re

from tests.support.harness import XERO_API, XERO_TOKEN_URL

UK_CONNECTION = "3f6c2b1e-8d4a-4c7e-9b2a-1a2b3c4d5e01"
US_CONNECTION = "3f6c2b1e-8d4a-4c7e-9b2a-1a2b3c4d5e02"
UK_TENANT = "b6f1c2d3-0000-4000-8000-00000000000a"
US_TENANT = "b6f1c2d3-0000-4000-8000-00000000000b"
UK = {"id": UK_CONNECTION, "tenantId": UK_TENANT, "tenantType": "ORGANISATION", "tenantName": "Demo Company (UK)",
      "createdDateUtc": "2026-11-01T10:00:00.0000000", "updatedDateUtc": "2026-11-01T10:00:00.0000000",
      "authEventId": "auth-1"}
US = {**UK, "id": US_CONNECTION, "tenantId": US_TENANT, "tenantName": "Demo Company (US)"}


def grant(n: int = 1, expires_in: int = 1800) -> dict:
    return {"access_token": f"access-token-{n}-secret", "refresh_token": f"refresh-token-{n}-secret",
            "expires_in": expires_in, "token_type": "Bearer", "scope": "openid accounting.invoices"}


def answer_consent(xero, *, tenants=(UK, US), n: int = 1) -> None:
    xero.post(XERO_TOKEN_URL, payload=grant(n))
    xero.get(f"{XERO_API}/connections", payload=list(tenants))


def delete_url(connection_id: str) -> str:
    return f"{XERO_API}/connections/{connection_id}"


def token_calls(xero) -> list:
    return [call for (method, url), calls in xero.requests.items()
            if method == "POST" and str(url) == XERO_TOKEN_URL for call in calls]


STATE_IN_URL = re.compile(r"[?&]state=([^&]+)")


async def connect_organisations(bot, xero, tenants=(UK, US), user: str = "U0ADMIN") -> None:
    """Runs the whole consent through Slack and the callback, as an admin would."""
    from urllib.parse import parse_qs, urlparse

    reply = await bot.ask("connect", user=user)
    state = parse_qs(urlparse(reply["blocks"][0]["accessory"]["url"]).query)["state"][0]
    answer_consent(xero, tenants=tenants)
    response = await bot.client.get("/xero/callback", params={"code": "code", "state": state})
    assert response.status == 200, await response.text()
