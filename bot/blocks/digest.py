"""The daily digest: every export request still waiting for approval, oldest first."""

from __future__ import annotations

from bot.blocks.common import context, escape, header, message, section, slack_date, user
from bot.blocks.exports import money

LISTED = 40
PER_SECTION = 10


def waiting_digest(jobs, links: dict[str, str | None], day: str) -> dict:
    """`jobs`: pending ExportRequests, oldest first; `links`: job id -> its approval message's permalink."""
    count = len(jobs)
    what = "1 invoice waits" if count == 1 else f"{count} invoices wait"
    blocks = [header(f"Still waiting for approval: {count}"),
              context(f"{what} for an approver · {day}")]
    lines = []
    for job in jobs[:LISTED]:
        reference = escape(job.reference)
        named = f"<{links[job.job_id]}|{reference}>" if links.get(job.job_id) else reference
        lines.append(f"• *{named}* {escape(job.customer.name)} · {money(job.invoice.currency, job.invoice.total)} · "
                     f"asked by {user(job.requested_by)} {slack_date(job.requested_at)}")
    for start in range(0, len(lines), PER_SECTION):
        blocks.append(section("\n".join(lines[start:start + PER_SECTION])))
    if count > LISTED:
        blocks.append(context(f"…and {count - LISTED} more. Approvers see them on the Home tab too."))
    return message(f"Still waiting for approval: {what}", blocks)
