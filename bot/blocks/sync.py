"""Words for what flows back from Xero: invoice status lines, thread replies, client changes, /xero sync."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.blocks import exports as export_blocks
from bot.blocks.common import actions, button, context, escape, message, section
from bot.blocks.errors import problem_words
from services.shared.problems import Problem

CLIENT_FIELD_NAMES = {"name": "Name", "street": "Street", "zip": "Post code", "city": "City",
                      "country": "Country", "vat_number": "VAT number"}
LINE_FIELD_NAMES = {"description": "description", "quantity": "quantity", "unit_amount": "unit price",
                    "discount": "discount %"}
TOTAL_NAMES = {"sub_total": "Total before tax", "total_tax": "Tax", "total": "Total"}
STATUS_WORDS = export_blocks.IN_XERO_WORDS


def number(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):,.2f}"


def amount(currency: str | None, value: Decimal | None) -> str:
    return f"{currency or ''} {number(value)}".strip()


def day(value: date | None) -> str:
    return f"{value.day} {value:%b}" if value else "an unknown date"


def status_line(report) -> str:
    """One line for the approval message, e.g. *Paid 1,200.00 of GBP 1,200.00 on 3 Dec*."""
    return export_blocks.in_xero_line(report.status, report.currency)


def thread_replies(report) -> list[dict]:
    """One reply per change, oldest first: payments, then the status, then edits and problems."""
    replies = []
    for payment in report.payments_recorded:
        replies.append(payment_recorded(report, payment))
        if not payment.exact:
            replies.append(inexact_payment(report, payment))
    replies += [payment_removed(report, payment) for payment in report.payments_removed]
    if report.status_changed and report.previous_status is not None:
        replies.append(status_reply(report))
    if report.line_differences:
        replies.append(lines_edited(report))
    replies += [forecast_problem(report, problem) for problem in report.problems]
    if report.forecast_key_missing and (report.payments_recorded or report.status.amount_paid):
        replies.append(key_missing(report))
    return replies


CREDIT_NAMES = {"credit_note": "Credit note", "overpayment": "An overpayment", "prepayment": "A prepayment"}


def credit_name(payment) -> str:
    """*Credit note CN-0001*, *An overpayment*: which credit a Forecast payment stands for."""
    if payment.kind == "credit_note":
        return f"Credit note {payment.credit_number}" if payment.credit_number else "A credit note"
    return CREDIT_NAMES.get(payment.kind, "A credit")


def payment_recorded(report, payment) -> dict:
    ref = escape(report.reference)
    if payment.kind != "payment":
        text = (f":heavy_plus_sign: {escape(credit_name(payment))} of {amount(report.currency, payment.amount)} was "
                f"applied to {ref} in Xero on {day(payment.paid_on)}, so it was added to {ref} in Forecast as a "
                f"payment.")
        return message(text, [section(text)])
    text = (f":heavy_plus_sign: A payment of {amount(report.currency, payment.amount)} on {day(payment.paid_on)} "
            f"was recorded in Xero and added to {ref} in Forecast.")
    return message(text, [section(text)])


def payment_removed(report, payment) -> dict:
    ref = escape(report.reference)
    if payment.kind != "payment":
        text = (f":heavy_minus_sign: {escape(credit_name(payment))} of {amount(report.currency, payment.amount)} no "
                f"longer applies to {ref} in Xero (its allocation was removed or it was voided), so its payment "
                f"was deleted from {ref} in Forecast.")
        return message(text, [section(text)])
    text = (f":heavy_minus_sign: A payment of {amount(report.currency, payment.amount)} was removed in Xero, so it "
            f"was deleted from {ref} in Forecast.")
    return message(text, [section(text)])


def forecast_problem(report, problem: Problem | str) -> dict:
    said = problem_words(problem)
    text = f":warning: Forecast could not be updated for {escape(report.reference)}: {escape(said)}"
    return message(text, [section(text), context("The next sync tries again.")])


def key_missing(report) -> dict:
    text = f":warning: Payments on {escape(report.reference)} were not copied to Forecast: no Forecast API key is set."
    return message(text, [section(text), context("An admin can add one with `/xero settings`.")])


def status_reply(report) -> dict:
    ref, label = escape(report.reference), report.status.label
    if label in ("voided", "deleted"):
        text = (f":no_entry: {ref} was {label} in Xero. Nothing was deleted in Forecast: "
                f"remove or credit it there if it should go.")
    else:
        line = status_line(report)
        detail = "" if line in export_blocks.IN_XERO_SHORT.values() else f": {escape(line)}"
        text = f":arrows_counterclockwise: {ref} is now {STATUS_WORDS[label]} in Xero{detail}."
    return message(text, [section(text)])


def inexact_payment(report, payment) -> dict:
    ref, currency = escape(report.reference), report.currency
    text = (f":warning: Forecast kept {amount(currency, payment.forecast_amount)} for the payment of "
            f"{amount(currency, payment.amount)} on {ref}: it cannot hold this amount exactly.")
    return message(text, [section(text),
                          context("Correct the payment in Forecast by hand; Xero has the exact amount.")])


def lines_edited(report) -> dict:
    ref = escape(report.reference)
    bullets = []
    for difference in report.line_differences:
        before, after = escape(difference.before or "—"), escape(difference.after or "—")
        if difference.what == "line_added":
            bullets.append(f"• Line {difference.line} added: {after}")
        elif difference.what == "line_removed":
            bullets.append(f"• Line {difference.line} removed: {before}")
        elif difference.what in TOTAL_NAMES:
            bullets.append(f"• {TOTAL_NAMES[difference.what]}: {before} → {after}")
        else:
            bullets.append(f"• Line {difference.line} {LINE_FIELD_NAMES[difference.what]}: {before} → {after}")
    text = f":memo: {ref} was edited in Xero after the export:"
    return message(text, [section(text + "\n" + "\n".join(bullets[:20])),
                          context("Forecast was not changed; edit the invoice there too if it should match.")])


def paid_notice(report) -> dict:
    """The requester's DM once nothing is due: paid, credited, or both."""
    word = "is settled" if report.status.amount_credited and not report.status.amount_paid else "is paid"
    text = f":tada: {report.reference} {word}: {status_line(report)}."
    return message(text, [section(f":tada: *{escape(report.reference)}* {word}: {escape(status_line(report))}.")])


