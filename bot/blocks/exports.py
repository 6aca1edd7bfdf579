"""Messages and the modal of the invoice export: request answers, the approval message, failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bot.blocks.batches import _check, line_text
from bot.blocks.common import (
    actions,
    button,
    context,
    error_message,
    escape,
    fields_section,
    header,
    message,
    plain,
    section,
    user,
)
from bot.blocks.errors import RECONNECT, forecast_words, xero_summary
from services.exports.batch_view import NOT_CHECKED, BatchLine
from services.exports.preflight import EXPORTABLE
from services.exports.states import APPROVED, EXPORTED, EXPORTING, FAILED, PENDING, REJECTED, Outcome

APPROVE_ACTION = "export_approve"
REJECT_ACTION = "export_reject"
RETRY_ACTION = "export_retry"
PICK_TENANT_ACTION = "export_pick_tenant"
ALLOW_DUPLICATE_ACTION = "export_allow_duplicate"  # an admin exports again despite a removed organisation
OPEN_XERO_ACTION = "export_open_xero"  # a link button; Slack still tells the app it was clicked
PICK_TENANT_BLOCK = "export_pick_tenant_block"
REJECT_CALLBACK_ID = "export_reject_reason"
REJECT_REASON_BLOCK = "reason"
REJECT_REASON_ACTION = "reason"

USAGE = "/xero export INV-123 [INV-124 …]"


IN_FORECAST_WORDS = {"forecast_draft": "the invoice is back in Draft in Forecast",
                     "forecast_deleted": "the invoice was deleted in Forecast"}


def money(currency: str | None, amount: float) -> str:
    return f"{currency or ''} {amount:,.2f}".strip()


def usage() -> dict:
    return error_message(
        "Which invoice? Give its Forecast reference.",
        "For example `/xero export INV-123`, or several at once: `/xero export INV-123 INV-124`.",
    )


def too_many_references(count: int, limit: int) -> dict:
    return error_message(
        f"That is {count} invoices; one `/xero export` takes at most {limit}. Nothing was sent for approval.",
        f"Split them into several commands of up to {limit} references each.",
    )


NOTHING_EXPORTED = "Nothing was exported."
REFUSALS: dict[str, Callable[[dict[str, Any]], tuple[str, str | None]]] = {
    "no_api_key": lambda d: ("No Forecast API key is set, so I cannot read invoices.",
                             "An admin can add one with `/xero settings`."),
    "no_organisation": lambda d: ("No Xero organisation is connected, so there is nowhere to export to.",
                                  "An admin can connect one with `/xero connect`."),
    "no_approval_channel": lambda d: ("No approval channel is set, so nobody could approve this export.",
                                      "An admin must choose an approval channel with `/xero settings`."),
    "handled_elsewhere": lambda d: (f"{d['reference']} was just handled by someone else.",
                                    f"Ask again with `/xero export {d['reference']}` to see where it is."),
    "approval_channel_unavailable": lambda d: (
        f"I could not post the approval request in the approval channel ({d['error']}).",
        "Invite me to that channel (`/invite @Ledgerline`), or an admin can choose another with `/xero settings`."),
    "no_such_invoice": lambda d: (forecast_words(d["error"]),
                                  "Type the reference as Forecast shows it, e.g. `/xero export INV-123`."),
    "forecast_refused_key": lambda d: (forecast_words(d["error"]), NOTHING_EXPORTED),
    "invoice_unreadable": lambda d: (f"I could not read the invoice from Forecast: {forecast_words(d['error'])}",
                                     NOTHING_EXPORTED),
    "invoices_unreadable": lambda d: (f"I could not read the invoices from Forecast: {forecast_words(d['error'])}",
                                      NOTHING_EXPORTED),
    "no_lines": lambda d: (f"{d['reference']} has no lines in Forecast, so there is nothing to export.",
                           "Add lines to the invoice in Forecast, then export it again."),
    "no_client": lambda d: (f"{d['reference']} has no client in Forecast, so I cannot tell who to bill.",
                            "Choose a client for the invoice in Forecast, then export it again."),
    "client_unreadable": lambda d: (
        f"I could not read the client of {d['reference']} from Forecast: {forecast_words(d['error'])}",
        NOTHING_EXPORTED),
}


def _currency_hint(job, d: dict[str, Any]) -> str:
    hint = f"Add {d['currency']} in Xero (Accounting > Advanced > Currencies), then click Retry."
    if len(job.tenant_choices) > 1:
        hint += (f" Or, if it belongs in another organisation, ask again with "
                 f"`/xero export {job.reference}` and pick another organisation.")
    return hint


XERO_REMEDIES = {
    "reconnect": f"An admin must {RECONNECT}, then click Retry.",
    "fix_data": "Fix this in Xero, in Forecast or in `/xero settings`, then click Retry.",
    "wait": "Xero asked us to slow down; click Retry in a little while.",
    "retry": "Click Retry; no duplicate can be created.",
}
FAILURES: dict[str, Callable[[Any, dict[str, Any]], tuple[str, str | None]]] = {
    "not_connected": lambda job, d: (f"{d.get('tenant_name') or 'The organisation'} is no longer connected",
                                     "An admin can connect it again with `/xero connect`, then click Retry."),
    "currency_missing": lambda job, d: (
        f"{d['tenant_name']} does not use {d['currency']}, the currency of {job.reference} "
        f"(its currencies: {', '.join(d['currencies']) or 'none'})", _currency_hint(job, d)),
    "no_revenue_account": lambda job, d: (
        f"{d['tenant_name']} has no active revenue account to book the lines on",
        f"An admin can choose {d['tenant_name']}'s revenue account with `/xero settings`."),
    "xero": lambda job, d: (xero_summary(d["xero_code"], d["xero_data"]), XERO_REMEDIES.get(d.get("remedy", ""))),
    "gave_up": lambda job, d: ("Something went wrong on our side while exporting, several times",
                               "Click Retry: it checks Xero first, so no duplicate can be created."),
    "preflight_failed": lambda job, d: (
        (f"It would not go into {d.get('tenant_name') or 'the organisation'} as it is: "
         f"{check_words(d['check'], d.get('check_data') or {}, d.get('currency'))}", XERO_REMEDIES["fix_data"])
        if d.get("check") else ("The pre-flight check failed when it was exported", None)),
    "xero_refused": lambda job, d: ("Xero refused it", None),
    "organisation_removed": lambda job, d: ("The organisation was removed before the export", None),
}


def failure_words(job) -> tuple[str, str | None]:
    """Why the export failed and what to do about it. A job failed by a version that stored sentences keeps them."""
    words = FAILURES.get(job.error_code or "")
    if words:
        return words(job, job.error_data)
    return job.error or "unknown error", job.error_hint


def refused(code: str, data: dict[str, Any]) -> dict:
    """Why a request for export cannot go ahead, and what to do instead."""
    text, hint = REFUSALS[code](data)
    return error_message(escape(text), hint)


def _organisation(job) -> str:
    if job.tenant_name:
        return escape(job.tenant_name)
    if job.state != PENDING:
        return "none chosen"
    names = " or ".join(f"*{escape(c.name)}*" for c in job.tenant_choices)
    return f"an approver picks {names}"


def _summary_fields(job) -> dict:
    invoice = job.invoice
    pairs = [
        ("Client", escape(job.customer.name)),
        ("Total", money(invoice.currency, invoice.total)),
        ("Currency", invoice.currency or "the organisation's base currency"),
        ("Lines", str(invoice.line_count)),
        ("Organisation", _organisation(job)),
    ]
    if invoice.due_date:
        pairs.append(("Due", invoice.due_date.isoformat()))
    return fields_section(pairs)


def preflight_line(job) -> str | None:
    """The line a batch shows for this invoice: client, total, organisation and the pre-flight result."""
    if job.check is None:
        return None
    line = BatchLine(reference=job.reference, client=job.customer.name, currency=job.invoice.currency,
                     total=Decimal(str(job.invoice.total)), organisation=job.tenant_name or job.check_tenant_name,
                     check=job.check, check_data=dict(job.check_data))
    return line_text(line)


def check_words(code: str, data: dict[str, Any], currency: str | None) -> str:
    """A pre-flight result in the batch line's words, without its emoji."""
    words = _check(code, data, currency)
    return words.split(" ", 1)[1] if words.startswith(":") else words


