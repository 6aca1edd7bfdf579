"""Forecast data and the steps of an export as people do them in Slack, for the export tests."""

from __future__ import annotations

import copy
import json

from services.shared.settings import SettingsChanges
from tests.support.forecast_standin import FORECAST_KEY, ForecastStandIn
from tests.support.slack_standin import TEAM_ID
from tests.support.xero_identity import TENANTS, UK, connect_organisations
from tests.support.xero_standin import XeroStandIn, connected_books

CLIENT = {"id": 7, "name": "Acme Ltd", "street": "1 High Street", "zip": "N1 1AA", "city": "London",
          "country": "GB", "vat_number": "GB123456789"}
INVOICE = {
    "id": 101, "company_invoice_id": 101, "client_id": 7, "currency": "GBP", "invoice_reference": "INV-101",
    "name": "March work", "created_date": "2026-03-01", "due_date": "2026-03-31", "status": "SENT",
    "entries": [
        {"name": "Design", "quantity": 10, "unit_price": 100, "discount": 10, "tax": 20, "description": "Sprint 4"},
        {"name": "Hosting", "quantity": 1, "unit_price": 50, "discount": 0, "tax": 20},
    ],
}



US_TAX = [{**entry, "tax": 8.5} for entry in INVOICE["entries"]]  # Demo Company (US) taxes sales at 8.5%

def invoice(**changes) -> dict:
    return {**copy.deepcopy(INVOICE), **changes}


async def prepare(bot, xero, *, tenants=(UK,), invoices=None, clients=None, settings: dict | None = None,
                  forecast: bool = True) -> XeroStandIn:
    """Organisations connected, settings made, Forecast (unless `forecast=False`: then see `forecast_holding`)
    and Xero answering."""
    await connect_organisations(bot, xero, tenants=tenants)
    values = {"forecast_api_key": FORECAST_KEY, "approval_channel": "C0APPROVALS", "notify_channel": "C0ALERTS",
              **(settings or {})}
    await bot.container.workspace_settings.update(TEAM_ID, SettingsChanges(**values), updated_by="U0ADMIN")
    if forecast:
        forecast_holding(xero, invoices=invoices, clients=clients)
    return connected_books(xero, TENANTS)


def forecast_holding(xero, *, invoices=None, clients=None) -> ForecastStandIn:
    """The sandbox's Forecast (tests/support/forecast_standin.py) holding these invoices and clients,
    INV-101 of Acme Ltd unless told."""
    return ForecastStandIn().install(xero).holding(invoices=invoices if invoices is not None else [invoice()],
                                                   clients=clients or [CLIENT])


async def replies(bot, name: str, count: int) -> list:
    await bot.slack.wait_for("response_url", lambda c: len([x for x in bot.slack.called("response_url")
                                                             if x["name"] == name]) >= count)
    return [c for c in bot.slack.called("response_url") if c["name"] == name]


async def request(bot, text: str = "INV-101", user: str = "U0MEMBER"):
    """Types /xero export; returns (the ephemeral answer, the approval message posted)."""
    answer = await bot.ask(f"export {text}", user=user)
    posted = await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == "C0APPROVALS")
    return answer, posted


def job_id_of(approval) -> str:
    return next(e["value"] for b in approval["blocks"] if b["type"] == "actions"
                for e in b["elements"] if e.get("action_id") == "export_approve")


async def click(bot, action: str, job_id: str, *, user: str = "U0APPROVER", state: dict | None = None) -> str:
    """A button of the job's approval message, clicked there (Slack sends the message along)."""
    return await bot.click(action, job_id, user=user, channel="C0APPROVALS", state=state,
                           message=approval_message(bot, job_id))


def approval_message(bot, job_id: str) -> dict | None:
    """The job's approval message as Slack keeps it (newest first), if the bot posted one."""
    for call in reversed(bot.slack.called("chat.postMessage")):
        if call.response.get("ok") and job_id in json.dumps(call.get("blocks")):
            return call.response["message"]
    return None


async def final_update(bot, job_id: str, state: str, timeout: float = 10.0):
    """Waits until the job reaches `state` and its approval message was updated to show it."""
    words = {"exported": ("Exported to", "already in", "Already exported"), "failed": ("Export failed",),
             "rejected": ("Rejected by",)}[state]

    approval_ts = (await job(bot, job_id))["approval_ts"]

    def shows(call) -> bool:
        return call.get("ts") == approval_ts and any(w in json.dumps(call.get("blocks")) for w in words)

    return await bot.slack.wait_for("chat.update", shows, timeout)


async def job(bot, job_id: str) -> dict:
    return await bot.storage.export_jobs.find_one({"_id": job_id})


def text_of(payload) -> str:
    return json.dumps(payload.get("blocks")) + " " + str(payload.get("text"))


async def requester_dm(bot, user: str, words: str, timeout: float = 10.0):
    """The DM the requester got (a chat.postMessage to their user id) that says `words`."""
    return await bot.slack.wait_for("chat.postMessage", lambda c: c["channel"] == user and words in text_of(c),
                                    timeout)