def unlinked_invoice_notice(report) -> dict:
    """For an invoice whose approval message is unknown: everything in one message."""
    text = f"{report.reference} changed in Xero: {status_line(report)}"
    blocks = [section(f":receipt: *{escape(report.reference)}* changed in Xero: {escape(status_line(report))}")]
    for reply in thread_replies(report):
        blocks.extend(reply["blocks"])
    return message(text, blocks[:50])


def client_changed(report, tenant_name: str) -> dict:
    client = escape(report.client_name)
    if report.problem:
        text = (f":warning: {client} changed in Xero ({escape(tenant_name)}), but the Forecast client could not "
                f"be updated: {escape(problem_words(report.problem))}")
        return message(text, [section(text), context("The next sync tries again.")])
    bullets = "\n".join(f"• {CLIENT_FIELD_NAMES[c.field]}: {escape(c.before or '—')} → {escape(c.after or '—')}"
                        for c in report.changes)
    text = f":bust_in_silhouette: {client} changed in Xero ({escape(tenant_name)}); the Forecast client was updated:"
    return message(text, [section(f"{text}\n{bullets}")])


def sync_started(requested) -> dict:
    """The answer to /xero sync: which organisations are read now, which wait for tomorrow's calls."""
    if not requested:
        text = "No Xero organisation is connected, so there is nothing to sync."
        return message(text, [section(f":information_source: {text}"),
                              context("An admin can connect one with `/xero connect`.")])
    now = [r.tenant_name for r in requested if not r.postponed]
    later = [r.tenant_name for r in requested if r.postponed]
    blocks, parts = [], []
    if now:
        names = ", ".join(f"*{escape(n)}*" for n in now)
        blocks.append(section(f":arrows_counterclockwise: Syncing {names} now. I will tell you what changed."))
        parts.append(f"Syncing {len(now)} organisation{'s' if len(now) != 1 else ''} with Xero now.")
    if later:
        names = ", ".join(f"*{escape(n)}*" for n in later)
        blocks.append(section(f":hourglass: Not syncing {names}: the rest of today's Xero calls are kept for "
                              f"exports. Sync resumes when Xero's daily limit allows."))
        parts.append(f"{len(later)} organisation{'s' if len(later) != 1 else ''} postponed.")
    return message(" ".join(parts), blocks)


def sync_answer(summary) -> dict:
    name = escape(summary.tenant_name)
    if summary.failure:
        failure = problem_words(summary.failure)
        text = f"{summary.tenant_name}: Xero could not be read: {failure}"
        return message(text, [section(f":warning: *{name}*: Xero could not be read: {escape(failure)}"),
                              context("Nothing was changed. The next sync tries again.")])
    if summary.postponed:
        text = (f"{summary.tenant_name}: sync postponed — the rest of today's Xero calls are kept for exports. "
                f"It resumes within an hour.")
        return message(text, [section(f":hourglass: *{name}*: sync postponed — the rest of today's Xero calls "
                                      f"are kept for exports. It resumes within an hour.")])
    lines = [f"• {escape(r.reference)}: {escape(_invoice_summary(r))}" for r in summary.invoices]
    lines += [f"• {escape(r.client_name)}: " + _client_summary(r) for r in summary.contacts]
    if not lines:
        text = f"{summary.tenant_name}: nothing changed in Xero since the last sync."
        return message(text, [section(f":white_check_mark: *{name}*: nothing changed in Xero since the last sync.")])
    text = f"{summary.tenant_name}: {len(lines)} change{'s' if len(lines) != 1 else ''} from Xero."
    changes = "\n".join(lines[:30])
    return message(text, [section(f":arrows_counterclockwise: *{name}*: what changed in Xero\n{changes}")])