def not_exportable(job) -> bool:
    return job.check is not None and job.check != NOT_CHECKED and job.check not in EXPORTABLE


def _preflight_blocks(job) -> list[dict]:
    line = preflight_line(job)
    return [section(line)] if line else []


# ----------------------------------------------------------------------------- answers to /xero export


def export_requested(job) -> dict:
    text = f"{job.reference} for {job.customer.name} went to <#{job.approval_channel}> for approval."
    blocks = [
        section(f":outbox_tray: *{escape(job.reference)}* will be exported to Xero once approved."),
        _summary_fields(job),
        *_preflight_blocks(job),
        context(f"Sent for approval in <#{job.approval_channel}>. You will hear back here or in a DM."),
    ]
    return message(text, blocks)


def already_exported(outcome) -> dict:
    number = outcome.invoice_number or outcome.reference
    text = f"{outcome.reference} is already in Xero ({outcome.tenant_name}) as {number}. Nothing new was created."
    blocks = [
        section(f":white_check_mark: *{escape(outcome.reference)}* is already in *{escape(outcome.tenant_name)}* "
                f"as {escape(number)}. Nothing new was created.",
                accessory=button("Open in Xero", OPEN_XERO_ACTION, url=outcome.url)),
    ]
    return message(text, blocks)


def already_requested(job) -> dict:
    where = f"<#{job.approval_channel}>" if job.approval_channel else "the approval channel"
    state = {PENDING: "is waiting for approval", APPROVED: "was just approved",
             EXPORTING: "is being exported right now"}.get(job.state, f"is {job.state}")
    text = f"{job.reference} {state} (asked by {user(job.requested_by)} in {where}). Nothing new was requested."
    return message(text, [section(f":hourglass: {text}")])


