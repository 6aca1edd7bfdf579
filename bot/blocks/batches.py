"""The batch export's words: the requester's one answer, the one approval message per batch, the full list.

A line per invoice: client, total, organisation, and the pre-flight result (or, once exported, what Xero
did). A batch longer than `SHOWN_LINES` shows the lines needing attention first and the rest in a modal
one click away ("See all"), so the message stays far inside Slack's 50 blocks and 3,000 characters a
section. One invoice is a batch of one.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.blocks.common import (
    actions,
    button,
    context,
    escape,
    header,
    message,
    plain,
    section,
    slack_date,
    user,
)
from services.exports.batch_view import BatchLine, BatchView
from services.exports.refs import MAX_BATCH
from services.exports.states import IN_XERO, BatchProgress, Outcome

APPROVE_ALL_ACTION = "batch_approve_all"
APPROVE_READY_ACTION = "batch_approve_ready"
REJECT_ACTION = "batch_reject"
SEE_ALL_ACTION = "batch_see_all"
DUPLICATE_ACTION = "batch_allow_duplicates"  # admins pick invoices to export again despite a removed organisation
DUPLICATE_BLOCK = "batch_allow_duplicates_block"
SEE_ALL_CALLBACK_ID = "batch_all_lines"
LINES_PAGE_ACTION = "batch_lines_page"  # Next / Previous in "See all": the page number to show
CHOOSE_ORGANISATION_ACTION = "batch_choose_organisation"  # a line's (or a client's lines') organisation
REJECT_CALLBACK_ID = "batch_reject_reason"
REJECT_REASON_BLOCK = "reason"
REJECT_REASON_ACTION = "reason"

SHOWN_LINES = 15  # lines on the message itself; the modal shows them all
LINES_PER_SECTION = 10  # ten lines stay well under a section's 3,000 characters
MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
MAX_DUPLICATE_OPTIONS = 100
MAX_OPTIONS = 100  # a static_select's options
CLIENT_PICKERS_ON_MESSAGE = 5  # "all of this client's lines" pickers: 15 line pickers + 5 stay far under 50 blocks
CLIENT_PICKERS_IN_MODAL = 20  # 50 lines + 20 + a few stay under a modal's 100 blocks
MODAL_PAGE_LINES = 100  # "See all" of a longer batch pages, Next / Previous
MODAL_SECTION_LINES = 25  # a modal packs up to 25 lines a section…
MAX_SECTION_TEXT = 3000  # …within a section's 3,000 characters

STATUS_WORDS = {"DRAFT": "Draft", "AUTHORISED": "Approved", "SUBMITTED": "Awaiting approval"}


@dataclass(frozen=True)
class RefusedReference:
    reference: str
    reason: str  # not_found | already_exported | already_requested | bad_range | reversed_range | range_too_long
    #             | too_many | not_sent | no_lines | no_client | client_not_found (services.exports.selection)
    data: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- one line


def money(currency: str | None, amount: Decimal) -> str:
    return f"{currency or ''} {amount:,.2f}".strip()


def line_text(line: BatchLine) -> str:
    where = escape(line.organisation) if line.organisation else "no organisation"
    head = f"`{escape(line.reference)}` {escape(line.client)} · {money(line.currency, line.total)} → {where}"
    return f"{head} — {_result(line)}"


def plan_words(plan: dict[str, Any], currency: str | None) -> str:
    """" · account 200 Sales · tax No VAT (0%), chosen in settings": what the lines will carry in Xero."""
    if not plan:
        return ""
    words = ""
    if plan.get("account_code"):
        name = f" {plan['account_name']}" if plan.get("account_name") else ""
        words += f" · account {escape(plan['account_code'] + name)}"
    taxes = [_tax_words(t) for t in plan.get("taxes") or []]
    if taxes:
        words += " · tax " + ", ".join(taxes) + (" (chosen in `/xero settings`)" if plan.get("tax_chosen") else "")
    differs = plan.get("total_differs")
    if differs:
        words += (f" · :warning: with that tax Xero will total {money(currency, Decimal(differs['computed']))}, "
                  f"Forecast says {money(currency, Decimal(differs['expected']))}")
    return words


def _tax_words(tax: dict[str, Any]) -> str:
    name, percent = str(tax.get("name") or tax.get("tax_type") or ""), tax.get("percent")
    shown = name if percent is None or f"{percent}%" in name else f"{name} ({percent}%)"
    return escape(shown)


def _result(line: BatchLine) -> str:
    if line.outcome is not None:
        return _outcome(line)
    words = _check(line.check, line.check_data, line.currency)
    if line.held:
        return f"{words} · {held_words(line.held)}"
    if line.rules:
        return f"{words} · {rules_words(line.rules, line.approved_by)}"
    return words


def rules_words(rules, approved_by) -> str:
    """The approval rules a pending line is under, short: what they need and who approved so far."""
    needs = []
    if any(r.two_approvers for r in rules):
        needs.append("two different approvers")
    named = sorted({u for r in rules for u in r.approvers})
    if named:
        needs.append("one of " + ", ".join(user(u) for u in named))
    so_far = f" (approved by {', '.join(user(u) for u in approved_by)})" if approved_by else ""
    return f":scales: its approval rule needs {' including '.join(needs)}{so_far}"


def held_words(held: dict[str, Any]) -> str:
    """Why an Approve all left this invoice waiting: its approval rule."""
    approved_by = held.get("approved_by") or []
    named = ", ".join(user(u) for u in held.get("named") or [])
    if held.get("reason") in ("needs_named", "not_approver") and named:
        return f":hourglass: waiting for {named} to approve (its approval rule)"
    if approved_by:
        so_far = ", ".join(user(u) for u in approved_by)
        return (f":hourglass: approved by {so_far} ({len(approved_by)} of {held.get('needed', 2)}): "
                f"waiting for a different approver{f', one of {named}' if named else ''}")
    return ":hourglass: waiting: its approval rule needs another approver"


def _check(code: str, data: dict[str, Any], currency: str | None) -> str:
    if code == "ready":
        return (":large_green_circle: ready" + plan_words(data.get("plan") or {}, currency)
                + tracking_note(data.get("tracking")))
    if code == "already_in_xero":
        return ":link: already in Xero with this number: it will be linked, not created"
    if code == "tracking_unusable":
        return ":no_entry: " + tracking_problem(data.get("tracking") or {})
    if code == "already_exported":
        return ":white_check_mark: already exported" + (f" as {escape(data['xero_number'])}"
                                                         if data.get("xero_number") else "")
    if code == "currency_not_enabled":
        enabled = ", ".join(data.get("enabled") or []) or "none"
        return f":no_entry: {escape(data.get('currency') or currency or '')} is not enabled there (it has {enabled})"
    if code == "account_invalid":
        account = data.get("account_code")
        return (f":no_entry: account {escape(account)} is not an active account there" if account
                else ":no_entry: no active revenue account there")
    if code == "tax_unmapped":
        percents = ", ".join(f"{p}%" for p in data.get("percents") or [])
        return f":no_entry: no active sales tax rate of {percents} there"
    if code == "total_mismatch":
        return (f":no_entry: Xero would total {money(currency, Decimal(data['computed']))}, "
                f"Forecast says {money(currency, Decimal(data['expected']))} (line rounding)")
    if code == "exported_to_removed_org":
        return (":warning: exported before to an organisation since removed: "
                "exported again only if an admin chooses to (it will then exist twice)")
    if code == "not_checked":
        return ":question: not checked yet: Xero could not be asked (it is checked again when exported)"
    if code == "choose_organisation":
        return ":no_entry: not ready: choose its organisation (the client is linked to no single one yet)"
    return f":question: {escape(code)}"


def tracking_note(tracking: dict[str, Any] | None) -> str:
    """What a ready line adds about its tracking option (nothing when the organisation tracks nothing)."""
    if not tracking or not tracking.get("option"):
        return ""
    named = f"{escape(tracking.get('category') or '')}: {escape(tracking['option'])}"
    if tracking.get("tracking") == "will_create":
        return f" · tracked as {named} (a new option, created in Xero when exported)"
    return f" · tracked as {named}"


def tracking_problem(tracking: dict[str, Any]) -> str:
    category = escape(tracking.get("category") or "the tracking category")
    option = escape(tracking.get("option") or "")
    status = tracking.get("tracking")
    if status == "archived":
        return (f"the tracking option {option} is archived in {category} in Xero: restore it there, "
                "or change the tracking choice in `/xero settings`")
    if status == "cannot_create":
        return (f"{category} has no option {option}, and I can't create one: the connection lacks Xero's "
                "accounting.settings permission. Add the option in Xero, or reconnect with `/xero connect`")
    if status == "missing":
        return f"{category} no longer has the option {option}: choose another in `/xero settings`"
    if status == "category_gone":
        return f"the tracking category {category} is gone or archived in Xero: choose another in `/xero settings`"
    if status == "no_name":
        return f"nothing to name its {category} option after (the invoice has no project in Forecast)"
    return f"its {category} option cannot be used"


def _outcome(line: BatchLine) -> str:
    status = STATUS_WORDS.get(line.xero_status or "", line.xero_status or "")
    number = escape(line.xero_number or line.reference)
    named = f"<{line.url}|{number}>" if line.url else number
    if line.outcome in IN_XERO:
        verb = {Outcome.CREATED: "created", Outcome.FOUND_IN_XERO: "linked (was in Xero)",
                Outcome.LINKED_EXISTING: "linked (was in Xero)",
                Outcome.ALREADY_LINKED: "already exported"}[line.outcome]
        text = f":white_check_mark: {verb} as {named}" + (f" ({status})" if status else "")
        if line.xero_total is not None:
            text += f", Xero total {money(line.currency, line.xero_total)}"
        if line.total_differs:
            text += f" :warning: *differs from Forecast's {money(line.currency, line.total)}*"
        return text
    if line.outcome == Outcome.WAITING:
        return ":hourglass: waiting for Xero's daily limit"
    if line.outcome == Outcome.NOT_EXPORTABLE:
        return _check(line.check, line.check_data, line.currency) + " — not exported"
    if line.outcome == "withdrawn":
        why = "deleted in Forecast" if "forecast_deleted" in line.messages else "back in Draft in Forecast"
        return f":leftwards_arrow_with_hook: withdrawn: {why}"
    if line.outcome == Outcome.LEFT_OUT:
        return (":heavy_minus_sign: left out (approved were only the ready ones): "
                f"`/xero export {escape(line.reference)}` asks for it again")
    said = "; ".join(escape(m) for m in _why_failed(line)) or "no reason given"
    return f":x: Xero refused it: {said}"


def _why_failed(line: BatchLine) -> tuple[str, ...]:
    """Xero's own words; else why the request failed, as a single export words it."""
    if line.messages or line.failed is None:
        return line.messages
    from bot.blocks.exports import failure_words  # that module builds on this one's line words

    return (failure_words(line.failed)[0],)