def _client_summary(report) -> str:
    if report.problem:
        return f"could not update ({escape(problem_words(report.problem))})"
    return ", ".join(CLIENT_FIELD_NAMES[c.field] for c in report.changes) + " updated in Forecast"


def _invoice_summary(report) -> str:
    parts = [status_line(report)]
    payments = [p for p in report.payments_recorded if p.kind == "payment"]
    credits = [p for p in report.payments_recorded if p.kind != "payment"]
    if payments:
        parts.append(f"{len(payments)} payment{'s' if len(payments) != 1 else ''} added in Forecast")
    if credits:
        parts.append(f"{len(credits)} credit{'s' if len(credits) != 1 else ''} added in Forecast as payments")
    if report.payments_removed:
        parts.append(f"{len(report.payments_removed)} removed in Forecast")
    if report.line_differences:
        parts.append("edited in Xero")
    if report.problems:
        parts.append("Forecast could not be updated")
    return " · ".join(parts)


# ----------------------------------------------------------------- the drift report

DRIFT_RESYNC_ACTION = "drift_resync"
DRIFT_ITEMS_SHOWN = 12  # two blocks each, well inside Slack's 50
DIFFERENCE_WORDS = {
    "total": "Total: exported {currency} {expected}, Xero has {currency} {actual}",
    "forecast_total": "Total in Forecast: exported {currency} {expected}, Forecast has {currency} {actual} now",
    "status": "Status: Ledgerline last saw it {expected}, Xero says {actual} (a change that did not reach the bot)",
    "amount_due": "Amount due: Ledgerline last saw {currency} {expected}, Xero says {currency} {actual}",
    "payments": "Payments: Forecast holds {currency} {expected}, Xero has {currency} {actual} paid or credited",
    "missing_in_xero": "Xero no longer returns this invoice",
    "voided_in_xero": "Xero says {actual}; Forecast still has it as {expected}",
    "forecast_status": "Forecast has it as a draft again; Xero says {actual}",
    "forecast_missing": "It is gone from Forecast but still in Xero",
    "export_failed": "Its export failed and was not retried: Forecast has it, Xero does not",
}
NOT_CHECKED_WORDS = {"budget": "today's Xero calls are kept for exports", "xero_error": "Xero could not be read"}


def drift_report(report) -> dict:
    """The invoices that disagree, each with what differs and a way to fix it (Retry, Re-sync, Open in Xero)."""
    count = len(report.items)
    noun = "invoice disagrees" if count == 1 else "invoices disagree"
    when = "after `/xero sync`" if report.run.startswith("sync:") else "today's check"
    text = f"Drift check: {count} {noun} between Ledgerline, Xero and Forecast."
    blocks = [section(f":mag: *Drift check* ({when}): {count} {noun} between Ledgerline, Xero and Forecast.")]
    for number, item in enumerate(report.items[:DRIFT_ITEMS_SHOWN]):
        where = f" · {escape(item.tenant_name)}" if item.tenant_name else ""
        lines = [f"• {escape(_difference_words(d, item.currency))}" for d in item.differences]
        blocks.append(section(f"*{escape(item.reference)}*{where}\n" + "\n".join(lines)))
        buttons = []
        for fix in item.fixes:
            if fix == "retry" and item.export_id:
                buttons.append(button("Retry", export_blocks.RETRY_ACTION, item.export_id,
                                                    style="primary"))
            elif fix == "resync" and item.tenant_id:
                buttons.append(button("Re-sync", DRIFT_RESYNC_ACTION, item.tenant_id))
            elif fix == "open_in_xero" and item.xero_url:
                buttons.append(button("Open in Xero", export_blocks.OPEN_XERO_ACTION,
                                                    url=item.xero_url))
        if buttons:
            blocks.append(actions(*buttons, block_id=f"drift_fix_{number}"))
    if count > DRIFT_ITEMS_SHOWN:
        blocks.append(context(f"…and {count - DRIFT_ITEMS_SHOWN} more. `/xero sync` checks again."))
    for skipped in report.not_checked:
        blocks.append(context(f":hourglass: {escape(skipped.tenant_name)} was not checked: "
                              f"{NOT_CHECKED_WORDS[skipped.reason]}."))
    if report.forecast_unread:
        blocks.append(context("Forecast was not compared: no Forecast API key is set, or Forecast could not be read."))
    return message(text, blocks)


def _difference_words(difference, currency: str | None) -> str:
    words = {"draft": "a draft", "authorised": "awaiting payment", **STATUS_WORDS}
    expected, actual = difference.expected or "", difference.actual or ""
    if difference.what in ("status", "voided_in_xero", "forecast_status"):
        expected, actual = words.get(expected, expected.lower()), words.get(actual, actual)
    elif difference.what not in ("missing_in_xero", "forecast_missing", "export_failed"):
        expected, actual = number(Decimal(expected or 0)), number(Decimal(actual or 0))
    return DIFFERENCE_WORDS[difference.what].format(currency=currency or "", expected=expected,
                                                    actual=actual).replace("  ", " ")