# ----------------------------------------------------------------------------- the approval message


def approval_message(job) -> dict:
    """The message in the approval channel, for whatever state the job is in."""
    blocks = [
        header(f"Export {job.reference} to Xero?" if job.state == PENDING else f"Export {job.reference}"),
        _summary_fields(job),
        context(f"Requested by {user(job.requested_by)}"),
    ]
    blocks += _state_blocks(job)
    return message(_state_text(job), blocks)


def _state_text(job) -> str:
    ref = job.reference
    if job.state == PENDING:
        return f"Approval needed: export {ref} for {job.customer.name} to Xero"
    if job.state in (APPROVED, EXPORTING):
        return f"Exporting {ref} to Xero…"
    if job.state == EXPORTED:
        return f"{ref} exported to Xero ({job.tenant_name})"
    if job.state == FAILED:
        return f"Export of {ref} to Xero failed: {failure_words(job)[0]}"
    return f"Export of {ref} was rejected"


def approvers_words(job) -> str:
    """Everyone whose Approve counted, in the order they clicked (a rule may have asked for two)."""
    people = [a.user for a in job.approvals]
    if job.approved_by and job.approved_by not in people:
        people.append(job.approved_by)
    return " and ".join(user(u) for u in people)


def _state_blocks(job) -> list[dict]:
    if job.state == PENDING:
        return _pending_blocks(job)
    if job.state in (APPROVED, EXPORTING):
        return [section(f":hourglass_flowing_sand: Exporting to *{escape(job.tenant_name or '')}*… "
                        f"approved by {approvers_words(job)}")]
    if job.state == EXPORTED:
        blocks = [section(_exported_line(job), accessory=button("Open in Xero", OPEN_XERO_ACTION, url=job.xero_url)),
                  context(f"Approved by {approvers_words(job)}")]
        if job.in_xero is not None:
            blocks.append(context(f":receipt: *In Xero:* {escape(in_xero_line(job.in_xero))}"))
        return blocks
    if job.state == FAILED:
        return _failed_blocks(job)
    if job.withdrawn in IN_FORECAST_WORDS:
        return [section(f":leftwards_arrow_with_hook: Withdrawn: {IN_FORECAST_WORDS[job.withdrawn]}. Nothing was "
                        "exported.")]
    if job.withdrawn:
        return [section(f":no_entry_sign: Withdrawn: I could not post this request ({escape(job.withdrawn)}).")]
    reason = f": {escape(job.reject_reason)}" if job.reject_reason else " (no reason given)"
    return [section(f":no_entry_sign: Rejected by {user(job.rejected_by)}{reason}")]