# ----------------------------------------------------------------------------- the approval message


def batch_approval_message(view: BatchView) -> dict:
    lines = list(view.lines)
    shown = _shown(lines)
    blocks = [
        header(_title(view)),
        section(_summary(view)),
        context(f"{_requested_by(view)} · invoices are created in Xero as "
                f"*{STATUS_WORDS.get(view.export_status, view.export_status)}*"),
    ]
    blocks += _line_sections(shown, _choosing(view))
    if len(shown) < len(lines):
        blocks.append(context(f"…and {len(lines) - len(shown)} more: every line is under *See all*."))
    blocks += _state_blocks(view)
    return message(_title(view), blocks[:MAX_MESSAGE_BLOCKS])


FORECAST_DID = {"APPROVED": "approved", "SENT": "sent"}


def _requested_by(view: BatchView) -> str:
    if not view.origins:
        return f"Requested by {user(view.requested_by)}"
    said = [f"{escape(reference)} was {FORECAST_DID.get(status, 'approved or sent')} in Forecast"
            + (f" by {escape(who)}" if who else "") for reference, status, who in view.origins[:5]]
    more = f" (and {len(view.origins) - 5} more)" if len(view.origins) > 5 else ""
    return ":robot_face: Asked for by itself: " + "; ".join(said) + more


