"""aiohttp AppKeys for what the Xero stand-in keeps on its application."""

from __future__ import annotations

from aiohttp import web

from .state import XeroState

XERO_STATE: web.AppKey[XeroState] = web.AppKey("xero_state", XeroState)
PUBLIC_BASE_URL: web.AppKey[str] = web.AppKey("xero_public_base_url", str)
SPEC_CHECKER: web.AppKey = web.AppKey("xero_spec_checker")
WEBHOOKS: web.AppKey = web.AppKey("xero_webhooks")