def _exported_line(job) -> str:
    number = escape(job.xero_invoice_number or job.reference)
    status = f" ({job.xero_status})" if job.xero_status and job.in_xero is None else ""  # sync has newer news
    where = escape(job.tenant_name or "")
    if job.outcome == Outcome.FOUND_IN_XERO:
        return f":link: {number} was already in *{where}*{status}; linked to it instead of creating another."
    if job.outcome == Outcome.ALREADY_LINKED:
        return f":link: Already exported as {number}{status}; nothing new was created."
    return f":white_check_mark: Exported to *{where}* as {number}{status}."


IN_XERO_WORDS = {"draft": "a draft", "submitted": "awaiting approval", "authorised": "awaiting payment",
                 "part_paid": "part paid", "paid": "paid", "voided": "voided", "deleted": "deleted",
                 "unknown": "in an unknown state"}


def in_xero_line(status, currency: str | None = None) -> str:
    """An invoice's status in Xero in one line, e.g. *Paid 1,200.00 of GBP 1,200.00 on 3 Dec*."""
    currency = currency or getattr(status, "currency", None)
    label = status.label if status.label in IN_XERO_WORDS else "unknown"
    credited = getattr(status, "amount_credited", None) or 0
    if label == "paid" and credited and not status.amount_paid:
        return f"Settled by credit {_number(credited)} of {_amount(currency, status.total)} on {_day(status.paid_on)}"
    if label == "paid":
        return (f"Paid {_number(status.amount_paid)} of {_amount(currency, status.total)} "
                f"on {_day(status.paid_on)}" + (f" · {_number(credited)} credited" if credited else ""))
    if label == "part_paid" and credited and not status.amount_paid:
        return (f"Credited {_number(credited)} of {_amount(currency, status.total)} · "
                f"{_number(status.amount_due)} due")
    if label == "part_paid":
        return (f"Part paid {_number(status.amount_paid)} of {_amount(currency, status.total)} · "
                + (f"{_number(credited)} credited · " if credited else "") + f"{_number(status.amount_due)} due")
    if label == "authorised":
        return f"Awaiting payment · {_amount(currency, status.amount_due)} due"
    if label in ("voided", "deleted"):
        return f"{label.capitalize()} in Xero · Forecast keeps the invoice"
    return f"{IN_XERO_WORDS[label].capitalize()} in Xero"


def _number(value) -> str:
    return f"{(value or 0):,.2f}"


def _amount(currency: str | None, value) -> str:
    return f"{currency or ''} {_number(value)}".strip()


def _day(value) -> str:
    return f"{value.day} {value:%b}" if value else "an unknown date"


