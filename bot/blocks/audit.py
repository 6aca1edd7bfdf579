"""`/xero audit`: the trail as a message (newest first, within Block Kit's limits) and as a CSV file."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime, tzinfo

from bot.blocks.common import context, escape, header, message, section
from bot.blocks.exports import money
from services.shared.audit import AuditEntry, AuditPage

AUDIT_HOME_ACTION = "home_audit"
SHOWN = 50  # entries in one answer
PER_SECTION = 10
MAX_SECTION_CHARS = 3000
CSV_COLUMNS = ("time", "time_utc", "action", "what", "by", "invoice", "organisation", "details")

EMOJI = {
    "connected": ":link:", "removed": ":wastebasket:", "requested": ":outbox_tray:",
    "auto_requested": ":robot_face:", "approved": ":white_check_mark:", "rejected": ":no_entry_sign:",
    "withdrawn": ":leftwards_arrow_with_hook:", "retried": ":repeat:", "exported": ":inbox_tray:", "failed": ":x:",
    "settings_changed": ":gear:", "payment_recorded": ":moneybag:", "payment_removed": ":money_with_wings:",
    "status_changed": ":arrows_counterclockwise:",
}
SETTING_NAMES = {
    "approval_channel": "approval channel", "notify_channel": "notification channel", "approver_users": "approvers",
    "approver_usergroup": "approver group", "export_status": "export status", "account_code": "revenue account",
    "tax_type": "tax rate", "organisation_defaults": "per-organisation account and tax rate",
    "forecast_api_key": "Forecast API key", "auto_request_on": "ask when Forecast approves or sends",
    "digest_time": "digest time", "digest_channel": "digest channel",
}
WITHDRAWN_WHY = {
    "forecast_draft": "it is back in Draft in Forecast",
    "forecast_deleted": "it was deleted in Forecast",
    "channel_not_found": "the approval channel no longer exists",
    "not_in_channel": "the bot is not in the approval channel",
    "is_archived": "the approval channel is archived",
}
STATUS_WORDS = {"draft": "a draft", "submitted": "awaiting approval", "authorised": "approved (awaiting payment)",
                "part_paid": "partly paid", "paid": "paid", "voided": "voided", "deleted": "deleted",
                "unknown": "in an unknown status"}
FORECAST_STATUS = {"APPROVED": "approved", "SENT": "sent"}


def _slack_person(user_id: str) -> str:
    return f"<@{user_id}>"


def describe(entry: AuditEntry, person: Callable[[str], str] = _slack_person, *, markup: bool = True) -> str:
    """One entry in words. `markup=False`: plain text for the CSV."""
    def bold(text: str | None) -> str:
        text = text or "?"
        return f"*{escape(text)}*" if markup else text

    d = entry.details
    who = person(entry.by) if entry.by else (entry.by_name or "Ledgerline")
    ref, org = bold(entry.reference), bold(entry.tenant_name)
    amount = money(d.get("currency"), float(d["amount"])) if d.get("amount") else "an amount"
    words = {
        "connected": lambda: f"{who} connected {org}",
        "removed": lambda: f"{who} removed {org} ({d.get('unlinked', '0')} links unlinked)",
        "requested": lambda: f"{who} asked to export {ref}",
        "auto_requested": lambda: f"{ref} was sent for approval by itself: it was "
                                  f"{FORECAST_STATUS.get(d.get('status', ''), 'approved or sent')} in Forecast"
                                  + (f" by {d['forecast_by']}" if d.get("forecast_by") else ""),
        "approved": lambda: f"{who} approved {ref}" + (f" for {org}" if entry.tenant_name else ""),
        "rejected": lambda: f"{who} rejected {ref}" + (f": {d['reason']}" if d.get("reason") else ""),
        "withdrawn": lambda: f"The request for {ref} was withdrawn: "
                             + WITHDRAWN_WHY.get(d.get("reason", ""), d.get("reason") or "no reason given"),
        "retried": lambda: f"{who} retried {ref}",
        "exported": lambda: f"{ref} was exported to {org}"
                            + (f" as {bold(d['xero_number'])}" if d.get("xero_number") else "")
                            + (f" ({d['xero_status'].title()})" if d.get("xero_status") else ""),
        "failed": lambda: f"{ref} failed to export to {org}" + (f": {d['error']}" if d.get("error") else ""),
        "settings_changed": lambda: f"{who} changed the settings: " + ", ".join(
            SETTING_NAMES.get(name, name) for name in d.get("fields", "").split(",") if name),
        "payment_recorded": lambda: f"Xero: a payment of {amount} on {ref} ({org})"
                                    + (f", paid on {d['paid_on']}" if d.get("paid_on") else ""),
        "payment_removed": lambda: f"Xero: the payment of {amount} on {ref} ({org}) was removed",
        "status_changed": lambda: f"Xero: {ref} is now {STATUS_WORDS.get(d.get('status', ''), d.get('status'))}"
                                  + (f" (was {STATUS_WORDS.get(d['was'], d['was'])})" if d.get("was") else ""),
    }
    text = words[entry.action]() if entry.action in words else f"{entry.action} {ref}"
    return f"{EMOJI.get(entry.action, '•')} {text}" if markup else text


def local_time(when: datetime, zone: tzinfo) -> str:
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def filter_words(page: AuditPage, organisation_names: list[str]) -> str:
    query = page.query
    parts = []
    if query.reference:
        parts.append(f"invoice *{escape(query.reference)}*")
    if organisation_names:
        parts.append("organisation " + ", ".join(f"*{escape(name)}*" for name in organisation_names))
    if query.by:
        parts.append(f"by <@{query.by}>")
    if query.since:
        parts.append(f"since {query.since.date().isoformat()}")
    return " · ".join(parts)


def audit_message(page: AuditPage, zone: tzinfo, zone_name: str, *, organisation_names: list[str]) -> dict:
    """Newest first; at most SHOWN entries, 10 a section; what is left is counted, with how to see it."""
    about = filter_words(page, organisation_names)
    blocks = [header("Audit trail"),
              context((f"{about} · " if about else "") + f"times in {escape(zone_name)} · newest first")]
    shown = page.entries[:SHOWN]
    if not shown:
        blocks.append(section("Nothing recorded" + (" for this." if about else " yet.")
                              + " Connecting, exports, approvals, settings and what Xero sends back appear here."))
        return message("Audit trail: nothing recorded", blocks)
    for start in range(0, len(shown), PER_SECTION):
        lines = [f"`{local_time(e.at, zone)}`  {describe(e)}" for e in shown[start:start + PER_SECTION]]
        blocks.append(section(_fit("\n".join(lines))))
    more = page.total - len(shown)
    if more > 0:
        blocks.append(context(f"{more} more not shown. Narrow it with a date (`/xero audit since 2026-03-01`), an "
                              "invoice or an organisation, or get every entry with `/xero audit export`."))
    else:
        blocks.append(context("`/xero audit export` sends these as a CSV file."))
    return message(f"Audit trail: {len(shown)} of {page.total} entries", blocks)


def _fit(text: str) -> str:
    if len(text) <= MAX_SECTION_CHARS:
        return text
    return text[:MAX_SECTION_CHARS - 2].rsplit("\n", 1)[0] + "\n…"


def audit_csv(page: AuditPage, zone: tzinfo) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in page.entries:
        details = "; ".join(f"{k}={v}" for k, v in sorted(entry.details.items()))
        writer.writerow([entry.at.astimezone(zone).isoformat(timespec="seconds"),
                         entry.at.isoformat(timespec="seconds"), entry.action,
                         describe(entry, lambda user_id: user_id, markup=False),
                         entry.by or entry.by_name or "", entry.reference or "", entry.tenant_name or "", details])
    return out.getvalue()


def audit_file_comment(page: AuditPage, zone_name: str) -> str:
    return (f"The audit trail: {len(page.entries)} entries, newest first, times in {zone_name}"
            + (" (the newest 10,000; narrow it with a date for older ones)." if page.total > len(page.entries)
               else "."))


def audit_sent(rows: int) -> dict:
    return message(f"Sent the audit trail ({rows} entries) to our DM as a CSV file.",
                   [section(f":page_facing_up: Sent the audit trail ({rows} entries) to our DM as a CSV file.")])


def audit_not_sent(error: str) -> dict:
    hint = ("The app needs the `files:write` scope: reinstall it from its Slack app page."
            if error == "missing_scope" else "Try again in a minute.")
    return message("Could not send the CSV file.",
                   [section(f":warning: I couldn't upload the CSV file to our DM (Slack said `{escape(error)}`). "
                            f"{hint}")])


def audit_bad_input(problem: str, words: str) -> dict:
    reasons = {
        "bad_date": f"`{escape(words)}` is not a date I can read. Use `2026-03-01`, `7d` (the last 7 days), "
                    "`today` or `yesterday`.",
        "no_organisation": f"No connected or removed organisation is called `{escape(words)}`. "
                           "`/xero list` shows their names.",
    }
    return message(reasons[problem],
                   [section(f":thinking_face: {reasons[problem]}"),
                    context("Usage: `/xero audit [INV-123 | organisation | @person] [since 2026-03-01]` · "
                            "`/xero audit export` for a CSV file.")])
