"""The bot's App Home tab: organisations and their health, approvals waiting, recent exports, settings."""

from __future__ import annotations

from bot.blocks.common import (
    actions,
    button,
    context,
    divider,
    escape,
    header,
    plain,
    section,
    slack_date,
    user,
)
from bot.blocks.connections import STATUS_LABELS
from bot.blocks.exports import failure_words, money
from bot.blocks.settings import STATUS_SHORT
from services.exports.states import APPROVED, EXPORTED, EXPORTING, FAILED, PENDING, REJECTED

HOME_APPROVE_ACTION = "home_approve"
HOME_RETRY_ACTION = "home_retry"
HOME_PICK_TENANT_ACTION = "home_pick_tenant"
MAX_LISTED = 8

STATE_LABELS = {
    PENDING: ":hourglass_flowing_sand: waiting for approval",
    APPROVED: ":arrows_counterclockwise: approved, exporting",
    EXPORTING: ":arrows_counterclockwise: exporting",
    EXPORTED: ":white_check_mark: in Xero",
    FAILED: ":x: failed",
    REJECTED: ":no_entry_sign: rejected",
}
LEFT_OUT_LABEL = ":heavy_minus_sign: left out of its batch (it can be asked for again)"


def home_view(data) -> dict:
    """`data`: bot.outbox.home.HomeData for one person."""
    blocks = [header("Ledgerline"),
              context("Forecast invoices go to Xero after an approver's click; customers and purchase orders "
                      "come back. Type `/xero help` anywhere for every command.")]
    blocks += _organisations(data)
    if data.is_approver:
        blocks += _pending(data)
    blocks += _recent(data)
    if data.settings is not None:
        blocks += _settings(data.settings)
    return {"type": "home", "blocks": blocks[:100]}


def _organisations(data) -> list[dict]:
    blocks = [divider(), section("*Connected organisations*")]
    if not data.organisations:
        who = "Connect" if data.is_admin else "An admin can connect"
        hint = f"{who} one with `/xero connect`."
        return blocks + [context(f"None yet. {hint}")]
    for health in data.organisations:
        tenant = health.tenant
        last_call = slack_date(tenant.last_success_at) if tenant.last_success_at else "none yet"
        signed_in = slack_date(health.token_renewed_at) if health.token_renewed_at else "unknown"
        blocks.append(section(
            f"*{escape(tenant.name)}*   {STATUS_LABELS.get(tenant.status, escape(tenant.status))}\n"
            f"Last successful call to Xero: {last_call} · Xero access last renewed: {signed_in} · "
            f"connected by {user(tenant.connected_by)} {slack_date(tenant.connected_at)}"))
    return blocks


def _pending(data) -> list[dict]:
    blocks = [divider(), section("*Waiting for your approval*")]
    if not data.pending:
        return blocks + [context("Nothing waits for you.")]
    for job in data.pending[:MAX_LISTED]:
        line = (f"*{escape(job.reference)}* · {escape(job.customer.name)} · "
                f"{money(job.invoice.currency, job.invoice.total)} · asked by {user(job.requested_by)}")
        where = f"<#{job.approval_channel}>" if job.approval_channel else "the approval channel"
        if job.tenant_id or len(job.tenant_choices) <= 1:
            target = job.tenant_name or (job.tenant_choices[0].name if job.tenant_choices else "")
            blocks.append(section(f"{line}\nTo {escape(target)}. Reject from the request in {where}.",
                                  accessory=button("Approve", HOME_APPROVE_ACTION, job.job_id, style="primary")))
        else:
            picker = {"type": "static_select", "action_id": HOME_PICK_TENANT_ACTION,
                      "placeholder": plain("Choose the organisation"),
                      "options": [{"text": plain(c.name[:75]), "value": c.tenant_id} for c in job.tenant_choices[:100]]}
            blocks.append(section(f"{line}\nWhich organisation should it go to? Reject from the request in {where}."))
            blocks.append(actions(picker, button("Approve", HOME_APPROVE_ACTION, job.job_id, style="primary"),
                                  block_id=pending_block_id(job.job_id)))
    return blocks


def pending_block_id(job_id: str) -> str:
    return f"home_job_{job_id}"


def _recent(data) -> list[dict]:
    title = "*Recent exports*" if data.is_approver else "*Your recent exports*"
    blocks = [divider(), section(title)]
    if not data.recent:
        return blocks + [context("None yet. Try `/xero export INV-123`.")]
    for job in data.recent[:MAX_LISTED]:
        where = f" to {escape(job.tenant_name)}" if job.tenant_name else ""
        label = LEFT_OUT_LABEL if job.state == "rejected" and job.left_out else STATE_LABELS.get(job.state,
                                                                                                  escape(job.state))
        line = (f"*{escape(job.reference)}*{where} · {label} · "
                f"asked by {user(job.requested_by)} {slack_date(job.requested_at)}")
        if job.state == EXPORTED and job.xero_invoice_number:
            line += f" · Xero number {escape(job.xero_invoice_number)}"
        if job.state == FAILED:
            line += f"\n{escape(failure_words(job)[0])}"
            if job.error_details:
                line += f": {escape('; '.join(job.error_details[:3]))}"
            if data.is_approver:
                blocks.append(section(line, accessory=button("Retry", HOME_RETRY_ACTION, job.job_id, style="primary")))
                continue
        blocks.append(section(line))
    return blocks


def _settings(settings) -> list[dict]:
    def channel(value: str | None) -> str:
        return f"<#{value}>" if value else "not set"

    approvers = [user(u) for u in settings.approver_users]
    if settings.approver_usergroup:
        approvers.append(f"<!subteam^{settings.approver_usergroup}>")
    if settings.has_stored_forecast_key:
        key = "stored"
    else:
        key = "the default key from the server settings" if settings.has_default_forecast_key else "not set"
    return [divider(), section("*Settings* (admins)"),
            section(f"Approval channel: {channel(settings.approval_channel)} · "
                    f"Notification channel: {channel(settings.notify_channel)}\n"
                    f"Approvers: {', '.join(approvers) or 'workspace admins'} · "
                    f"Exported invoices: {STATUS_SHORT.get(settings.export_status, settings.export_status)} · "
                    f"Forecast API key: {key}"),
            context("Change them with `/xero settings`.")]