def _pending_blocks(job) -> list[dict]:
    buttons = [
        button("Approve", APPROVE_ACTION, job.job_id, style="primary"),
        button("Reject", REJECT_ACTION, job.job_id, style="danger"),
    ]
    blocks = []
    if job.tenant_choices and not job.tenant_id:
        blocks.append(section("Which organisation should this invoice go to? "
                              "Its client is not linked to exactly one connected organisation. "
                              "It is checked there as soon as you pick one."))
        options = [{"text": plain(c.name[:75]), "value": c.tenant_id} for c in job.tenant_choices[:100]]
        picker = {
            "type": "static_select",
            "action_id": PICK_TENANT_ACTION,
            "placeholder": plain("Choose the organisation"),
            "options": options,
        }
        picked = next((o for o in options if o["value"] == job.check_tenant_id), None)
        if picked is not None:
            picker["initial_option"] = picked
        blocks.append(actions(picker, block_id=f"{PICK_TENANT_BLOCK}_{job.job_id}"))
    blocks += _preflight_blocks(job)
    blocks += rule_blocks(job.rules, [a.user for a in job.approvals])
    if job.check == "exported_to_removed_org":
        buttons.append(button("Export again anyway (admins)", ALLOW_DUPLICATE_ACTION, job.job_id))
    if not_exportable(job):
        blocks.append(context("*Approve* is refused until this is fixed (in Xero, in Forecast or in "
                              "`/xero settings`): clicking it checks again."))
    blocks.append(actions(*buttons, block_id=f"export_decide_{job.job_id}"))
    return blocks


def rule_words(rule) -> str:
    """One approval rule, as the approval message names it."""
    when = []
    if rule.above is not None:
        when.append(f"above {money(rule.currency, float(rule.above))}")
    if rule.client_id is not None or rule.client_name:
        when.append(f"client {escape(rule.client_name or str(rule.client_id))}")
    if rule.tenant_id is not None:
        when.append(f"going to {escape(rule.tenant_name or rule.tenant_id)}")
    needs = []
    if rule.two_approvers:
        needs.append("two different approvers")
    if rule.approvers:
        needs.append("one of " + ", ".join(user(u) for u in rule.approvers))
    return f"{' and '.join(when) or 'every export'}: {' including '.join(needs) or 'one approver'}"


def rule_blocks(rules, approved_by: list[str]) -> list[dict]:
    """Which approval rules apply and who has approved so far (nothing when no rule applies)."""
    if not rules:
        return []
    needed = 2 if any(r.two_approvers for r in rules) else 1
    lines = [f":scales: *Approval rule* — {rule_words(rule)}" for rule in rules]
    if approved_by:
        lines.append(f"Approved so far: {', '.join(user(u) for u in approved_by)} "
                     f"({len(approved_by)} of {needed} needed)")
    else:
        lines.append(f"Approved so far: nobody ({needed} {'approvals' if needed > 1 else 'approval'} needed)")
    return [context("\n".join(lines))]


def approval_recorded(job) -> dict:
    """The clicker's answer when a rule asks for another approval after theirs."""
    text = f"Your approval of {job.reference} is recorded. It is exported once the approval rule is met."
    return message(text, [section(f":ballot_box_with_check: {escape(text)}"),
                          *rule_blocks(job.rules, [a.user for a in job.approvals])])


def picked_job_id(block_id: str | None) -> str | None:
    """The export whose organisation picker this is (its block id names it)."""
    prefix = f"{PICK_TENANT_BLOCK}_"
    return block_id[len(prefix):] or None if block_id and block_id.startswith(prefix) else None


def _failed_blocks(job) -> list[dict]:
    why, hint = failure_words(job)
    blocks = [section(f":x: *Export failed*: {escape(why)}")]
    if job.error_details:
        blocks.append(section("\n".join(f"• {escape(d)}" for d in job.error_details[:10])))
    if hint:
        blocks.append(context(escape(hint)))
    blocks.append(actions(button("Retry", RETRY_ACTION, job.job_id, style="primary"),
                          block_id=f"export_retry_{job.job_id}"))
    return blocks


def failure_notice(job) -> dict:
    """Posted to the notify channel: which invoice, which organisation, Xero's words, and Retry."""
    where = escape(job.tenant_name or "Xero")
    why, hint = failure_words(job)
    lines = [f":rotating_light: *Export of {escape(job.reference)} to {where} failed*", escape(why)]
    blocks = [section("\n".join(lines))]
    if job.error_details:
        blocks.append(section("*Xero said:*\n" + "\n".join(f"• {escape(d)}" for d in job.error_details[:10])))
    blocks.append(fields_section([("Client", escape(job.customer.name)),
                                  ("Total", money(job.invoice.currency, job.invoice.total)),
                                  ("Requested by", user(job.requested_by)),
                                  ("Approved by", approvers_words(job) if job.approved_by else "—")]))
    if hint:
        blocks.append(context(escape(hint)))
    blocks.append(actions(button("Retry", RETRY_ACTION, job.job_id, style="primary"),
                          block_id=f"export_retry_{job.job_id}"))
    text = f"Export of {job.reference} to {job.tenant_name or 'Xero'} failed: {why}"
    return message(text, blocks)