def batch_lines_modal(view: BatchView, page: int = 0) -> dict:
    """Every line, `MODAL_PAGE_LINES` a page, packed in sections. While pending, the client pickers come
    first and a line whose organisation is to be chosen has a section of its own with a picker, as many of
    the page's as fit in a modal's 100 blocks (the rest name the client pickers)."""
    lines = list(view.lines)
    pages = max(1, -(-len(lines) // MODAL_PAGE_LINES))
    page = min(max(page, 0), pages - 1)
    on_page = lines[page * MODAL_PAGE_LINES:(page + 1) * MODAL_PAGE_LINES]
    head = [section(_summary(view))] + _client_pickers(view, CLIENT_PICKERS_IN_MODAL)
    tail = _page_controls(view, page, pages, len(lines))
    choosing = _choosing(view)
    pickable = [line for line in on_page if line.choices and line.job_id] if choosing else []
    budget = MAX_MODAL_BLOCKS - len(head) - len(tail) - 1  # one for the note on lines left without a picker
    with_picker = len(pickable)
    body = _packed_sections(on_page, choosing, set(id(line) for line in pickable))
    while len(body) > budget and with_picker > 0:
        with_picker = max(0, with_picker - 5)
        body = _packed_sections(on_page, choosing, set(id(line) for line in pickable[:with_picker]))
    if with_picker < len(pickable):
        body.append(context(f"A picker is on the first {with_picker} lines here whose organisation is to be chosen; "
                            "choose the others with their client's picker above, or choose these first."))
    return {
        "type": "modal",
        "callback_id": SEE_ALL_CALLBACK_ID,
        "title": plain("Invoices in this batch"),
        "close": plain("Close"),
        "private_metadata": json.dumps({"batch_id": view.batch_id, "page": page}),
        "blocks": (head + body + tail)[:MAX_MODAL_BLOCKS],
    }


def _page_controls(view: BatchView, page: int, pages: int, count: int) -> list[dict]:
    if pages == 1:
        return []
    first = page * MODAL_PAGE_LINES + 1
    last = min(count, (page + 1) * MODAL_PAGE_LINES)
    buttons = []
    if page > 0:
        buttons.append(button("Previous", LINES_PAGE_ACTION, str(page - 1)))
    if page < pages - 1:
        buttons.append(button("Next", LINES_PAGE_ACTION, str(page + 1)))
    return [context(f"Lines {first}–{last} of {count} · page {page + 1} of {pages}"), actions(*buttons)]


def read_page(value: str | None) -> int | None:
    """The page a Next / Previous button asks for; None when the value is not one of ours."""
    return int(value) if value and value.isdigit() and len(value) < 6 else None


def _packed_sections(lines: list[BatchLine], batch_id: str | None, pickers: set[int]) -> list[dict]:
    """Lines packed up to `MODAL_SECTION_LINES` a section within its 3,000 characters; a line in `pickers`
    (ids of BatchLines) gets a section of its own with the picker."""
    blocks: list[dict] = []
    texts: list[str] = []
    size = 0
    for line in lines:
        if batch_id and id(line) in pickers:
            blocks += _pack(texts)
            texts, size = [], 0
            blocks.append(section(line_text(line)[:MAX_SECTION_TEXT], accessory=_picker(
                f"{batch_id}:{line.job_id}", line.choices, line.tenant_id, "Choose organisation")))
            continue
        text = line_text(line)[:MAX_SECTION_TEXT]
        if texts and (len(texts) == MODAL_SECTION_LINES or size + 1 + len(text) > MAX_SECTION_TEXT):
            blocks += _pack(texts)
            texts, size = [], 0
        texts.append(text)
        size += len(text) + 1
    return blocks + _pack(texts)


def _pack(texts: list[str]) -> list[dict]:
    return [section("\n".join(texts))] if texts else []


def _title(view: BatchView) -> str:
    count = len(view.lines)
    what = "1 invoice" if count == 1 else f"{count} invoices"
    return {
        BatchProgress.PENDING: f"Export {what} to Xero?",
        BatchProgress.EXPORTING: f"Exporting {what} to Xero…",
        BatchProgress.WAITING: f"Exporting {what} to Xero: waiting for Xero's daily limit",
        BatchProgress.DONE: _done_title(view),
        BatchProgress.REJECTED: f"Export of {what} rejected",
    }[view.state]


EXPORTED_OUTCOMES = (Outcome.CREATED, Outcome.LINKED_EXISTING, Outcome.ALREADY_LINKED, Outcome.FOUND_IN_XERO)


def _done_title(view: BatchView) -> str:
    """Counts what happened: "Exported 2 of 5 invoices to Xero", never all five when three did not go."""
    count, exported = len(view.lines), sum(line.outcome in EXPORTED_OUTCOMES for line in view.lines)
    if exported == count:
        return f"Exported {'1 invoice' if count == 1 else f'{count} invoices'} to Xero"
    if exported == 0:
        return f"None of {'the invoice' if count == 1 else f'the {count} invoices'} went to Xero"
    return f"Exported {exported} of {count} invoices to Xero"


def _summary(view: BatchView) -> str:
    lines = view.lines
    if view.state == BatchProgress.PENDING or all(line.outcome is None for line in lines):
        counts = Counter("ready" if line.check == "ready" else "link" if line.check == "already_in_xero"
                         else "attention" for line in lines)
        parts = [f"*{counts['ready']}* ready"]
        if counts["link"]:
            parts.append(f"*{counts['link']}* already in Xero (linked, not created)")
        if counts["attention"]:
            verb = "needs" if counts["attention"] == 1 else "need"
            parts.append(f"*{counts['attention']}* {verb} attention first")
        return " · ".join(parts)
    done = Counter(line.outcome for line in lines)  # None: not exported yet
    parts = [f"*{done[Outcome.CREATED]}* created"]
    linked = done[Outcome.LINKED_EXISTING] + done[Outcome.FOUND_IN_XERO] + done[Outcome.ALREADY_LINKED]
    if linked:
        parts.append(f"*{linked}* linked")
    if done[Outcome.FAILED]:
        parts.append(f"*{done[Outcome.FAILED]}* refused by Xero")
    if done[Outcome.NOT_EXPORTABLE]:
        parts.append(f"*{done[Outcome.NOT_EXPORTABLE]}* not exportable")
    if done[Outcome.LEFT_OUT]:
        parts.append(f"*{done[Outcome.LEFT_OUT]}* left out (to ask for again)")
    if done[Outcome.WAITING] or done[None]:
        parts.append(f"*{done[Outcome.WAITING] + done[None]}* to go")
    differ = sum(line.total_differs for line in lines)
    if differ:
        parts.append(f":warning: *{differ}* with a Xero total that differs from Forecast's")
    return " · ".join(parts)


def _shown(lines: list[BatchLine]) -> list[BatchLine]:
    """All of a short batch; of a long one, the lines needing attention first."""
    if len(lines) <= SHOWN_LINES:
        return lines
    ordered = sorted(lines, key=lambda line: not line.needs_attention)  # stable: keeps the batch's order
    return ordered[:SHOWN_LINES]


def _line_sections(lines: list[BatchLine], batch_id: str | None = None) -> list[dict]:
    """Ten lines a section. With `batch_id` (a pending batch), a line whose organisation an approver picks
    gets a section of its own with the picker."""
    blocks: list[dict] = []
    group: list[BatchLine] = []
    for line in lines:
        if batch_id and line.choices and line.job_id:
            blocks += _grouped(group)
            group = []
            blocks.append(section(line_text(line), accessory=_picker(
                f"{batch_id}:{line.job_id}", line.choices, line.tenant_id, "Choose organisation")))
        else:
            group.append(line)
    return blocks + _grouped(group)


def _grouped(lines: list[BatchLine]) -> list[dict]:
    return [section("\n".join(line_text(line) for line in lines[i:i + LINES_PER_SECTION]))
            for i in range(0, len(lines), LINES_PER_SECTION)]


def _choosing(view: BatchView) -> str | None:
    """The batch id the pickers carry, while an approver can still choose."""
    return view.batch_id if view.state == BatchProgress.PENDING else None


def _picker(target: str, choices: tuple[tuple[str, str], ...], chosen: str | None, placeholder: str) -> dict:
    options = [{"text": plain(name[:75]), "value": f"{target}:{tenant_id}"[:150]}
               for tenant_id, name in choices[:MAX_OPTIONS]]
    picker = {"type": "static_select", "action_id": CHOOSE_ORGANISATION_ACTION, "placeholder": plain(placeholder),
              "options": options}
    initial = next((o for o, (tenant_id, _) in zip(options, choices, strict=False) if tenant_id == chosen), None)
    if initial is not None:
        picker["initial_option"] = initial
    return picker


def _client_pickers(view: BatchView, limit: int) -> list[dict]:
    """One picker for all of a client's lines whose organisation is to be chosen (two or more of them)."""
    batch_id = _choosing(view)
    if batch_id is None:
        return []
    by_client: dict[int, list[BatchLine]] = {}
    for line in view.lines:
        if line.choices and line.client_id is not None:
            by_client.setdefault(line.client_id, []).append(line)
    blocks = []
    for client_id, lines in [(c, ls) for c, ls in by_client.items() if len(ls) > 1][:limit]:
        chosen = {line.tenant_id for line in lines}
        blocks.append(section(
            f"*{escape(lines[0].client)}*: the organisation of all {len(lines)} of its invoices here",
            accessory=_picker(f"{batch_id}:client-{client_id}", lines[0].choices,
                              chosen.pop() if len(chosen) == 1 else None, "Choose for all")))
    return blocks


@dataclass(frozen=True)
class OrganisationChoice:
    """What a picker's option carries: the batch, the line (a job id) or client, the organisation."""

    batch_id: str
    tenant_id: str
    job_id: str | None = None
    client_id: int | None = None


def read_organisation_choice(value: str) -> OrganisationChoice | None:
    """None when the value is not one our pickers made."""
    parts = value.split(":", 2)
    if len(parts) != 3 or not all(parts):
        return None
    batch_id, target, tenant_id = parts
    if target.startswith("client-"):
        number = target.removeprefix("client-")
        return OrganisationChoice(batch_id, tenant_id, client_id=int(number)) if number.isdigit() else None
    return OrganisationChoice(batch_id, tenant_id, job_id=target)


def _state_blocks(view: BatchView) -> list[dict]:
    if view.state == BatchProgress.PENDING:
        return _pending_controls(view)
    if view.state == BatchProgress.WAITING:
        when = slack_date(view.resumes_at) if view.resumes_at else "tomorrow"
        return [context(f":hourglass: Xero's daily call limit for an organisation is nearly used up: the rest "
                        f"goes on by itself {when}. Approved by {user(view.decided_by or view.requested_by)}.")]
    if view.state == BatchProgress.REJECTED and view.decided_by == "forecast":  # every invoice withdrawn in Forecast
        return [context(":leftwards_arrow_with_hook: Withdrawn: its invoices are back in Draft or deleted in Forecast. "
                        "Nothing was exported.")]
    if view.state == BatchProgress.REJECTED:
        reason = f": {escape(view.reason)}" if view.reason else " (no reason given)" if view.decided_by else ""
        return [context(f":no_entry_sign: Rejected by {user(view.decided_by or '')}{reason}")]
    controls = [context(f"Approved by {user(view.decided_by)}")] if view.decided_by else []
    if len(view.lines) > SHOWN_LINES:
        controls.append(actions(button("See all", SEE_ALL_ACTION, view.batch_id)))
    return controls


def _pending_controls(view: BatchView) -> list[dict]:
    ready = sum(line.ready for line in view.lines)
    buttons = [button(f"Approve all ({len(view.lines)})" if len(view.lines) > 1 else "Approve",
                      APPROVE_ALL_ACTION, view.batch_id, style="primary")]
    if 0 < ready < len(view.lines):
        buttons.append(button(f"Approve ready only ({ready})", APPROVE_READY_ACTION, view.batch_id))
    buttons.append(button("Reject", REJECT_ACTION, view.batch_id, style="danger"))
    if len(view.lines) > SHOWN_LINES:
        buttons.append(button("See all", SEE_ALL_ACTION, view.batch_id))
    blocks = _client_pickers(view, CLIENT_PICKERS_ON_MESSAGE)
    twice = [line for line in view.lines if line.check == "exported_to_removed_org"][:MAX_DUPLICATE_OPTIONS]
    if twice:
        blocks.append(section(
            ":warning: *Exported before to an organisation that was since removed.* Pick those an admin wants "
            "exported again anyway: they will then exist in two organisations.",
            block_id=DUPLICATE_BLOCK,
            accessory={"type": "multi_static_select", "action_id": DUPLICATE_ACTION,
                       "placeholder": plain("Export again anyway…"),
                       "options": [{"text": plain(line.reference[:75]), "value": line.reference[:150]}
                                   for line in twice]}))
    if ready < len(view.lines):
        blocks.append(context("*Approve all* checks each invoice again when it is exported: one fixed by then "
                              "(in Xero, Forecast or `/xero settings`) goes too, the others are reported. "
                              "*Approve ready only* leaves the others out."))
    blocks.append(actions(*buttons))
    return blocks


# ----------------------------------------------------------------------------- the requester's one answer


def batch_requested(requested: int, refused: list[RefusedReference], view: BatchView | None,
                    approval_channel: str | None) -> dict:
    """What the requester hears, once: what went for approval and what was refused, and why."""
    blocks: list[dict] = []
    if view is not None and view.lines:
        count = len(view.lines)
        what = "1 invoice" if count == 1 else f"{count} invoices"
        where = f"<#{approval_channel}>" if approval_channel else "the approval channel"
        blocks.append(section(f":outbox_tray: {what} went to {where} for approval: {_summary(view)}."))
        blocks.append(section(_references(view.lines)))
        text = f"{what} went for approval"
    else:
        blocks.append(section(":warning: Nothing went for approval."))
        text = "Nothing went for approval"
    if refused:
        listed = [f"• `{escape(r.reference)}` — {refusal_reason(r)}" for r in refused[:40]]
        if len(refused) > 40:
            listed.append(f"…and {len(refused) - 40} more")
        blocks.append(section(f"*Not sent ({len(refused)} of {max(requested, len(refused))}):*\n" + "\n".join(listed)))
        text += f"; {len(refused)} not sent"
    if view is not None:  # only when something went: nothing will be approved or rejected otherwise
        blocks.append(context("You will hear back here or in a DM when they are approved or rejected."))
    return message(text, blocks)


def _references(lines: tuple[BatchLine, ...]) -> str:
    """The batch's references, as many as a section holds (a month-end of 500 does not)."""
    listed: list[str] = []
    size = 0
    for n, line in enumerate(lines):
        reference = f"`{escape(line.reference)}`"
        if size + len(reference) + 2 > MAX_SECTION_TEXT - 40:
            return ", ".join(listed) + f" …and {len(lines) - n} more"
        listed.append(reference)
        size += len(reference) + 2
    return ", ".join(listed)


def refusal_reason(refused: RefusedReference) -> str:
    data = refused.data
    reasons = {
        "not_found": "no Forecast invoice has this reference",
        "already_exported": f"already in Xero ({escape(data.get('organisation', 'an organisation'))})",
        "already_requested": "already waiting for approval",
        "bad_range": "a range needs the same prefix at both ends and numbers at the end, like INV-101..INV-130",
        "reversed_range": "the range runs backwards: put the smaller number first",
        "range_too_long": f"the range has {data.get('count', 'too many')} invoices; "
                          f"at most {MAX_BATCH} go in one request",
        "too_many": f"at most {data.get('limit', MAX_BATCH)} invoices go in one batch: ask again for these",
        "not_sent": "not sent (only approved or sent Forecast invoices are exported)",
        "no_lines": "it has no lines in Forecast: nothing to export",
        "no_client": "it has no client in Forecast, so nobody to bill",
        "client_not_found": "no Forecast client has this name",
    }
    return reasons.get(refused.reason, escape(refused.reason))


def problems_as_refusals(problems) -> list[RefusedReference]:
    """services.exports.refs problems, as lines of the requester's answer."""
    refused = []
    for problem in problems:
        if problem.code == "too_many":
            refused += [RefusedReference(reference, "too_many") for reference in problem.text.split()]
        else:
            refused.append(RefusedReference(problem.text, problem.code, {"count": problem.count}))
    return refused


# ----------------------------------------------------------------------------- after the decision


def batch_requester_notice(view: BatchView, link: str | None) -> dict:
    """The requester's one DM once every invoice of the batch is decided."""
    title = _title(view)
    where = f" <{link}|See the approval message>." if link else ""
    blocks = [section(f"*{escape(title)}* — {_summary(view)}.{where}")]
    attention = [line for line in view.lines if line.needs_attention][:SHOWN_LINES]
    blocks += _line_sections(attention)
    if view.state == BatchProgress.REJECTED:
        blocks += _state_blocks(view)
        blocks.append(context("Each invoice can be asked for again with `/xero export` once what was wrong is fixed"
                              + (f", or ask {user(view.decided_by)} about it." if view.decided_by else ".")))
    return message(title, blocks[:MAX_MESSAGE_BLOCKS])


def batch_reject_modal(view: BatchView, *, channel_id: str | None) -> dict:
    count = len(view.lines)
    what = "1 invoice" if count == 1 else f"all {count} invoices"
    listed = ", ".join(f"`{escape(line.reference)}`" for line in view.lines)
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK_ID,
        "private_metadata": json.dumps({"batch_id": view.batch_id, "channel_id": channel_id}),
        "title": plain("Reject export"),
        "submit": plain("Reject"),
        "close": plain("Cancel"),
        "blocks": [
            section(f"Reject the export of {what} of this batch? {listed}"),
            {
                "type": "input",
                "block_id": REJECT_REASON_BLOCK,
                "optional": True,
                "label": plain("Reason"),
                "hint": plain("Whoever asked for the export is told, with your reason."),
                "element": {"type": "plain_text_input", "action_id": REJECT_REASON_ACTION, "multiline": True,
                            "max_length": 500},
            },
        ],
    }


def batch_withdrawn(view: BatchView, error: str) -> dict:
    text = f"I could not post the approval request in the approval channel ({error})."
    return message(text, [section(f":warning: {escape(text)} Nothing was exported."), context(
        "Invite me to that channel (`/invite @Ledgerline`), or an admin can choose another with `/xero settings`, "
        "then ask again.")])


BATCH_REFUSALS = {
    "not_found": "This batch no longer exists.",
    "not_approver": "Only approvers can approve or reject exports.",
    "own_request": "You asked for this export, so someone else must approve it.",
    "already_handled": "This batch was already approved or rejected.",
    "not_admin": "Only a workspace admin can choose to export an invoice again to a second organisation.",
    "unknown_tenant": "That organisation is not one of the choices for this invoice.",
    "tenant_removed": "That organisation is no longer connected, so nothing was changed. Choose another one.",
    "held_by_rules": "Nothing was approved: each invoice left needs another approver under its approval rule "
                     "(the lines say who).",
    "line_changed": "That invoice changed meanwhile (another approver, or its client was linked): "
                    "look at the message again.",
}


def batch_click_refused(code: str) -> dict:
    text = BATCH_REFUSALS.get(code, "That did not work.")
    return message(text, [section(f":no_entry: {text}")])
