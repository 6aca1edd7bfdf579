"""Xero's identity API: which organisations a token reaches, and disconnecting one."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from services.platform.logfmt import fields
from services.xero.errors import XeroError, XeroUnavailable, parse_xero_error

log = logging.getLogger(__name__)


class Connection(BaseModel):
    """One element of GET /connections."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str
    tenant_id: str = Field(alias="tenantId")
    tenant_type: str = Field("ORGANISATION", alias="tenantType")
    tenant_name: str | None = Field(None, alias="tenantName")
    created_date_utc: datetime | None = Field(None, alias="createdDateUtc")


class XeroIdentity:
    def __init__(self, session: aiohttp.ClientSession, api_url: str, *, timeout: float = 20):
        self.session = session
        self.base = api_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def connections(self, access_token: str) -> list[Connection]:
        payload = await self._call("GET", "/connections", access_token)
        return [Connection.model_validate(item) for item in payload or []]

    async def delete_connection(self, access_token: str, connection_id: str) -> None:
        await self._call("DELETE", f"/connections/{connection_id}", access_token)

    async def _call(self, method: str, path: str, access_token: str) -> Any:
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        try:
            async with self.session.request(
                method, self.base + path, headers=headers, timeout=self.timeout
            ) as response:
                status = response.status
                body = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise XeroUnavailable(code="identity_silent") from exc
        log.info("xero.identity", **fields(method=method, path=path.split("/")[1], status=status))
        if status in (200, 201):
            return _parse_json(body)
        if status == 204:
            return None
        raise parse_xero_error(status, body, response.headers, subject="connection")

def _parse_json(body: str) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError as exc:
        raise XeroError(code="not_json") from exc