def failure_notice_now(job) -> dict:
    """A failure notice as it must read now: the failure with Retry while the job is failed, else what
    happened since, without the Retry button that no longer applies."""
    if job.state == FAILED:
        return failure_notice(job)
    if job.state == EXPORTED:
        line = f":white_check_mark: Export of *{escape(job.reference)}* failed earlier; since retried: " \
               f"{_exported_line(job).split(' ', 1)[1]}"
        blocks = [section(line, accessory=button("Open in Xero", OPEN_XERO_ACTION, url=job.xero_url))]
    else:
        line = (f":repeat: Export of *{escape(job.reference)}* failed earlier; it is being retried "
                f"(approved by {user(job.approved_by)}).")
        blocks = [section(line)]
    return message(f"{job.reference}: {_state_text(job)}", blocks)


def requester_notice(job, approval_link: str | None) -> dict:
    """The requester's DM about their export, for its current state, with a link to the approval message."""
    where = f" (<{approval_link}|approval message>)" if approval_link else ""
    blocks: list[dict]
    if job.state == EXPORTED:
        number = job.xero_invoice_number or job.reference
        text = f"Your export of {job.reference} is in Xero ({job.tenant_name})" + (
            f" as {number}." if number != job.reference else ".")
        blocks = [section(f":white_check_mark: {escape(text)}{where}",
                          accessory=button("Open in Xero", OPEN_XERO_ACTION, url=job.xero_url))]
    elif job.state == FAILED:
        why, hint = failure_words(job)
        text = f"Your export of {job.reference} to {job.tenant_name or 'Xero'} failed: {why}"
        blocks = [section(f":x: {escape(text)}{where}")]
        if hint:
            blocks.append(context("An approver can click Retry on the approval message. " + escape(hint)))
    elif job.state == REJECTED and job.withdrawn in IN_FORECAST_WORDS:
        text = f"Your request to export {job.reference} was withdrawn: {IN_FORECAST_WORDS[job.withdrawn]}."
        blocks = [section(f":leftwards_arrow_with_hook: {escape(text)}"),
                  context(f"Ask again with `/xero export {job.reference}` once it is approved again.")]
    elif job.state == REJECTED and job.withdrawn:
        text = f"Your export of {job.reference} could not be sent for approval ({job.withdrawn})."
        blocks = [section(f":warning: {escape(text)}"),
                  context(f"I cannot post in <#{job.approval_channel}>: invite me there (`/invite @Ledgerline`), "
                          f"or an admin "
                          f"can choose another approval channel with `/xero settings`; then ask again with "
                          f"`/xero export {job.reference}`.")]
    elif job.state == REJECTED:
        return rejected_notice(job)
    else:
        text = f"Your export of {job.reference}: {_state_text(job)}"
        blocks = [section(f":hourglass_flowing_sand: {escape(text)}{where}")]
    return message(text, blocks)


def rejected_notice(job) -> dict:
    """To the requester: who rejected the export, why, and how to ask again."""
    reason = f": {escape(job.reject_reason)}" if job.reject_reason else " (no reason given)"
    line = (f":no_entry_sign: Your export of *{escape(job.reference)}* ({escape(job.customer.name)}) "
            f"was rejected by {user(job.rejected_by)}{reason}")
    hint = (f"Nothing was sent to Xero. Fix the invoice in Forecast if needed, then ask again with "
            f"`/xero export {job.reference}`, or ask {user(job.rejected_by)} about it.")
    text = f"Your export of {job.reference} was rejected by {user(job.rejected_by)}{reason}"
    return message(text, [section(line), context(hint)])


# ----------------------------------------------------------------------------- click refusals


def click_refused(refusal) -> dict:
    job = refusal.job
    reason = refusal.reason
    if reason == "not_found":
        return error_message("That export request no longer exists.")
    if reason == "not_approver":
        return error_message("Only approvers can decide on exports.", _who_approves(refusal.approvers))
    if reason == "own_request":
        return error_message("You asked for this export, so someone else must approve it.",
                             "Ask another approver to click Approve.")
    if reason == "already_approved_by_you":
        return error_message(f"You already approved {escape(job.reference)}; its approval rule needs "
                             "a different person too.", "Nothing was changed: ask another approver to click Approve.")
    if reason == "needs_named":
        who = ", ".join(user(u) for u in refusal.needed) or "the approvers its rule names"
        return error_message(f"{escape(job.reference)} must be approved by one of {who}, "
                             "so your click cannot be the last approval.", "Nothing was changed.")
    if reason == "choose_tenant":
        return error_message("Choose the organisation first, then click Approve.",
                             "The client of this invoice is not linked to one organisation yet.")
    if reason == "unknown_tenant":
        return error_message("That organisation is not one of the choices for this export.")
    if reason == "tenant_removed":
        return error_message("That organisation is no longer connected, so nothing was exported.",
                             "Choose another one, or an admin can connect it again with `/xero connect`.")
    if reason == "not_exportable":
        where = escape(job.tenant_name or job.check_tenant_name or "the organisation")
        words = check_words(job.check, job.check_data, job.invoice.currency)
        hint = ("An admin can click *Export again anyway* to export it a second time."
                if job.check == "exported_to_removed_org"
                else "Fix it in Xero, in Forecast or in `/xero settings`, then click Approve again: it checks again. "
                     "Nothing was exported.")
        return error_message(f"{escape(job.reference)} cannot go into {where} as it is: {words}", hint)
    if reason == "not_admin":
        return error_message("Only a workspace admin can choose to export an invoice again to a second organisation.")
    if reason == "reopened_elsewhere":
        return error_message(f"{job.reference} was asked for again since this failed, so retry that request instead.",
                             "Nothing was changed.")
    if reason == "not_retryable":
        return error_message(f"{job.reference} {_state_phrase(job)}, so there is nothing to retry.")
    return error_message(f"{job.reference} {_state_phrase(job)}.", "Nothing was changed.")


def _state_phrase(job) -> str:
    if job.state in (APPROVED, EXPORTING):
        return f"was already approved by {user(job.approved_by)}" if job.approved_by else "is being exported"
    if job.state == EXPORTED:
        who = f" (approved by {user(job.approved_by)})" if job.approved_by else ""
        return f"was already exported{who}"
    if job.state == REJECTED:
        return f"was already rejected by {user(job.rejected_by)}"
    if job.state == FAILED:
        return "already failed; use its Retry button"
    return "is still waiting for approval"


def _who_approves(policy) -> str:
    if policy is None or policy.admins_only:
        return "Approvers are the workspace admins (an admin can name approvers with `/xero settings`)."
    who = [user(u) for u in policy.users]
    if policy.usergroup:
        who.append(f"<!subteam^{policy.usergroup}>")
    return "Approvers: " + ", ".join(who) + "."


# ----------------------------------------------------------------------------- reject modal


def reject_modal(job, *, channel_id: str | None) -> dict:
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK_ID,
        "private_metadata": json.dumps({"job_id": job.job_id, "channel_id": channel_id}),
        "title": plain("Reject export"),
        "submit": plain("Reject"),
        "close": plain("Cancel"),
        "blocks": [
            section(f"Reject the export of *{escape(job.reference)}* ({escape(job.customer.name)}, "
                    f"{money(job.invoice.currency, job.invoice.total)})?"),
            {
                "type": "input",
                "block_id": REJECT_REASON_BLOCK,
                "optional": True,
                "label": plain("Reason"),
                "element": {"type": "plain_text_input", "action_id": REJECT_REASON_ACTION, "multiline": True,
                            "max_length": 500},
            },
        ],
    }
